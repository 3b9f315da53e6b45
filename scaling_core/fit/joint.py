"""Joint fit over training-set size and model size (Kaplan, Rosenfeld, Chinchilla form)."""

from __future__ import annotations

import itertools

import numpy as np

from scaling_core.fit.base import CurveFit

EXPONENT_GRID = (-0.15, -0.35, -0.7)
"""Starting exponents for both size axes."""
FLOOR_FRACTIONS = (0.3, 0.6, 0.9)
"""Starting floors as fractions of the smallest observed error."""
SPLITS = (0.2, 0.5, 0.8)
"""Starting shares of the reducible error carried by the data-size term."""


class JointFit(CurveFit):
    r"""Fit of :func:`~scaling_core.fit.forms.joint_law`.

    .. math:: \varepsilon(m, n) = \alpha m^{\beta} + \alpha_n n^{\beta_n} + \gamma

    Internally the log prediction is a log-sum-exp of three terms, as in Besiroglu et
    al. (2024)'s Chinchilla replication; the start grid has 81 points (exponents x floors x
    shares of the reducible error). In Chinchilla's notation ``E = gamma``, ``A = alpha_n``,
    ``alpha = -beta_n``, ``B = alpha``, ``beta = -beta``.

    Attributes
    ----------
    alpha_, beta_, alpha_n_, beta_n_, gamma_ : float
        Fitted parameters with ``*_se_`` and ``*_ci_``.
    """

    param_names = ("alpha", "beta", "alpha_n", "beta_n", "gamma")
    log_scale_names = ("alpha", "alpha_n", "gamma")
    size_names = ("m", "n")

    def __init__(self, huber_delta: float = 0.05, max_starts: int = 81):
        super().__init__(huber_delta=huber_delta, max_starts=max_starts)

    def fit(self, m, n, eps, weights=None, repeats=None):
        """Fit to training-set sizes ``m``, model sizes ``n`` and errors ``eps``. Returns self."""
        return self._fit_data(self._check({"m": m, "n": n}, eps, weights, repeats))

    def predict(self, m, n):
        """Fitted error at (training-set size, model size) pairs (broadcast)."""
        return self._predict_sizes({"m": m, "n": n})

    def _log_model(self, theta, x):
        scale_m, beta_m, scale_n, beta_n, log_floor = theta
        terms = np.column_stack([scale_m + beta_m * x[:, 0], scale_n + beta_n * x[:, 1],
                                 np.full(len(x), log_floor)])  # (n_points, 3)
        log_pred = np.logaddexp.reduce(terms, axis=1)
        share = np.exp(terms - log_pred[:, None])
        jac = np.column_stack([share[:, 0], share[:, 0] * x[:, 0], share[:, 1], share[:, 1] * x[:, 1], share[:, 2]])
        return log_pred, jac

    def _bounds(self, x, y):
        return [(None, None), (-3.0, 0.0), (None, None), (-3.0, 0.0), (y.min() - 25.0, y.min() + 0.5)]

    def _starts(self, x, y):
        eps = np.exp(y)
        starts = []
        for beta_m, beta_n, fraction, split in itertools.product(EXPONENT_GRID, EXPONENT_GRID, FLOOR_FRACTIONS, SPLITS):
            floor = fraction * eps.min()
            reducible = max(np.exp(np.mean(y)) - floor, 1e-3 * eps.min())
            starts.append([np.log(split * reducible), beta_m, np.log((1 - split) * reducible), beta_n, np.log(floor)])
        return np.array(starts)

    def _natural(self, theta):
        scale_m, beta_m, scale_n, beta_n, log_floor = theta
        return {"alpha": float(np.exp(scale_m - beta_m * self.x_ref_[0])), "beta": float(beta_m),
                "alpha_n": float(np.exp(scale_n - beta_n * self.x_ref_[1])), "beta_n": float(beta_n),
                "gamma": float(np.exp(log_floor))}
