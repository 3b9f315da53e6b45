"""Verdicts from the data: a measured power law, a starved curve, a short one, no learning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scaling_core.experiments import curves, verdicts
from scaling_core.fit import ThreeRegionFit
from scaling_core.fit.forms import three_region
from scaling_core.sweep.records import infer_stop_reasons
from scaling_core.sweep.trainer import TrainerSettings


def _trials(units, values, stop_reason="early_stop", improving=0):
    n = len(units)
    reasons = stop_reason if isinstance(stop_reason, list) else [stop_reason] * n
    flags = improving if isinstance(improving, list) else [improving] * n
    return pd.DataFrame({
        "key": [f"k{i}" for i in range(n)], "shard": range(n), "shard_units": units, "family": "mlp",
        "size": 8.0, "num_params": 100, "status": "done", "val_error": values,
        "stop_reason": reasons, "improving": flags,
    })


UNITS = 100.0 * 2.0 ** np.arange(10)  # 2.7 decades


def test_a_clean_power_law_with_a_floor_is_measured_up_to_the_floor():
    alpha, beta, gamma = 3.0, -0.5, 0.02
    values = three_region(UNITS, 0.9, alpha, beta, gamma)
    regions = ThreeRegionFit(best_guess=0.9).fit(UNITS, values)
    best, verdict = curves.judged_winners(_trials(UNITS, values), "val_error",
                                          irreducible_start=regions.irreducible_start_)
    assert regions.irreducible_start_ == pytest.approx((gamma / alpha) ** (1 / beta), rel=0.05)
    inside = UNITS[best["in_fit"]]
    assert inside.max() < regions.irreducible_start_ and inside.min() == UNITS[0]
    assert verdict.kind == "measured" and verdict.measured
    assert verdict.decades == pytest.approx(np.log10(inside.max() / inside.min()))
    assert verdict.decades >= 1.0 and verdict.text.startswith("power law measured over")


def test_a_pure_power_law_spans_every_shard():
    _, verdict = curves.judged_winners(_trials(UNITS, 2.0 * UNITS**-0.3), "val_error")
    assert verdict.kind == "measured" and verdict.points == 10
    assert verdict.decades == pytest.approx(np.log10(UNITS[-1] / UNITS[0]))


def test_capped_winners_that_still_improve_are_starved_and_claim_no_power_law():
    trials = _trials(UNITS, 2.0 * UNITS**-0.3, stop_reason=["early_stop"] * 4 + ["max_steps"] * 6,
                     improving=[0] * 4 + [1] * 6)
    _, verdict = curves.judged_winners(trials, "val_error")
    assert verdict.kind == "starved" and not verdict.measured
    assert (verdict.capped, verdict.judged, verdict.improving) == (6, 10, 6)
    assert verdict.capped_share == pytest.approx(0.6)
    assert "6 of 10 winners stopped by a cap, 6 of 10 still improving" in verdict.text


def test_a_single_capped_winner_in_twenty_is_tolerated_but_two_are_not():
    units = 10.0 * 2.0 ** np.arange(20)
    one = _trials(units, units**-0.2, stop_reason=["max_epochs"] + ["early_stop"] * 19)
    two = _trials(units, units**-0.2, stop_reason=["max_epochs"] * 2 + ["early_stop"] * 18)
    assert curves.judged_winners(one, "val_error")[1].kind == "measured"  # 5 % is allowed
    assert curves.judged_winners(two, "val_error")[1].kind == "starved"


def test_a_bent_curve_gets_its_longest_straight_stretch_and_a_short_one_is_too_short():
    values = np.r_[0.9, 0.88, 0.87, 0.5, 0.25, 0.12, 0.011, 0.0105, 0.0103, 0.0102]  # cliffs, no law
    best, verdict = curves.judged_winners(_trials(UNITS, values), "val_error")
    assert verdict.kind == "too short" and verdict.decades < 1.0
    assert "too short" in verdict.text
    assert not best["region"].eq(verdicts.FITTED).all()


def test_a_curve_at_its_baseline_is_no_learning():
    values = 2.0 * UNITS**-0.01
    baseline = pd.DataFrame({"shard": range(10), "shard_units": UNITS, "baseline": "unigram",
                             "metric": "val_error", "value": values * 1.01})
    best, verdict = curves.judged_winners(_trials(UNITS, values), "val_error", baselines=baseline)
    assert verdict.kind == "no learning" and verdict.below_baseline == 0
    assert (best["region"] == verdicts.AT_BASELINE).all()
    assert "unigram" in verdict.text


def test_the_best_baseline_bars_and_only_shards_clearly_below_it_count():
    values = 2.0 * UNITS**-0.3
    baseline = pd.concat([
        pd.DataFrame({"shard": range(10), "shard_units": UNITS, "baseline": "unigram", "metric": "val_error",
                      "value": np.full(10, 5.0)}),
        pd.DataFrame({"shard": range(10), "shard_units": UNITS, "baseline": "bigram", "metric": "val_error",
                      "value": np.r_[values[:3] * 0.99, values[3:] * 3]}),  # better than the model on 3 shards
    ])
    best, verdict = curves.judged_winners(_trials(UNITS, values), "val_error", baselines=baseline)
    assert best["below_baseline"].tolist() == [False] * 3 + [True] * 7
    assert verdict.kind == "measured" and verdict.points == 7 and verdict.start == UNITS[3]
    assert verdict.baseline_name == "bigram"


def test_stop_reasons_of_older_trials_are_inferred_from_the_caps():
    frame = pd.DataFrame({"status": ["done", "done", "done", "failed", "done"],
                          "steps": [100, 40, 30, 5, 7], "epochs": [2.0, 10.0, 3.0, 0.1, 1.0],
                          "stop_reason": [None, None, None, None, "time_budget"]})
    filled = infer_stop_reasons(frame, TrainerSettings(max_steps=100, max_epochs=10))
    assert filled["stop_reason"].tolist() == ["max_steps", "max_epochs", "early_stop", "error", "time_budget"]
    assert filled["stop_reason_inferred"].tolist() == [True] * 4 + [False]


class _SizeFit:
    def __init__(self, beta_p, low, high):
        self.beta_p_, self.beta_p_ci_ = beta_p, (low, high)


def test_a_model_size_claim_needs_a_measured_curve_an_interval_inside_zero_one_and_no_pinned_winners():
    trials = _trials(UNITS, 2.0 * UNITS**-0.3).assign(num_params=np.round(10 * UNITS**0.6))
    best, measured = curves.judged_winners(trials, "val_error")
    assert verdicts.judge_model_size(best, _SizeFit(0.6, 0.5, 0.7), measured).kind == "sublinear"
    assert verdicts.judge_model_size(best, _SizeFit(0.9, 0.6, 1.2), measured).kind == "linear or faster"
    assert verdicts.judge_model_size(best, _SizeFit(0.3, -0.2, 0.8), measured).kind == "not growing"
    smaller = trials.assign(key=trials["key"] + "s", num_params=trials["num_params"] // 2)
    larger = smaller.assign(key=trials["key"] + "l", num_params=trials["num_params"] * 2,
                            val_error=trials["val_error"] * 1.1)
    inside = verdicts.judge_model_size(best, _SizeFit(0.6, 0.5, 0.7), measured,
                                       trials=pd.concat([trials, smaller, larger]))
    assert inside.kind == "sublinear" and inside.sublinear and inside.pinned == 0
    on_top = pd.concat([trials, smaller, larger[larger["shard"] < 8]])  # the two largest shards tried nothing larger
    pinned = verdicts.judge_model_size(best, _SizeFit(0.6, 0.5, 0.7), measured, trials=on_top)
    assert pinned.kind == "pinned" and pinned.pinned == 2 and "2 of 10" in pinned.text
    assert "the largest model their shard tried" in pinned.text
    starved = _trials(UNITS, 2.0 * UNITS**-0.3, stop_reason="max_steps").assign(num_params=100)
    best, verdict = curves.judged_winners(starved, "val_error")
    size = verdicts.judge_model_size(best, _SizeFit(0.6, 0.5, 0.7), verdict)
    assert size.kind == "not measured" and not size.sublinear and "starved" in size.text


def test_a_winner_at_the_grids_cap_is_pinned_even_where_its_shard_tried_one_size():
    trials = _trials(UNITS, 2.0 * UNITS**-0.3).assign(num_params=np.minimum(np.round(10 * UNITS**0.6), 2500))
    capped = trials["num_params"] >= 2500  # the projected candidates all clipped to the cap: one size tried
    others = [trials.assign(key=trials["key"] + tag, num_params=trials["num_params"] * factor,
                            val_error=trials["val_error"] * 1.1)[~capped] for tag, factor in (("s", 0.5), ("l", 2))]
    searched = pd.concat([trials, *others])
    best, measured = curves.judged_winners(searched, "val_error")
    pinned = verdicts.pinned_winners(best, searched)
    assert capped.sum() >= 2 and pinned.tolist() == capped.tolist()
    assert verdicts.judge_model_size(best, _SizeFit(0.6, 0.5, 0.7), measured, trials=searched).kind == "pinned"
    fixed = _trials(UNITS, 2.0 * UNITS**-0.3)  # one size on every shard: a fixed-size sweep pins nothing
    assert not verdicts.pinned_winners(curves.judged_winners(fixed, "val_error")[0], fixed).any()
