"""Power-law fits recover known parameters from seeded synthetic curves; bad input fails clearly.

Tolerances: 12 sizes over 2 orders of magnitude with 2 % log-normal noise give an exponent
standard error near 0.003, so the exponent must land within 0.01 of truth; the scale
within 5 %; a floor within 20 % (it is only weakly identified by 2 decades).
"""

import time

import numpy as np
import pytest

from scaling_core.fit import ModelSizeFit, PowerLawConstantFit, PowerLawFit, power_law, power_law_plus_constant

SIZES = np.logspace(2, 4, 12)


def noisy(curve, seed, noise=0.02):
    return curve * np.exp(noise * np.random.default_rng(seed).standard_normal(curve.shape))


def test_power_law_recovers_exponent_and_scale():
    fit = PowerLawFit().fit(SIZES, noisy(power_law(SIZES, 3.0, -0.3), seed=0))
    assert fit.beta_ == pytest.approx(-0.3, abs=0.01)
    assert fit.alpha_ == pytest.approx(3.0, rel=0.05)
    assert fit.beta_ci_[0] < fit.beta_ < fit.beta_ci_[1]
    assert fit.rel_rmse_ < 0.03 and fit.start_success_fraction_ == 1.0
    assert np.allclose(fit.predict(SIZES), power_law(SIZES, fit.alpha_, fit.beta_))


def test_huber_loss_resists_one_outlier():
    eps = noisy(power_law(SIZES, 3.0, -0.3), seed=1)
    eps[-1] *= 1.5  # the largest shard's run went wrong
    assert PowerLawFit().fit(SIZES, eps).beta_ == pytest.approx(-0.3, abs=0.01)
    assert abs(PowerLawFit(huber_delta=1e6).fit(SIZES, eps).beta_ + 0.3) > 0.02  # least squares is dragged


def test_power_law_plus_constant_recovers_floor():
    m = np.logspace(2, 6, 16)
    fit = PowerLawConstantFit().fit(m, noisy(power_law_plus_constant(m, 4.0, -0.4, 0.05), seed=2, noise=0.01))
    assert fit.beta_ == pytest.approx(-0.4, abs=0.03)
    assert fit.gamma_ == pytest.approx(0.05, rel=0.2)
    assert fit.gamma_ci_[0] < 0.05 < fit.gamma_ci_[1]


def test_bootstrap_interval_covers_truth_and_is_fast():
    fit = PowerLawFit().fit(SIZES, noisy(power_law(SIZES, 3.0, -0.3), seed=3))
    start = time.perf_counter()
    fit.bootstrap(n=1000, seed=0)
    assert time.perf_counter() - start < 5.0
    assert fit.ci_method_ == "bootstrap-studentized"
    low, high = fit.beta_ci_
    assert low < -0.3 < high and high - low < 0.03
    assert len(fit.bootstrap_samples_) == 1000 and fit.bootstrap_failures_ == 0


def test_bootstrap_is_repeatable_with_seed():
    fit = PowerLawFit().fit(SIZES, noisy(power_law(SIZES, 3.0, -0.3), seed=4))
    first = fit.bootstrap(n=100, seed=7).beta_ci_
    assert fit.bootstrap(n=100, seed=7).beta_ci_ == first
    assert fit.bootstrap(n=100, seed=8).beta_ci_ != first


def test_repeats_are_fitted_and_resampled_within_sizes():
    m = np.repeat(SIZES[:6], 4)
    repeats = np.tile(np.arange(4), 6)
    fit = PowerLawFit().fit(m, noisy(power_law(m, 2.0, -0.5), seed=5), repeats=repeats)
    assert fit.beta_ == pytest.approx(-0.5, abs=0.02)
    fit.bootstrap(n=200, seed=0)
    assert fit.beta_ci_[0] < -0.5 < fit.beta_ci_[1]


def test_model_size_law_names_its_parameters():
    fit = ModelSizeFit().fit(SIZES, noisy(power_law(SIZES, 50.0, 0.7), seed=6))
    assert fit.beta_p_ == pytest.approx(0.7, abs=0.01)
    assert "beta_p" in fit.report() and fit.to_row()["beta_p"] == fit.beta_p_


def test_report_and_row_carry_every_quantity():
    fit = PowerLawConstantFit().fit(SIZES, noisy(power_law_plus_constant(SIZES, 3.0, -0.3, 0.1), seed=7))
    row = fit.to_row()
    for name in ("alpha", "beta", "gamma"):
        assert {name, f"{name}_se", f"{name}_ci_low", f"{name}_ci_high"} <= set(row)
    assert "relative RMSE" in fit.report() and "starts reached the optimum" in fit.report()


@pytest.mark.parametrize("m, eps, kwargs, message", [
    ([1, 2, np.nan], [1, 1, 1], {}, "m contains NaN"),
    ([1, 2, 3], [1, np.inf, 1], {}, "eps contains NaN or inf"),
    ([1, 0, 3], [1, 1, 1], {}, "m must be > 0"),
    ([1, 2, 3], [1, -1, 1], {}, "eps must be > 0"),
    ([1, 2, 3], [1, 1], {}, "lengths must match"),
    ([1], [1], {}, "at least 2 distinct sizes"),
    ([1, 1, 2], [1, 1, 1], {}, "pass repeats="),
    ([1, 1, 2], [1, 1, 1], {"repeats": [0, 0, 0]}, "same label"),
    ([1, 2, 3], [1, 1, 1], {"weights": [1, -1, 1]}, "weights must be >= 0"),
])
def test_bad_input_is_a_clear_value_error(m, eps, kwargs, message):
    with pytest.raises(ValueError, match=message):
        PowerLawFit().fit(m, eps, **kwargs)


def test_unfitted_and_bad_options_fail_clearly():
    with pytest.raises(ValueError, match="not fitted"):
        PowerLawFit().predict([1.0])
    with pytest.raises(ValueError, match="huber_delta"):
        PowerLawFit(huber_delta=0)
    fit = PowerLawFit().fit(SIZES, power_law(SIZES, 1.0, -0.2))
    with pytest.raises(ValueError, match="method must be one of"):
        fit.bootstrap(n=100, method="bca")
    with pytest.raises(ValueError, match="must be finite and > 0"):
        fit.predict([-1.0])
