"""Published extrapolation baselines: last observed value, Alabdulmohsin et al. (2022) M1-M4, BNSL.

Every baseline has the same small interface as the fits (``fit(m, eps)`` returning
self, ``predict(m)``), so :func:`~scaling_core.fit.extrapolation.extrapolation_scoreboard`
can run them side by side. M1-M3 reuse :class:`~scaling_core.fit.base.CurveFit` with a
squared log-error loss (the papers' objective); M4 and BNSL have their own solvers.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import optimize

from scaling_core.fit._data import check_curve
from scaling_core.fit.base import CurveFit
from scaling_core.fit.forms import broken_power_law
from scaling_core.fit.powerlaw import PowerLawConstantFit, PowerLawFit, loglog_line

LEAST_SQUARES_DELTA = 1e6
"""A Huber threshold no log residual reaches: the Huber loss becomes least squares."""


class LastValue:
    """Predict the error observed at the largest size (mean over repeats) for every larger size."""

    n_params = 1

    def fit(self, m, eps, weights=None, repeats=None):
        """Remember the error at the largest size. Returns self."""
        data = check_curve({"m": m}, eps, weights, repeats, n_params=1)
        sizes, means = data.shard_means()
        self.last_value_ = float(means[np.argmax(sizes[:, 0])])
        return self

    def predict(self, m):
        """The last observed error, broadcast to ``m``."""
        return np.full(np.shape(m), self.last_value_)


def m1_estimator():
    r"""M1: :math:`\varepsilon = \beta x^c`, least squares on log error."""
    return PowerLawFit(huber_delta=LEAST_SQUARES_DELTA)


def m2_estimator():
    r"""M2: :math:`\varepsilon = \beta x^c + \varepsilon_\infty`, least squares on log error."""
    return PowerLawConstantFit(huber_delta=LEAST_SQUARES_DELTA)


class M3Fit(CurveFit):
    r"""M3: :math:`\varepsilon = \beta (x^{-1} + \gamma)^{c}`, ``c >= 0`` (Alabdulmohsin et al. 2022).

    Saturates at :math:`\beta\gamma^c` for large ``x``; least squares on log error.
    """

    param_names = ("beta", "c", "gamma")
    log_scale_names = ("beta", "gamma")

    def __init__(self):
        super().__init__(huber_delta=LEAST_SQUARES_DELTA, max_starts=8)

    def fit(self, m, eps, weights=None, repeats=None):
        """Fit to sizes ``m`` and errors ``eps``. Returns self."""
        return self._fit_data(self._check({"m": m}, eps, weights, repeats))

    def predict(self, m):
        """Fitted error at sizes ``m``."""
        return self._predict_sizes({"m": m})

    def _log_model(self, theta, x):
        log_beta, c, log_gamma = theta
        log_base = np.logaddexp(-(x[:, 0] + self.x_ref_[0]), log_gamma)  # log(1/m + gamma)
        gamma_share = np.exp(log_gamma - log_base)
        return log_beta + c * log_base, np.column_stack([np.ones_like(log_base), log_base, c * gamma_share])

    def _bounds(self, x, y):
        return [(None, None), (0.0, 5.0), (-(x.max() + self.x_ref_[0]) - 25.0, 0.0)]

    def _starts(self, x, y):
        intercept, slope = loglog_line(x[:, 0] + self.x_ref_[0], y)
        largest = np.exp(x.max() + self.x_ref_[0])
        return np.array([[intercept, max(-slope, 0.01), np.log(fraction / largest)]
                         for fraction in (1e-3, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)])

    def _natural(self, theta):
        return {"beta": float(np.exp(theta[0])), "c": float(theta[1]), "gamma": float(np.exp(theta[2]))}


class M4Fit:
    r"""M4 (Alabdulmohsin et al. 2022): :math:`(\varepsilon-\varepsilon_\infty)/(\varepsilon_0-\varepsilon)^{\alpha} = \beta x^{c}`.

    For fixed :math:`(\varepsilon_\infty, \varepsilon_0)` the log of the equation is linear in
    :math:`(\log\beta, c, \alpha)` (``c <= 0 <= alpha``), solved by bounded least squares; the
    two error levels are optimised around it (variable projection: a 25 x 10 grid, then
    Nelder-Mead). Prediction solves the implicit equation by bisection.
    """

    n_params = 5

    def fit(self, m, eps, weights=None, repeats=None):
        """Fit to the mean error at each size (the method's input is one value per size). Returns self."""
        sizes, means = check_curve({"m": m}, eps, weights, repeats, n_params=4).shard_means()
        self._log_m, self._eps = np.log(sizes[:, 0]), means
        grid = min(itertools.product(np.linspace(-4.0, 8.0, 25), np.linspace(-6.0, 3.0, 10)), key=self._profile)
        best = optimize.minimize(self._profile, grid, method="Nelder-Mead",
                                 options={"xatol": 1e-8, "fatol": 1e-14, "maxiter": 2000})
        self.err_inf_, self.err_0_ = self._levels(best.x)
        self.log_beta_, self.c_, self.alpha_ = self._linear_part(self.err_inf_, self.err_0_).x
        return self

    def _levels(self, free):
        free = np.clip(free, -30.0, 30.0)
        err_inf = self._eps.min() / (1.0 + np.exp(-free[0]))
        return err_inf, self._eps.max() * (1.0 + 1e-6 + np.exp(free[1]))

    def _linear_part(self, err_inf, err_0):
        design = np.column_stack([np.ones_like(self._log_m), self._log_m, np.log(err_0 - self._eps)])
        target = np.log(self._eps - err_inf)
        return optimize.lsq_linear(design, target, bounds=([-np.inf, -np.inf, 0.0], [np.inf, 0.0, np.inf]))

    def _profile(self, free):
        solution = self._linear_part(*self._levels(free))
        return float(np.sum(solution.fun**2))

    def predict(self, m):
        """Solve ``w = beta m^c (b - w)^alpha`` for ``w in (0, b)``, ``b = err_0 - err_inf``, by bisection."""
        target = np.exp(self.log_beta_) * np.asarray(m, dtype=float) ** self.c_
        span = self.err_0_ - self.err_inf_
        low, high = np.zeros_like(target), np.full_like(target, span)
        for _ in range(80):
            middle = 0.5 * (low + high)
            above = middle / (span - middle) ** self.alpha_ > target
            high, low = np.where(above, middle, high), np.where(above, low, middle)
        return self.err_inf_ + 0.5 * (low + high)


class BrokenPowerLawFit:
    r"""Broken neural scaling law with one break (Caballero et al. 2022), least squares on log error.

    .. math:: \varepsilon = a + b x^{-c_0} (1 + (x/d_1)^{1/f_1})^{-c_1 f_1}

    Starts: breaks at every observed size, two floors, two sharpnesses (as BNSL's grid search).
    """

    n_params = 6

    def fit(self, m, eps, weights=None, repeats=None):
        """Fit to sizes ``m`` and errors ``eps``. Returns self."""
        sizes, means = check_curve({"m": m}, eps, weights, repeats, n_params=4).shard_means()
        log_m, log_eps = np.log(sizes[:, 0]), np.log(means)
        runs = [optimize.least_squares(self._residuals, start, args=(log_m, log_eps), method="trf",
                                       bounds=self._bounds(log_m, log_eps))
                for start in self._starts(log_m, log_eps)]
        self.theta_ = min(runs, key=lambda r: r.cost).x
        return self

    @staticmethod
    def _log_predict(theta, log_m):
        log_floor, log_scale, c0, log_break, c1, log_sharpness = theta
        sharpness = np.exp(log_sharpness)
        log_bend = -c1 * sharpness * np.logaddexp(0.0, (log_m - log_break) / sharpness)
        return np.logaddexp(log_floor, log_scale - c0 * log_m + log_bend)

    def _residuals(self, theta, log_m, log_eps):
        return self._log_predict(theta, log_m) - log_eps

    @staticmethod
    def _bounds(log_m, log_eps):
        low = [log_eps.min() - 25, -50, -1.0, log_m.min() - 2, -2.0, np.log(0.05)]
        high = [log_eps.min() + 0.1, 50, 3.0, log_m.max() + 2, 3.0, np.log(10.0)]
        return low, high

    @staticmethod
    def _starts(log_m, log_eps):
        intercept, slope = loglog_line(log_m, log_eps)
        for log_break, floor, sharpness in itertools.product(np.unique(log_m)[1:-1], (0.0, 0.7), (0.3, 1.0)):
            log_floor = np.log(floor * np.exp(log_eps.min())) if floor else log_eps.min() - 20
            yield np.array([log_floor, intercept, max(-slope, 0.0), log_break, 0.0, np.log(sharpness)])

    def predict(self, m):
        """Fitted error at sizes ``m``."""
        return np.exp(self._log_predict(self.theta_, np.log(np.asarray(m, dtype=float))))
