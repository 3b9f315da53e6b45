"""The embedded King James Bible and its chapter-level validation split."""

from __future__ import annotations

import pandas as pd
import pytest

from scaling_core.data.kjv import KJV_COLUMNS, load_kjv, split_by_chapter


@pytest.fixture(scope="module")
def kjv() -> pd.DataFrame:
    return load_kjv()


def test_load_kjv_has_every_verse_in_canonical_order(kjv):
    assert tuple(kjv.columns) == KJV_COLUMNS
    assert len(kjv) == 31_103
    assert kjv.loc[0, "citation"] == "Genesis 1:1"
    assert kjv.iloc[-1]["citation"] == "Revelation 22:21"
    assert kjv["text"].str.split().str.len().sum() == 789_634  # words stated by the data README
    # verses climb within each chapter
    steps = kjv.groupby(["book", "chapter"], sort=False)["verse"].diff().dropna()
    assert (steps == 1).all()


def chapters(df: pd.DataFrame) -> set[tuple[str, int]]:
    return set(zip(df["book"], df["chapter"]))


def test_split_by_chapter_holds_out_whole_chapters(kjv):
    train, val = split_by_chapter(kjv, val_fraction=0.05, seed=3)
    assert len(train) + len(val) == len(kjv)
    assert not chapters(train) & chapters(val)
    assert len(chapters(val)) == round(0.05 * 1189)  # the KJV has 1,189 chapters
    # each side keeps canonical order
    original_position = pd.Series(range(len(kjv)), index=kjv["citation"])
    assert original_position[val["citation"]].is_monotonic_increasing


def test_split_by_chapter_is_deterministic_per_seed(kjv):
    first = split_by_chapter(kjv, 0.1, seed=7)[1]
    again = split_by_chapter(kjv, 0.1, seed=7)[1]
    other = split_by_chapter(kjv, 0.1, seed=8)[1]
    pd.testing.assert_frame_equal(first, again)
    assert chapters(first) != chapters(other)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
def test_split_by_chapter_rejects_bad_fraction(kjv, fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        split_by_chapter(kjv, fraction, seed=0)
