"""The counting model of the paper's Section 2 and Appendix B, solved exactly.

A coin lands heads with probability ``p``. The model sees ``m`` flips, counts the
``k`` heads and predicts ``p_hat = k / m``. Its generalization loss is a function of
``k ~ Binomial(m, p)``, so the expected loss is a finite sum over the binomial,

.. math:: E[L](m) = \\sum_{k=0}^{m} \\binom{m}{k} p^k (1-p)^{m-k} \\, L(k/m, p).

Losses (``LOSSES``), with their large-``m`` behaviour:

``"l1"``
    ``|p_hat - p|``, the absolute error of the heads probability (the L1 distance
    between the two outcome distributions is twice this). ``E ~ sqrt(2 p (1-p) / (pi m))``:
    exponent -0.5, the paper's case.
``"l2"``
    ``(p_hat - p)**2``. ``E = p (1-p) / m`` exactly: exponent -1.
``"kl"``
    ``KL(p || p_tilde)`` in nats, with the Laplace-smoothed estimate
    ``p_tilde = (k + a) / (m + 2a)`` (pseudo-count ``a = 1``; the raw ``k/m`` gives
    ``KL = inf`` whenever it hits 0 or 1 with ``0 < p < 1``). ``E ~ 1 / (2m)``: exponent -1.
"""

from __future__ import annotations

from numbers import Integral
from typing import NamedTuple

import numpy as np
from scipy import special, stats

from scaling_core.validation import ParameterError, check_choice

LOSSES = ("l1", "l2", "kl")
"""Loss names accepted by every function here."""

THEORY_EXPONENTS = {"l1": -0.5, "l2": -1.0, "kl": -1.0}
"""Asymptotic power-law exponent of ``E[L](m)`` for each loss (``0 < p < 1``)."""

TAIL_WIDTH = (40.0, 50.0)
"""Exact sums cover ``|k - mp| <= 40 sigma + 50``; Bernstein's inequality bounds the
binomial mass outside by ``exp(-75)``, far below float64 resolution."""


class MonteCarloEstimate(NamedTuple):
    """Mean loss over independent training sets and its standard error."""

    mean: float
    stderr: float
    draws: int


def check_sizes(m) -> np.ndarray:
    """Validate training-set sizes: integers ``>= 1`` (scalar or array); return an int array."""
    sizes = np.asarray(m)
    integral = sizes.dtype.kind in "iu" or (
        sizes.dtype.kind == "f" and np.all(np.isfinite(sizes)) and np.all(sizes == np.round(sizes))
    )
    if sizes.size == 0 or not integral or np.any(sizes < 1):
        raise ParameterError("m", m, "integers >= 1")
    return sizes.astype(np.int64)


def check_bias(p) -> float:
    """Validate the coin bias: a number in ``[0, 1]``."""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) or not 0 <= p <= 1:
        raise ParameterError("p", p, "a number in [0, 1]")
    return float(p)


def check_loss(loss: str) -> str:
    """Validate a loss name against :data:`LOSSES`."""
    return check_choice("loss", loss, LOSSES)


def _check_pseudocount(pseudocount) -> float:
    if isinstance(pseudocount, bool) or not isinstance(pseudocount, (int, float)) or not pseudocount > 0:
        raise ParameterError("pseudocount", pseudocount, "a number > 0")
    return float(pseudocount)


def loss_of_counts(k, m: int, p: float, loss: str = "l1", pseudocount: float = 1.0) -> np.ndarray:
    """The loss of the model trained on ``m`` flips with ``k`` heads (vectorised over ``k``).

    Parameters
    ----------
    k : array_like of int
        Heads counts, ``0 <= k <= m``.
    m : int
        Training-set size.
    p : float
        True heads probability.
    loss : {"l1", "l2", "kl"}
        ``|k/m - p|``, ``(k/m - p)**2`` or ``KL(p || (k+a)/(m+2a))`` with ``a = pseudocount``.
    """
    k = np.asarray(k, dtype=float)
    if loss == "l1":
        return np.abs(k / m - p)
    if loss == "l2":
        return (k / m - p) ** 2
    smoothed = (k + pseudocount) / (m + 2 * pseudocount)
    return special.rel_entr(p, smoothed) + special.rel_entr(1 - p, 1 - smoothed)


def _support(m: int, p: float) -> np.ndarray:
    """The heads counts that carry all but ``exp(-75)`` of the Binomial(m, p) mass."""
    half_width = TAIL_WIDTH[0] * np.sqrt(m * p * (1 - p)) + TAIL_WIDTH[1]
    low = max(0, int(np.floor(m * p - half_width)))
    high = min(m, int(np.ceil(m * p + half_width)))
    return np.arange(low, high + 1)


def _expected_loss_one(m: int, p: float, loss: str, pseudocount: float) -> float:
    k = _support(m, p)
    weights = stats.binom.pmf(k, m, p)
    return float(np.sum(weights * loss_of_counts(k, m, p, loss, pseudocount)))


def expected_loss(m, p: float = 0.5, loss: str = "l1", pseudocount: float = 1.0):
    """Exact expected loss of the counting model: the sum over ``k ~ Binomial(m, p)``.

    .. math:: E[L](m) = \\sum_k \\mathrm{pmf}(k; m, p) \\, L(k, m, p)

    The sum runs over ``|k - mp| <= 40 sigma + 50`` (see :data:`TAIL_WIDTH`), so it costs
    ``O(sqrt(m))`` and stays accurate to float64 precision for ``m`` up to ``10**6`` and beyond.

    Parameters
    ----------
    m : int or array_like of int
        Training-set sizes, each ``>= 1``.
    p : float
        Heads probability in ``[0, 1]``.
    loss : {"l1", "l2", "kl"}
        See :func:`loss_of_counts`.
    pseudocount : float
        Laplace pseudo-count ``a`` of the ``"kl"`` loss.

    Returns
    -------
    float or ndarray
        ``E[L](m)``, with the shape of ``m``.
    """
    sizes, p, loss = check_sizes(m), check_bias(p), check_loss(loss)
    pseudocount = _check_pseudocount(pseudocount)
    values = np.array([_expected_loss_one(int(size), p, loss, pseudocount) for size in sizes.ravel()])
    return float(values[0]) if np.ndim(m) == 0 else values.reshape(sizes.shape)


def closed_form_l1(m, p: float = 0.5):
    """De Moivre's closed form of ``E|p_hat - p|``.

    .. math:: E|k - mp| = 2 \\nu (1-p) \\, \\mathrm{pmf}(\\nu; m, p), \\quad \\nu = \\lfloor mp \\rfloor + 1

    For a fair coin and ``m = 2j`` or ``m = 2j + 1`` it reduces to Appendix B's
    ``E|p_hat - 1/2| = binom(2j, j) / 2**(2j+1)``: the same value for both sizes.

    Parameters
    ----------
    m : int or array_like of int
        Training-set sizes, each ``>= 1``.
    p : float
        Heads probability in ``[0, 1]``.
    """
    sizes, p = check_sizes(m), check_bias(p)
    nu = np.floor(sizes * p) + 1
    values = 2 * nu * (1 - p) * stats.binom.pmf(nu, sizes, p) / sizes
    return float(values) if np.ndim(m) == 0 else values


def asymptote(m, p: float = 0.5, loss: str = "l1"):
    """Leading large-``m`` term of the expected loss, ``C(p) * m**beta``.

    .. math:: \\mathrm{l1}: \\sqrt{2p(1-p)/(\\pi m)}, \\quad
              \\mathrm{l2}: p(1-p)/m, \\quad \\mathrm{kl}: 1/(2m) \\; (0 < p < 1)

    The ``"l1"`` form is the normal approximation ``E|Z| sigma / m`` with
    ``E|Z| = sqrt(2/pi)``; the ``"kl"`` form is the second-order expansion
    ``KL ~ (p_hat - p)**2 / (2 p (1-p))`` applied to the ``"l2"`` result.
    """
    sizes, p, loss = check_sizes(m).astype(float), check_bias(p), check_loss(loss)
    if loss == "kl" and p in (0.0, 1.0):
        raise ParameterError("p", p, "a number in (0, 1) for the 'kl' asymptote")
    variance = p * (1 - p)
    values = {
        "l1": np.sqrt(2 * variance / (np.pi * sizes)),
        "l2": variance / sizes,
        "kl": 0.5 / sizes,
    }[loss]
    return float(values) if np.ndim(m) == 0 else values


def monte_carlo_loss(
    m: int,
    p: float = 0.5,
    loss: str = "l1",
    draws: int = 10_000,
    seed: int | np.random.SeedSequence = 0,
    pseudocount: float = 1.0,
) -> MonteCarloEstimate:
    """Monte Carlo estimate of the expected loss from ``draws`` simulated training sets.

    Each draw is ``k ~ Binomial(m, p)``; the estimate is the sample mean of the loss
    with standard error ``s / sqrt(draws)``.

    Parameters
    ----------
    m : int
        Training-set size ``>= 1``.
    p, loss, pseudocount
        As in :func:`expected_loss`.
    draws : int
        Number of simulated training sets, ``>= 2``.
    seed : int or numpy.random.SeedSequence
        Seed of the random generator.
    """
    size = int(check_sizes(m))
    p, loss = check_bias(p), check_loss(loss)
    if isinstance(draws, bool) or not isinstance(draws, Integral) or draws < 2:
        raise ParameterError("draws", draws, "an integer >= 2")
    heads = np.random.default_rng(seed).binomial(size, p, size=int(draws))
    losses = loss_of_counts(heads, size, p, loss, _check_pseudocount(pseudocount))
    return MonteCarloEstimate(float(losses.mean()), float(losses.std(ddof=1) / np.sqrt(draws)), int(draws))


class NoisyContexts:
    """A counting classifier with label noise: the toy that shows all three learning-curve regions.

    Inputs are ``contexts`` discrete contexts with Zipf-Mandelbrot frequencies
    ``f_c ∝ (c + offset)**(-zipf_exponent)``; each context has one true binary label, and
    every observed label (train and test) is flipped with probability ``label_noise``.
    The learner counts the labels seen in each context and predicts the majority; a
    context seen no times (or a tie) gets a coin-flip guess. Its test error against the
    noisy labels is

    .. math:: \\epsilon(m) = \\eta + (1 - 2\\eta) \\sum_c f_c \\, P(\\text{majority wrong in } c),

    which starts at the best-guess error 1/2 (small-data region: while ``m << offset``
    almost every test context is unseen), falls as a power law once the frequent contexts
    are learned (unseen mass ``~ m**(1/a - 1)`` for ``a = zipf_exponent``), and flattens
    at the irreducible error ``eta`` (the Bayes error of the noisy labels).

    Parameters
    ----------
    contexts : int
        Number of distinct contexts.
    zipf_exponent : float
        Tail exponent ``a > 1`` of the context frequencies.
    offset : float
        Mandelbrot offset: about how many contexts share the head of the distribution.
    label_noise : float
        Flip probability ``eta`` in ``[0, 0.5)``.
    """

    best_guess_error = 0.5

    def __init__(self, contexts: int = 1_000_000, zipf_exponent: float = 2.0,
                 offset: float = 100.0, label_noise: float = 0.05):
        if not isinstance(contexts, Integral) or contexts < 1:
            raise ParameterError("contexts", contexts, "an integer >= 1")
        if not zipf_exponent > 1:
            raise ParameterError("zipf_exponent", zipf_exponent, "a number > 1")
        if not offset >= 0:
            raise ParameterError("offset", offset, "a number >= 0")
        if not 0 <= label_noise < 0.5:
            raise ParameterError("label_noise", label_noise, "a number in [0, 0.5)")
        self.contexts, self.zipf_exponent = int(contexts), float(zipf_exponent)
        self.offset, self.label_noise = float(offset), float(label_noise)
        weights = (np.arange(1, contexts + 1) + offset) ** -self.zipf_exponent
        self.frequencies = weights / weights.sum()  # shape (contexts,)

    @property
    def irreducible_error(self) -> float:
        """The Bayes error: the label-flip probability ``eta``."""
        return self.label_noise

    @property
    def power_law_exponent(self) -> float:
        """Exponent of the unseen test mass, ``1/a - 1``, which sets the power-law region."""
        return 1.0 / self.zipf_exponent - 1.0

    def test_error(self, m: int, rng: np.random.Generator) -> float:
        """Test error (exact over the test distribution) of the learner trained on one draw of ``m`` examples."""
        counts = rng.multinomial(int(check_sizes(m)), self.frequencies)  # shape (contexts,)
        flipped = rng.binomial(counts, self.label_noise)  # wrong labels seen per context
        p_wrong = np.where(2 * flipped > counts, 1.0, np.where(2 * flipped == counts, 0.5, 0.0))
        eta = self.label_noise
        return float(eta + (1 - 2 * eta) * np.dot(self.frequencies, p_wrong))

    def learning_curve(self, m, repeats: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Mean test error and its standard error over ``repeats`` training draws at each size in ``m``."""
        sizes = check_sizes(m).ravel()
        if isinstance(repeats, bool) or not isinstance(repeats, Integral) or repeats < 2:
            raise ParameterError("repeats", repeats, "an integer >= 2")
        rng = np.random.default_rng(seed)
        errors = np.array([[self.test_error(size, rng) for _ in range(repeats)] for size in sizes])
        return errors.mean(axis=1), errors.std(axis=1, ddof=1) / np.sqrt(repeats)
