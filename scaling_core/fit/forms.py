"""Functional forms of learning curves, each a plain vectorised function.

The notation is the paper's: ``m`` is the training-set size (shard size), ``eps`` the
generalization error, ``beta_g`` (here ``beta``) the learning-curve exponent, ``gamma``
the irreducible error, ``s(m)`` the best-fit model size.
"""

from __future__ import annotations

import numpy as np


def power_law(m, alpha, beta):
    r"""Power-law learning curve (the paper's composite best-fit curve).

    .. math:: \varepsilon(m) = \alpha\, m^{\beta}

    Parameters
    ----------
    m : array-like
        Training-set sizes, > 0.
    alpha : float
        Scale (error at ``m = 1``), > 0.
    beta : float
        Exponent ``beta_g``; negative for a falling curve.
    """
    return alpha * np.asarray(m, dtype=float) ** beta


def power_law_plus_constant(m, alpha, beta, gamma):
    r"""Power law with an irreducible floor (a fixed-size model, paper Fig. 1 left).

    .. math:: \varepsilon(m) = \alpha\, m^{\beta} + \gamma
    """
    return power_law(m, alpha, beta) + gamma


def three_region(m, best_guess, alpha, beta, gamma):
    r"""Small-data plateau, power-law region and irreducible floor as one smooth curve.

    Rosenfeld et al. (2020)'s envelope applied to the power law with a floor:

    .. math::
        \varepsilon(m) = \varepsilon_0\, \frac{u}{\sqrt{1 + u^2}}, \qquad
        u = \frac{\alpha m^{\beta} + \gamma}{\varepsilon_0}

    For small ``m`` (``u >> 1``) the curve sits at the best-guess error ``eps_0``; in the
    middle it follows ``alpha m^beta``; for large ``m`` it approaches ``gamma``. The
    regions meet where the power law crosses the plateau and the floor:

    .. math::
        m_{\mathrm{small}} = (\varepsilon_0/\alpha)^{1/\beta}, \qquad
        m_{\mathrm{irr}} = (\gamma/\alpha)^{1/\beta}

    Parameters
    ----------
    m : array-like
        Training-set sizes, > 0.
    best_guess : float
        Plateau error ``eps_0`` of a model that has learned nothing, > 0.
    alpha, beta : float
        Power-law region ``alpha m^beta`` (``beta < 0``).
    gamma : float
        Irreducible error, ``0 <= gamma < best_guess``.
    """
    u = (power_law(m, alpha, beta) + gamma) / best_guess
    return best_guess * u / np.sqrt(1.0 + u * u)


def region_boundaries(best_guess, alpha, beta, gamma):
    r"""Sizes where the small-data region ends and the irreducible region begins.

    .. math::
        m_{\mathrm{small}} = (\varepsilon_0/\alpha)^{1/\beta}, \qquad
        m_{\mathrm{irr}} = (\gamma/\alpha)^{1/\beta}

    Returns
    -------
    tuple of float
        ``(small_data_end, irreducible_start)``; ``inf`` for the floor when ``gamma = 0``.
    """
    small_data_end = (best_guess / alpha) ** (1.0 / beta)
    with np.errstate(divide="ignore"):
        irreducible_start = (gamma / alpha) ** (1.0 / beta) if gamma > 0 else np.inf
    return float(small_data_end), float(irreducible_start)


def model_size_law(m, alpha_p, beta_p):
    r"""Best-fit model size as a function of training-set size.

    .. math:: s(m) = \alpha_p\, m^{\beta_p}
    """
    return power_law(m, alpha_p, beta_p)


def joint_law(m, n, alpha, beta, alpha_n, beta_n, gamma):
    r"""Error over training-set size ``m`` and model size ``n`` (Kaplan/Rosenfeld/Chinchilla).

    .. math:: \varepsilon(m, n) = \alpha\, m^{\beta} + \alpha_n\, n^{\beta_n} + \gamma

    With ``alpha = B``, ``beta = -beta_chinchilla``, ``alpha_n = A``,
    ``beta_n = -alpha_chinchilla`` and ``gamma = E`` this is Hoffmann et al. (2022)'s
    ``L = E + A / N^alpha + B / D^beta``.
    """
    return power_law(m, alpha, beta) + power_law(n, alpha_n, beta_n) + gamma


def broken_power_law(m, floor, scale, beta_0, break_size, beta_1, sharpness):
    r"""Smoothly broken power law with one break (Caballero et al. 2022, BNSL).

    .. math::
        \varepsilon(m) = a + b\, m^{-c_0}
        \left(1 + (m / d_1)^{1/f_1}\right)^{-c_1 f_1}

    with ``a = floor``, ``b = scale``, ``c_0 = beta_0``, ``d_1 = break_size``,
    ``c_1 = beta_1``, ``f_1 = sharpness``.
    """
    m = np.asarray(m, dtype=float)
    bend = (1.0 + (m / break_size) ** (1.0 / sharpness)) ** (-beta_1 * sharpness)
    return floor + scale * m ** (-beta_0) * bend
