"""The paper's three-region learning curve: small-data plateau, power law, irreducible floor."""

from __future__ import annotations

import itertools

import numpy as np

from scaling_core.fit.base import CurveFit
from scaling_core.fit.forms import region_boundaries
from scaling_core.fit.powerlaw import loglog_line

PLATEAU_FACTORS = (1.02, 1.5, 3.0)
"""Starting best-guess errors as multiples of the largest observed error."""
FLOOR_FRACTIONS = (0.0, 0.5, 0.9)
"""Starting floors as fractions of the smallest observed error."""


class ThreeRegionFit(CurveFit):
    r"""Fit of :func:`~scaling_core.fit.forms.three_region` with its region boundaries.

    .. math::
        \varepsilon(m) = \varepsilon_0 \frac{u}{\sqrt{1+u^2}}, \quad
        u = (\alpha m^\beta + \gamma)/\varepsilon_0

    Parameters
    ----------
    best_guess : float, optional
        The best-guess error ``eps_0`` (e.g. ``1 - 1/n_classes`` for top-1 error, or the
        log-vocabulary for cross-entropy). Fitted when ``None``.
    huber_delta, max_starts
        As in :class:`~scaling_core.fit.base.CurveFit`.

    Attributes
    ----------
    best_guess_, alpha_, beta_, gamma_ : float
        Fitted parameters (``best_guess_`` is the given value, with zero error, when fixed).
    small_data_end_ : float
        ``(eps_0 / alpha)^(1/beta)``: where the power law meets the plateau.
    irreducible_start_ : float
        ``(gamma / alpha)^(1/beta)``: where the power law meets the floor.
    small_data_end_ci_, irreducible_start_ci_ : tuple of float
        95 % intervals (delta method, or bootstrap after :meth:`bootstrap`).
    """

    derived_names = ("small_data_end", "irreducible_start")
    log_scale_names = ("best_guess", "alpha", "gamma", "small_data_end", "irreducible_start")

    def __init__(self, best_guess: float | None = None, huber_delta: float = 0.05, max_starts: int = 27):
        super().__init__(huber_delta=huber_delta, max_starts=max_starts)
        if best_guess is not None and not (np.isfinite(best_guess) and best_guess > 0):
            raise ValueError(f"best_guess must be a finite number > 0 or None; got {best_guess!r}")
        self.best_guess = best_guess
        fitted_plateau = ("best_guess",) if best_guess is None else ()
        self.param_names = fitted_plateau + ("alpha", "beta", "gamma")

    def fit(self, m, eps, weights=None, repeats=None):
        """Fit to sizes ``m`` and errors ``eps``. Returns self."""
        data = self._check({"m": m}, eps, weights, repeats)
        if self.best_guess is not None and data.eps.max() >= self.best_guess * 1.5:
            raise ValueError(f"best_guess={self.best_guess!r} is below the observed errors (max {data.eps.max():.4g})")
        self._fit_data(data)
        if self.best_guess is not None:
            self.best_guess_, self.best_guess_se_, self.best_guess_ci_ = self.best_guess, 0.0, (self.best_guess,) * 2
        return self

    def predict(self, m):
        """Fitted error at sizes ``m``."""
        return self._predict_sizes({"m": m})

    def _full_theta(self, theta):
        if self.best_guess is None:
            return theta
        return np.concatenate([[np.log(self.best_guess)], theta])

    def _log_model(self, theta, x):
        log_plateau, scale, beta, log_floor = self._full_theta(theta)
        x = x[:, 0]
        power = scale + beta * x
        log_numerator = np.logaddexp(power, log_floor)
        log_u = log_numerator - log_plateau
        log_pred = log_plateau - 0.5 * np.logaddexp(0.0, -2.0 * log_u)
        squash = np.exp(-np.logaddexp(0.0, 2.0 * log_u))  # 1 / (1 + u^2)
        power_share = np.exp(power - log_numerator)
        jac = np.column_stack([1.0 - squash, squash * power_share, squash * power_share * x,
                               squash * (1.0 - power_share)])
        return log_pred, (jac if self.best_guess is None else jac[:, 1:])

    def _bounds(self, x, y):
        bounds = [(y.max() - 0.1, y.max() + 6.0), (None, None), (-5.0, -1e-3), (y.min() - 25.0, y.min() + 0.5)]
        return bounds if self.best_guess is None else bounds[1:]

    def _starts(self, x, y):
        x = x[:, 0]
        plateaus = [np.log(self.best_guess)] if self.best_guess else [y.max() + np.log(f) for f in PLATEAU_FACTORS]
        starts = []
        for log_plateau, fraction in itertools.product(plateaus, FLOOR_FRACTIONS):
            floor = fraction * np.exp(y.min())
            in_power_region = np.exp(y) < 0.7 * np.exp(log_plateau)
            chosen = in_power_region if in_power_region.sum() >= 2 else np.ones_like(y, dtype=bool)
            excess = np.maximum(np.exp(y[chosen]) - floor, 1e-3 * np.exp(y.min()))
            intercept, slope = loglog_line(x[chosen], np.log(excess))
            log_floor = np.log(floor) if floor > 0 else y.min() - 20.0
            start = [log_plateau, intercept, min(slope, -0.01), log_floor]
            starts.append(start if self.best_guess is None else start[1:])
        return np.array(starts)

    def _natural(self, theta):
        log_plateau, scale, beta, log_floor = self._full_theta(theta)
        best_guess, gamma = float(np.exp(log_plateau)), float(np.exp(log_floor))
        alpha = float(np.exp(scale - beta * self.x_ref_[0]))
        small_end, irreducible = region_boundaries(best_guess, alpha, beta, gamma)
        values = {"best_guess": best_guess} if self.best_guess is None else {}
        values.update(alpha=alpha, beta=float(beta), gamma=gamma, small_data_end=small_end,
                      irreducible_start=irreducible)
        return values

    def quantity_names(self) -> list[str]:
        return list(self.param_names) + list(self.derived_names)

    def region_of(self, m) -> np.ndarray:
        """Label each size ``"small-data"``, ``"power-law"`` or ``"irreducible"``."""
        m = np.asarray(m, dtype=float)
        labels = np.where(m < self.small_data_end_, "small-data", "power-law")
        return np.where(m >= self.irreducible_start_, "irreducible", labels)
