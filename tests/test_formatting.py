"""One number formatter for the book's tables and glued values, and the display tables built on it."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from scaling_core import formatting
from scaling_core.experiments import char_lm, implications, predictability, projections, speech, table1
from scaling_core.experiments.verdicts import SizeVerdict, Verdict
from scaling_core.notebook import formatted, plain

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
E_NOTATION = re.compile(r"\d[eE][+-]?\d")


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("value,text", [
    (1024.0, "1,024"), (np.float64(128004.0), "128,004"), (0.3983059424939637, "0.398"), (-1.101, "-1.10"),
    (-0.5, "-0.500"), (9.996, "10.0"), (0.09996, "0.100"), (999.6, "1,000"), (0, "0"), (7, "7"),
    (np.nan, "–"), (None, "–"), (True, "yes"), (float("inf"), "∞"), (0.000946, "0.000946"),
])
def test_number_has_fixed_significant_digits_and_integers_for_whole_values(value, text):
    assert formatting.number(value) == text


@pytest.mark.parametrize("value", [8.377227e+92, 4.246564e+89, 1e-12, 6.1e15])
def test_no_e_notation_even_for_extreme_values(value):
    text = formatting.number(value)
    assert not E_NOTATION.search(text) and "× 10" in text


def test_counts_intervals_and_multiples():
    assert formatting.count(1024.0) == "1,024" and formatting.count(np.int64(20000)) == "20,000"
    assert formatting.interval(-0.701, -0.542) == "-0.701 to -0.542"
    assert formatting.estimate(-0.625, -0.701, -0.542) == "-0.625 (-0.701 to -0.542)"
    assert formatting.estimate(np.nan, np.nan, np.nan) == "not fitted"
    assert formatting.estimate(2.97e8, 1.52e8, 1.15e9) == "2.97 × 10⁸ (1.52 × 10⁸ to 1.15 × 10⁹)"  # one style
    assert formatting.multiple(1.19e4) == "> 1,000x the largest shard"
    assert formatting.multiple(0.537) == "already met" and formatting.multiple(3.214) == "3.21x"


def test_a_boundary_far_outside_the_data_is_beyond_the_measured_range():
    assert formatting.beyond(8.377227e92, 8_000, 128_000, unit="words") == formatting.BEYOND
    assert formatting.beyond(4.246564e89, 24, 720, unit="s") == formatting.BEYOND
    assert formatting.beyond(1e-5, 10, 1000) == formatting.BEYOND and formatting.beyond(np.inf, 10, 1000) == formatting.BEYOND
    assert formatting.beyond(35.006, 10, 10_240, unit="images") == "35 images"


def test_an_exception_becomes_a_short_reason_not_its_text():
    error = ValueError("eps must be > 0; got np.float64(-3.2e-05)")
    assert "eps" not in formatting.reason(error) and formatting.reason(error).startswith("the fit")
    assert "eps" not in formatting.cell(error)
    long = "not enough points: " + "many words " * 20
    assert len(formatting.reason(long)) <= 82 and formatting.reason(long).endswith("…")


def test_glue_formats_sizes_as_the_prose_reads_them():
    assert plain(np.float64(1024.0)) == 1024 and isinstance(plain(1024.0), int)  # not "1024.0" in the prose
    assert plain(np.float64(0.5)) == 0.5
    assert formatted(np.float64(1024.0), "count") == "1,024" and formatted(1.19e4, "multiple").startswith("> 1,000x")
    with pytest.raises(ValueError, match="kind"):
        formatted(1, "size")


# ----------------------------------------------------------------------------- display


def _html(table) -> str:
    return table._repr_html_()


def test_display_hides_the_index_and_formats_every_column_by_kind():
    frame = pd.DataFrame({"shard": [0, 1], "images": [10.0, 1024.0], "beta": [-1.101, np.nan], "ok": [True, False]})
    table = formatting.display(frame)
    html = _html(table)
    assert "1,024" in html and "1024.0" not in html and "-1.10" in html and "–" in html and ">yes<" in html
    assert html.count("<th>") == 4  # one header per column, none for an index
    assert "<tbody>\n    <tr>\n      <th>" not in html
    assert "1024.0" not in repr(table)
    exponent = formatting.display(pd.DataFrame({"beta_p": [0.0, np.nan]}))  # a measured zero is not a count
    assert exponent["beta_p"].iloc[0] == "0"  # zero has no significant digits ...
    assert formatting.column_kind(pd.Series([0.0, 2.0], name="beta_p")) == "number"  # ... but the column is measured


def test_display_never_shows_a_raw_dict():
    frame = pd.DataFrame({"fit": ["fair coin"], "parameters": [{"alpha": 0.3983059424939637, "beta": -0.49985180528689294}]})
    html = _html(formatting.display(frame))
    assert "{" not in html and "'alpha'" not in html and "alpha = 0.398, beta = -0.500" in html


def test_display_of_an_exception_cell_shows_a_reason():
    frame = pd.DataFrame({"curve": ["a"], "note": [ValueError("eps must be > 0; got np.float64(-3)")]})
    assert "eps" not in _html(formatting.display(frame))


def test_an_empty_table_is_one_sentence():
    table = formatting.display(pd.DataFrame(columns=["chapter", "curve", "reason"]),
                               empty="No curve has enough shards for a fit.")
    assert _html(table) == '<p class="scaling-table-empty">No curve has enough shards for a fit.</p>'
    assert repr(table) == "No curve has enough shards for a fit." and "<table" not in _html(table)


def test_a_wide_table_scrolls_instead_of_being_cut():
    frame = pd.DataFrame({f"a rather long column name {i}": [1.5] for i in range(20)})
    assert "overflow-x: auto" in _html(formatting.display(frame))


def test_intervals_merge_and_long_tables_say_what_they_leave_out():
    frame = pd.DataFrame({"curve": ["a", "b"], "beta_g": [-0.5, np.nan], "beta_g_low": [-0.6, np.nan],
                          "beta_g_high": [-0.4, np.nan]})
    shown = formatting.display(frame)
    assert list(shown.columns) == ["curve", "beta_g (95 % interval)"]
    assert list(shown["beta_g (95 % interval)"]) == ["-0.500 (-0.600 to -0.400)", "not fitted"]
    long = formatting.display(pd.DataFrame({"x": range(50)}), max_rows=10)
    assert len(long) == 10 and "40 more rows not shown." in _html(long)


def test_display_fits_reads_every_spelling_of_table1():
    frame = pd.DataFrame([{"model": "DS2", "paper beta_g": -0.299, "our beta_g": -0.265, "95% low": -0.368,
                           "95% high": -0.166, "verdict": "starved: 2 of 3 winners stopped by a cap", "agrees": False}])
    shown = formatting.display_fits(frame)
    assert list(shown.columns) == ["model", "beta_g (95 % interval)", "paper beta_g", "verdict", "agrees"]
    assert shown["beta_g (95 % interval)"].iloc[0] == "-0.265 (-0.368 to -0.166)"


# ----------------------------------------------------------------------------- the chapters' display tables


def test_region_table_shows_far_boundaries_as_beyond_the_measured_range_and_no_error_text():
    regions = pd.DataFrame([
        {"curve": "words", "unit": "words", "note": "", "min_units": 8013.0, "max_units": 128028.0,
         "best_guess": 5.76, "beta": -0.104, "gamma": 1.0, "small_data_end": 35.2, "irreducible_start": 8.377227e92,
         "shards_small-data": 1, "shards_power-law": 4, "shards_irreducible": 0},
        {"curve": "top-5", "unit": "images", "min_units": 10.0, "max_units": 10240.0,
         "note": "not fitted: 4 shard(s) with an error of zero, which a fit in log scale cannot use"}])
    html = _html(implications.region_display(regions))
    assert formatting.BEYOND in html and not E_NOTATION.search(html) and "nan" not in html.lower()
    assert "1 / 4 / 0" in html and "error of zero" in html


def test_a_failed_three_region_fit_gives_a_reason_not_the_exception():
    best = pd.DataFrame({"shard_units": [10.0, 20, 40, 80, 160, 320], "err": [0.3, 0.2, 0.1, 0.0, 0.0, 0.0]})
    curve = SimpleNamespace(name="toy", best=best, metric="err", row={"best_guess": 0.5})
    fit, note = implications.three_region_fit(curve)
    assert fit is None and note.startswith("not fitted: 3 shard(s) with an error of zero")
    assert "eps" not in note and "np.float64" not in note


def test_rank_table_lists_only_the_pairs_with_a_correlation_and_counts_the_rest():
    ranks = pd.DataFrame({"shard_units": [2007.0, 4025.0, 16016.0, 32000.0], "largest_units": [128004.0] * 4,
                          "models": [2, 2, 3, 3], "family_order_holds": [None, None, True, True],
                          "spearman": [np.nan, np.nan, 1.0, 0.5], "kendall": [np.nan, np.nan, 1.0, 0.333],
                          "best_holds": [np.nan, np.nan, True, False], "chapter": "nmt", "metric": "val_error"})
    shown = predictability.ranking_display(ranks, min_models=3)
    assert len(shown) == 2 and "nan" not in _html(shown).lower()
    assert "2 of 4 shard pairs share fewer than 3 models" in shown.note
    none = predictability.ranking_display(ranks.iloc[:2], min_models=3)
    assert len(none) == 0 and _html(none).startswith('<p class="scaling-table-empty">No shard pair shares 3 models')


def test_a_multiple_below_one_says_the_target_is_already_met():
    sentence = implications.multiple_sentence([0.537, 2.1, 45.0, 1.19e4])
    assert "already met" in sentence and "0.537" not in sentence and not E_NOTATION.search(sentence)
    assert "between 2.10 and 45.0" in sentence and "more than 1,000 times" in sentence
    numbers = implications.projection_numbers(pd.DataFrame({"curve": ["a", "b"], "quantity": "data_multiple",
                                                            "median": [0.537, 1.19e4]}))
    assert "already met" in numbers["multiple_sentence"] and "beyond the measured range" in numbers["multiple_sentence"]


def test_projection_table_reads_far_projections_as_beyond_the_data():
    rows = []
    for curve, multiple, spread in (("far", 1.19e4, 2), ("met", 0.5, 2), ("near", 3.0, 2), ("wide", 4.15, 1e40)):
        for quantity, value in (("data", multiple * 1e5), ("data_multiple", multiple), ("params", 2e5),
                                ("compute", 3e15), ("hours", 0.5)):
            rows.append({"curve": curve, "quantity": quantity, "unit": "words", "target_error": 4.2,
                         "low": value / spread, "median": value, "high": value * spread})
    shown = projections.projection_display(pd.DataFrame(rows), ["lost: lost: no fitted learning curve to project"])
    html = _html(shown)
    assert "&gt; 1,000x the largest shard" in html and "already met" in html and formatting.BEYOND in html
    assert not E_NOTATION.search(html) and "Not projected: lost (no fitted learning curve to project)." in html
    assert shown["data"].iloc[2] == "300,000 words (150,000 to 600,000)"
    assert shown["data"].iloc[3] == "415,000 words (interval beyond the measured range)" and "10⁴⁰" not in html
    assert _html(projections.projection_display(None, [])).startswith('<p class="scaling-table-empty">')


def test_table1_display_has_no_index_and_reads_not_fitted():
    table = pd.DataFrame([{"domain": "Toy", "model": "LSTM", "optimizer": "adam", "metric": "val_loss",
                           "unit": "words", "beta_g": np.nan, "beta_g_low": np.nan, "beta_g_high": np.nan,
                           "paper_beta_g": -0.066, "beta_p": np.nan, "beta_p_low": np.nan, "beta_p_high": np.nan,
                           "paper_beta_p": None, "min_units": np.nan, "max_units": np.nan, "decades": np.nan,
                           "min_params": 1024.0, "max_params": 532660.0, "verdict_text": "", "trials": 12}])
    shown = table1.display_table(table)
    assert shown["our beta_g (95 % interval)"].iloc[0] == "not fitted"
    assert shown["parameters of the winners"].iloc[0] == "1,024 to 532,660"
    assert shown["paper beta_p"].iloc[0] == "–" and "<tbody>\n    <tr>\n      <th>" not in _html(shown)


def test_plateau_onsets_far_past_the_data_are_not_numbers():
    onsets = pd.DataFrame({"width": [16, 32], "params": [43189, 72021], "beta": [-2.6, -1.4], "floor_cer": [0.71, 0.59],
                           "onset_seconds": [62.5, 4.246564e89], "largest_shard": [720.4, 720.4],
                           "verdict": ["measured", "measured"], "params_ratio": [np.nan, 1.67],
                           "onset_ratio": [np.nan, 6.8e87], "onset_in_data": [True, False]})
    html = _html(speech.plateau_display(onsets))
    assert formatting.BEYOND in html and "<td>62</td>" in html and "10⁸⁷" not in html and "nan" not in html.lower()


# ----------------------------------------------------------------------------- prose


def test_no_chapter_refers_to_a_fitting_chapter():
    assert not [p.name for p in CHAPTERS.glob("*.md") if "fitting chapter" in p.read_text()]


def _verdict(kind, **fields):
    base = dict(decades=1.2, points=5, start=1e4, end=2.5e5, winners=6, judged=4, capped=4, improving=0,
                improving_known=0, below_baseline=4, baseline_name="trigram")
    return Verdict(kind, **{**base, **fields})


def test_char_lm_compares_the_optimizers_in_one_sentence():
    judged = {"sgd": _verdict("no learning", below_baseline=0), "adam": _verdict("starved")}
    sentence = char_lm.verdict_comparison(judged)
    assert sentence.startswith("Neither curve measures a power law here") and sentence.count("does not measure") == 0
    assert "SGD" in sentence and "Adam" in sentence and sentence.count(".") >= 1
    assert "the SGD winners do not learn below the baseline" in sentence and "the Adam search is starved" in sentence
    measured = char_lm.verdict_comparison({"sgd": _verdict("starved"), "adam": _verdict("measured", capped=0)})
    assert measured.startswith("Only the Adam curve measures a power law") and "the SGD search is starved" in measured
    sizes = {o: SizeVerdict("not measured", 0.0, 0.0, 0.0, 0, 5, "starved") for o in ("adam", "sgd")}
    assert char_lm.size_comparison(sizes).startswith("neither optimizer's model-size curve is a measurement")


def test_char_lm_flattening_is_one_comparison():
    rows = pd.DataFrame({"shard_units": [8045.0, 16017, 32062, 64031, 128044, 256033]})
    winners = {"sgd": rows.assign(val_loss=[2.9, 2.6, 2.38, 2.39, 2.41, 2.37]),
               "adam": rows.assign(val_loss=[2.6, 2.0, 1.76, 1.75, 1.77, 1.739])}
    judged = {"sgd": _verdict("no learning"), "adam": _verdict("starved")}
    sentence = char_lm.flattening_comparison(winners, judged)
    assert sentence.count("Over the last 3 doublings") == 1 and "with Adam" in sentence and "with SGD" in sentence
    assert "Both curves have flattened" in sentence


def test_a_counted_noun_is_plural_unless_one():
    assert formatting.counted(1, "bidirectional LSTM layer") == "1 bidirectional LSTM layer"
    assert formatting.counted(2, "layer") == "2 layers" and formatting.counted(0, "layer") == "0 layers"
