"""Power-law fits: ``alpha m^beta``, ``alpha m^beta + gamma`` and the model-size law ``s(m)``."""

from __future__ import annotations

import numpy as np

from scaling_core.fit.base import CurveFit

FLOOR_FRACTIONS = (0.0, 0.25, 0.5, 0.7, 0.85, 0.95, 0.99)
"""Starting floors for ``gamma`` as fractions of the smallest observed error."""


def loglog_line(x, y, weights=None) -> tuple[float, float]:
    """Weighted least-squares line ``y = intercept + slope x``; returns ``(intercept, slope)``."""
    weights = np.ones_like(y) if weights is None else weights
    x_mean, y_mean = np.average(x, weights=weights), np.average(y, weights=weights)
    spread = weights @ (x - x_mean) ** 2
    slope = (weights @ ((x - x_mean) * (y - y_mean))) / spread if spread > 0 else 0.0
    return float(y_mean - slope * x_mean), float(slope)


def _power_term(theta_scale, beta, x):
    """``log(alpha m^beta)`` at centred log sizes, shape (n,)."""
    return theta_scale + beta * x


class PowerLawFit(CurveFit):
    r"""Fit of :func:`~scaling_core.fit.forms.power_law`, ``eps = alpha m^beta``.

    Internally ``log eps = a + beta (log m - mean log m)``: a line in log-log space,
    fitted with the Huber loss on log error (convex, so every start reaches the optimum).

    Attributes
    ----------
    alpha_, beta_ : float
        Fitted scale and exponent; ``*_se_`` standard errors, ``*_ci_`` 95 % intervals
        (t-based until :meth:`bootstrap` replaces them).
    rel_rmse_ : float
        Relative root-mean-square error of the fit over the distinct sizes.
    start_success_fraction_ : float
        Fraction of starts that reached the best optimum.

    Examples
    --------
    >>> fit = PowerLawFit().fit(m, eps).bootstrap(n=1000, seed=0)
    >>> fit.beta_, fit.beta_ci_
    """

    param_names = ("alpha", "beta")
    log_scale_names = ("alpha",)

    def fit(self, m, eps, weights=None, repeats=None):
        """Fit to sizes ``m`` and errors ``eps``; ``repeats`` labels repeated runs per size. Returns self."""
        return self._fit_data(self._check({"m": m}, eps, weights, repeats))

    def predict(self, m):
        """Fitted error at sizes ``m``."""
        return self._predict_sizes({"m": m})

    def _log_model(self, theta, x):
        x = x[:, 0]
        return _power_term(theta[0], theta[1], x), np.column_stack([np.ones_like(x), x])

    def _starts(self, x, y):
        intercept, slope = loglog_line(x[:, 0], y, self.data_.weights)
        return np.array([[intercept, slope], [intercept, 0.0], [intercept, 2 * slope - 0.1]])

    def _bounds(self, x, y):
        return [(None, None), (-10.0, 10.0)]

    def _natural(self, theta):
        scale, beta = theta
        return {self.param_names[0]: float(np.exp(scale - beta * self.x_ref_[0])), self.param_names[1]: float(beta)}


class ModelSizeFit(PowerLawFit):
    r"""Fit of :func:`~scaling_core.fit.forms.model_size_law`, ``s(m) = alpha_p m^beta_p``.

    ``fit(m, best_model_sizes)``; attributes ``alpha_p_``, ``beta_p_`` with ``_se_``/``_ci_``.
    """

    param_names = ("alpha_p", "beta_p")
    log_scale_names = ("alpha_p",)


class PowerLawConstantFit(CurveFit):
    r"""Fit of :func:`~scaling_core.fit.forms.power_law_plus_constant`, ``eps = alpha m^beta + gamma``.

    Internally ``log eps = logaddexp(a + beta x, log gamma)`` with ``x`` the centred log
    size. Starts: for each trial floor ``gamma`` in :data:`FLOOR_FRACTIONS` of the
    smallest error, a log-log line through ``eps - gamma``.

    Attributes
    ----------
    alpha_, beta_, gamma_ : float
        Fitted parameters with ``*_se_`` and ``*_ci_``.
    """

    param_names = ("alpha", "beta", "gamma")
    log_scale_names = ("alpha", "gamma")

    def fit(self, m, eps, weights=None, repeats=None):
        """Fit to sizes ``m`` and errors ``eps``. Returns self."""
        return self._fit_data(self._check({"m": m}, eps, weights, repeats))

    def predict(self, m):
        """Fitted error at sizes ``m``."""
        return self._predict_sizes({"m": m})

    def _log_model(self, theta, x):
        x = x[:, 0]
        power = _power_term(theta[0], theta[1], x)
        log_pred = np.logaddexp(power, theta[2])
        share = np.exp(power - log_pred)  # d log_pred / d power
        return log_pred, np.column_stack([share, share * x, 1.0 - share])

    def _starts(self, x, y):
        return floor_starts(x[:, 0], y, self.data_.weights, self.bounds_[2][0])

    def _bounds(self, x, y):
        return [(None, None), (-5.0, 0.0), (y.min() - 25.0, y.max() + 1.0)]

    def _natural(self, theta):
        scale, beta, log_gamma = theta
        return {"alpha": float(np.exp(scale - beta * self.x_ref_[0])), "beta": float(beta),
                "gamma": float(np.exp(log_gamma))}


def floor_starts(x, y, weights, lowest_log_floor) -> np.ndarray:
    """Starts ``(a, beta, log gamma)`` from log-log lines through ``eps - gamma`` for trial floors."""
    eps = np.exp(y)
    starts = []
    for fraction in FLOOR_FRACTIONS:
        floor = fraction * eps.min()
        intercept, slope = loglog_line(x, np.log(eps - floor), weights)
        log_floor = np.log(floor) if floor > 0 else lowest_log_floor
        starts.append([intercept, min(slope, -1e-3), log_floor])
    return np.array(starts)
