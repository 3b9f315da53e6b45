"""Extrapolation scoreboard, baselines and interval coverage on seeded synthetic curves."""

import numpy as np
import pytest

from scaling_core.fit import (
    BrokenPowerLawFit,
    LastValue,
    M3Fit,
    M4Fit,
    PowerLawFit,
    ValidatedExtrapolator,
    extrapolation_scoreboard,
    holdout_error,
    interval_coverage,
    power_law,
    power_law_plus_constant,
    scoreboard_summary,
)

SIZES = np.logspace(2, 5, 10)


def synthetic_curves(n_curves=3, seed=0):
    rng = np.random.default_rng(seed)
    return {f"synthetic/{k}": {"m": SIZES, "eps": power_law_plus_constant(SIZES, 5.0, -0.35 - 0.05 * k, 0.02)
                               * np.exp(0.01 * rng.standard_normal(len(SIZES))), "repeats": None}
            for k in range(n_curves)}


def test_scoreboard_is_tidy_and_ours_beats_last_value():
    estimators = {"ours": ValidatedExtrapolator, "last value": LastValue}
    table = extrapolation_scoreboard(synthetic_curves(2), horizons=(1, 2), estimators=estimators)
    assert list(table.columns) == ["curve", "horizon", "estimator", "m", "observed", "predicted", "log_error", "status"]
    assert len(table) == 2 * (1 + 2) * 2 and (table["status"] == "ok").all()
    means = table.groupby("estimator")["log_error"].mean()
    assert means["ours"] < means["last value"] / 3
    summary = scoreboard_summary(table)
    assert set(summary.index) == {"synthetic", "all"}


def test_baselines_fit_a_saturating_curve():
    curve = synthetic_curves(1)["synthetic/0"]
    for make in (M3Fit, M4Fit, BrokenPowerLawFit):
        held_out = holdout_error(make, curve["m"], curve["eps"], horizon=1)
        assert held_out["log_error"].iloc[0] < 0.1, make.__name__


def test_failed_estimator_is_reported_not_raised():
    curves = {"short": {"m": np.array([1.0, 2.0, 4.0]), "eps": np.array([1.0, 0.8, 0.7])}}
    table = extrapolation_scoreboard(curves, estimators={"M4": M4Fit})
    assert table["log_error"].isna().all() and "distinct sizes" in table["status"].iloc[0]


def test_horizon_must_leave_training_points():
    curve = synthetic_curves(1)["synthetic/0"]
    with pytest.raises(ValueError, match="horizon"):
        holdout_error(LastValue, curve["m"], curve["eps"], horizon=10)


def test_asymptotic_interval_coverage_is_near_nominal():
    """200 simulated curves: the t interval of the exponent should cover about 95 % (SE 1.5 %)."""
    table = interval_coverage(lambda: PowerLawFit(max_starts=1), power_law, {"alpha": 3.0, "beta": -0.3}, np.logspace(2, 4, 12),
                              noise=0.02, n_curves=200, n_boot=0, seed=0)
    coverage = table.loc[table["param"] == "beta", "covered"].mean()
    assert 0.9 <= coverage <= 0.99
    assert table.loc[table["param"] == "beta", "error"].abs().mean() < 0.01
