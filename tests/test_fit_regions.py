"""Three-region and joint fits recover known parameters from seeded synthetic data.

Tolerances: 24 sizes over 6 decades, 2 % noise; exponent within 0.03, region boundaries
within 30 % (they are ratios of fitted scales raised to 1/beta, so their errors are
amplified); the bootstrap intervals must contain the truth.
"""

import numpy as np
import pytest

from scaling_core.fit import JointFit, ThreeRegionFit, joint_law, region_boundaries, three_region

TRUTH = {"best_guess": 0.9, "alpha": 5.0, "beta": -0.4, "gamma": 0.05}
SIZES = np.logspace(1, 7, 24)


def curve(seed, noise=0.02):
    rng = np.random.default_rng(seed)
    return three_region(SIZES, **TRUTH) * np.exp(noise * rng.standard_normal(len(SIZES)))


def test_three_region_recovers_parameters_and_boundaries():
    fit = ThreeRegionFit().fit(SIZES, curve(seed=0))
    small_end, irreducible = region_boundaries(**TRUTH)
    assert fit.beta_ == pytest.approx(TRUTH["beta"], abs=0.03)
    assert fit.best_guess_ == pytest.approx(TRUTH["best_guess"], rel=0.05)
    assert fit.gamma_ == pytest.approx(TRUTH["gamma"], rel=0.1)
    assert fit.small_data_end_ == pytest.approx(small_end, rel=0.3)
    assert fit.irreducible_start_ == pytest.approx(irreducible, rel=0.3)
    assert fit.irreducible_start_ci_[0] < fit.irreducible_start_ < fit.irreducible_start_ci_[1]
    assert list(fit.region_of([1.0, small_end * 3, irreducible * 10])) == ["small-data", "power-law", "irreducible"]


def test_three_region_with_given_best_guess_and_bootstrap():
    fit = ThreeRegionFit(best_guess=0.9).fit(SIZES, curve(seed=1)).bootstrap(n=200, seed=0)
    assert fit.param_names == ("alpha", "beta", "gamma") and fit.best_guess_ == 0.9
    small_end, _ = region_boundaries(**TRUTH)
    assert fit.small_data_end_ci_[0] < small_end < fit.small_data_end_ci_[1]
    assert fit.beta_ci_[0] < TRUTH["beta"] < fit.beta_ci_[1]


def test_three_region_rejects_best_guess_below_the_data():
    with pytest.raises(ValueError, match="best_guess"):
        ThreeRegionFit(best_guess=0.1).fit(SIZES, curve(seed=2))


def test_joint_fit_recovers_both_exponents():
    rng = np.random.default_rng(3)
    m, n = (g.ravel() for g in np.meshgrid(np.logspace(4, 8, 7), np.logspace(5, 9, 6)))
    eps = joint_law(m, n, 400.0, -0.3, 200.0, -0.35, 1.7) * np.exp(0.005 * rng.standard_normal(len(m)))
    fit = JointFit(max_starts=12).fit(m, n, eps)
    assert fit.beta_ == pytest.approx(-0.3, abs=0.03)
    assert fit.beta_n_ == pytest.approx(-0.35, abs=0.03)
    assert fit.gamma_ == pytest.approx(1.7, rel=0.02)
    assert np.allclose(fit.predict(m[:3], n[:3]), joint_law(m[:3], n[:3], fit.alpha_, fit.beta_,
                                                             fit.alpha_n_, fit.beta_n_, fit.gamma_))
