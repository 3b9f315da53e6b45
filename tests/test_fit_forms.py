"""Functional forms: formulas, limits of the three-region curve, the joint law as Chinchilla's."""

import numpy as np
import pytest

from scaling_core.fit import (
    broken_power_law,
    joint_law,
    model_size_law,
    power_law,
    power_law_plus_constant,
    region_boundaries,
    three_region,
)


def test_power_law_and_constant_follow_their_formulas():
    m = np.array([1.0, 10.0, 100.0])
    assert np.allclose(power_law(m, 2.0, -0.5), [2.0, 2.0 / np.sqrt(10), 0.2])
    assert np.allclose(power_law_plus_constant(m, 2.0, -0.5, 0.1), power_law(m, 2.0, -0.5) + 0.1)
    assert np.allclose(model_size_law(m, 3.0, 0.7), 3.0 * m**0.7)


def test_three_region_has_plateau_power_law_and_floor():
    best_guess, alpha, beta, gamma = 0.9, 5.0, -0.5, 0.01
    small_end, irreducible = region_boundaries(best_guess, alpha, beta, gamma)
    assert np.isclose(power_law(small_end, alpha, beta), best_guess)
    assert np.isclose(power_law(irreducible, alpha, beta), gamma)
    assert np.isclose(three_region(1e-6, best_guess, alpha, beta, gamma), best_guess, rtol=1e-3)
    middle = np.sqrt(small_end * irreducible)  # deep in the power-law region
    assert np.isclose(three_region(middle, best_guess, alpha, beta, gamma),
                      power_law(middle, alpha, beta) + gamma, rtol=0.02)
    assert np.isclose(three_region(1e14, best_guess, alpha, beta, gamma), gamma, rtol=1e-3)
    assert np.all(np.diff(three_region(np.logspace(0, 8, 50), best_guess, alpha, beta, gamma)) < 0)


def test_joint_law_is_chinchilla_form():
    n_params, tokens = 1e9, 2e10
    e, a, b, alpha, beta = 1.69, 406.4, 410.7, 0.34, 0.28
    expected = e + a / n_params**alpha + b / tokens**beta
    assert np.isclose(joint_law(tokens, n_params, b, -beta, a, -alpha, e), expected)


def test_broken_power_law_slopes_change_at_the_break():
    m = np.array([1e0, 1e1, 1e5, 1e6])
    eps = broken_power_law(m, 0.0, 1.0, 0.2, 1e3, 0.3, 0.1)
    early, late = np.diff(np.log(eps[:2])) / np.log(10), np.diff(np.log(eps[2:])) / np.log(10)
    assert early == pytest.approx(-0.2, abs=1e-3) and late == pytest.approx(-0.5, abs=1e-3)
