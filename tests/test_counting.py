"""The counting model: exact sums, closed forms, Monte Carlo, the step, exponents and the noisy-label toy."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest

from scaling_core import counting
from scaling_core.experiments import counting as experiment
from scaling_core.profiles import ParameterError


def brute_force(m: int, p: Fraction, loss: str) -> Fraction:
    """Exact rational expected loss by summing all m + 1 outcomes (l1 and l2 only)."""
    power = 1 if loss == "l1" else 2
    return sum(comb(m, k) * p**k * (1 - p) ** (m - k) * abs(Fraction(k, m) - p) ** power for k in range(m + 1))


def test_fair_coin_l1_at_100_matches_reference_value():
    assert counting.expected_loss(100, 0.5, "l1") == pytest.approx(0.0397946, abs=5e-8)


@pytest.mark.parametrize("p", [Fraction(1, 2), Fraction(3, 10), Fraction(1, 20)])
@pytest.mark.parametrize("loss", ["l1", "l2"])
def test_exact_sum_equals_rational_brute_force(p, loss):
    sizes = [1, 2, 3, 7, 20, 41]
    expected = [float(brute_force(m, p, loss)) for m in sizes]
    np.testing.assert_allclose(counting.expected_loss(sizes, float(p), loss), expected, rtol=1e-12)


@pytest.mark.parametrize("p", [0.5, 0.3, 0.05, 0.001])
def test_de_moivre_closed_form_equals_exact_sum(p):
    sizes = np.array([1, 2, 3, 10, 99, 1000, 123_457, 10**6])
    np.testing.assert_allclose(counting.closed_form_l1(sizes, p), counting.expected_loss(sizes, p, "l1"), rtol=1e-10)


@pytest.mark.parametrize("p", [0.5, 0.2, 0.01])
def test_l2_is_exactly_variance_over_m(p):
    sizes = np.array([1, 5, 100, 10**4, 10**6])
    np.testing.assert_allclose(counting.expected_loss(sizes, p, "l2"), p * (1 - p) / sizes, rtol=1e-10)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_certain_coin_has_zero_l1_and_l2(p):
    assert counting.expected_loss(50, p, "l1") == 0.0
    assert counting.expected_loss(50, p, "l2") == 0.0


@pytest.mark.parametrize("m, p, loss", [(1, 0.5, "l1"), (10, 0.5, "l1"), (1000, 0.2, "l1"),
                                        (37, 0.05, "l2"), (200, 0.3, "kl"), (10**6, 0.5, "l1")])
def test_monte_carlo_agrees_within_standard_errors(m, p, loss):
    estimate = counting.monte_carlo_loss(m, p, loss, draws=20_000, seed=1)
    exact = counting.expected_loss(m, p, loss)
    assert abs(estimate.mean - exact) <= 4 * estimate.stderr + 1e-15


def test_monte_carlo_is_seeded_and_its_error_shrinks_with_draws():
    first, again = (counting.monte_carlo_loss(100, 0.5, "l1", 5_000, seed=7) for _ in range(2))
    assert first == again
    assert counting.monte_carlo_loss(100, 0.5, "l1", 5_000, seed=8).mean != first.mean
    larger = counting.monte_carlo_loss(100, 0.5, "l1", 80_000, seed=7)
    assert larger.stderr / first.stderr == pytest.approx(0.25, rel=0.05)


def test_fair_coin_asymptote_ratio_is_one_minus_quarter_over_m():
    # binom(2j, j) / 4**j = (pi j)**-0.5 (1 - 1/(8j) + O(j**-2)), so at even m the ratio is 1 - 1/(4m) + O(m**-2).
    for m in (10**4, 10**6):
        ratio = counting.expected_loss(m) / counting.asymptote(m)
        assert (ratio - 1) * 4 * m == pytest.approx(-1.0, abs=10 / m)


@pytest.mark.parametrize("p", [0.3, 0.05])
def test_asymptote_ratio_tends_to_one_for_unfair_coins(p):
    # The lattice correction to the normal approximation of E|k - mp| is O(1 / (m p (1-p))).
    gaps = [abs(counting.expected_loss(m, p) / counting.asymptote(m, p) - 1) for m in (10**3, 10**6)]
    assert gaps[1] < 1 / (10**6 * p * (1 - p))
    assert gaps[1] < gaps[0] / 100


def test_smoothed_kl_tends_to_one_over_two_m():
    assert 2 * 10**6 * counting.expected_loss(10**6, 0.3, "kl") == pytest.approx(1.0, abs=1e-4)


def test_step_even_sizes_equal_next_odd_size():
    j = np.arange(1, 40)
    even, odd_after, odd_before = (counting.expected_loss(2 * j + d) for d in (0, 1, -1))
    np.testing.assert_allclose(even, odd_after, rtol=1e-12)
    assert np.all(odd_before > even * (1 + 1e-6))
    steps = experiment.step_table([1, 3, 500])
    np.testing.assert_allclose(steps["E[L](2j)"], steps["binom(2j,j)/2^(2j+1)"], rtol=1e-10)


def test_fitted_exponents_follow_the_loss_not_the_bias():
    sizes = experiment.size_grid(10**6, 25)
    table = experiment.exponent_table(sizes, biases=(0.5, 0.05))
    np.testing.assert_allclose(table.beta, table.beta_theory, atol=0.005)
    l1 = table[table.loss == "l1"]
    np.testing.assert_allclose(l1.alpha, l1.alpha_theory, rtol=0.01)
    assert l1.alpha.iloc[0] > 2 * l1.alpha.iloc[1]


def test_expected_loss_table_columns_agree():
    table = experiment.expected_loss_table(experiment.size_grid(10**5, 6), p=0.2, draws=4_000, seed=3)
    np.testing.assert_allclose(table.exact, table.closed_form, rtol=1e-10)
    assert table.mc_z.abs().max() < 4
    assert abs(table.ratio.iloc[-1] - 1) < 1e-3


@pytest.mark.parametrize("call, name", [
    (lambda: counting.expected_loss(0), "m"),
    (lambda: counting.expected_loss(2.5), "m"),
    (lambda: counting.expected_loss([10, -1]), "m"),
    (lambda: counting.expected_loss(10, p=1.2), "p"),
    (lambda: counting.expected_loss(10, p=-0.1), "p"),
    (lambda: counting.expected_loss(10, loss="l3"), "loss"),
    (lambda: counting.asymptote(10, p=0.0, loss="kl"), "p"),
    (lambda: counting.monte_carlo_loss(10, draws=1), "draws"),
    (lambda: counting.NoisyContexts(label_noise=0.5), "label_noise"),
])
def test_bad_input_gets_one_line_error_naming_the_parameter(call, name):
    with pytest.raises(ParameterError) as info:
        call()
    message = str(info.value)
    assert f"parameter {name!r}" in message and "allowed:" in message and "\n" not in message


def test_unknown_loss_lists_the_allowed_losses():
    with pytest.raises(ParameterError, match="'l1', 'l2', 'kl'"):
        counting.monte_carlo_loss(10, loss="huber")


def test_noisy_contexts_start_at_best_guess_and_end_at_the_floor():
    world = counting.NoisyContexts(contexts=1_000, offset=10, label_noise=0.1)
    error, stderr = world.learning_curve([1, 10**6], repeats=3, seed=0)
    assert error[0] == pytest.approx(0.5, abs=0.03)
    assert error[1] == pytest.approx(0.1, abs=1e-4)  # the rarest contexts are seen ~10 times


@pytest.mark.parametrize("zipf_exponent", [2.0, 3.0])
def test_noisy_contexts_power_law_exponent_follows_the_frequency_tail(zipf_exponent):
    world = counting.NoisyContexts(contexts=100_000, zipf_exponent=zipf_exponent, offset=100, label_noise=0.05)
    table = experiment.three_regions_table(world, experiment.size_grid(10**6, 9)[4:], repeats=2, seed=0)
    fit = experiment.fit_exponent(table.m, table.excess)
    assert fit["beta"] == pytest.approx(world.power_law_exponent, abs=0.05)


def test_three_regions_appear_in_order_and_the_floor_fit_recovers_eta():
    world = counting.NoisyContexts(contexts=100_000, offset=100, label_noise=0.05)
    table = experiment.three_regions_table(world, experiment.size_grid(10**7, 15), repeats=2, seed=0)
    order = table.region.drop_duplicates().tolist()
    assert order == ["small data", "power law", "irreducible error"]
    floor = experiment.floor_fit(table)
    assert floor["gamma_low"] < world.irreducible_error < floor["gamma_high"]
    experiment.three_regions_chart(table, world).to_dict()


def test_interactive_chart_binds_bias_and_loss_and_stays_small():
    sizes = experiment.size_grid(10**6, 25)
    biases = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
    spec = experiment.interactive_bias_chart(sizes, biases).to_dict()
    bound = {param["name"]: param["bind"] for param in spec["params"] if "bind" in param}
    assert bound["bias"]["input"] == "range" and bound["bias"]["min"] == 0.05
    assert bound["chosen_loss"]["options"] == list(counting.LOSSES)
    rows = sum(len(values) for values in spec["datasets"].values())
    assert rows < 3_000
    assert "bias" in str(spec["layer"]) and "chosen_loss" in str(spec["layer"])


def test_interactive_chart_needs_evenly_spaced_biases():
    with pytest.raises(ParameterError, match="biases"):
        experiment.interactive_bias_chart([1, 10, 100], (0.05, 0.1, 0.5))
