r"""The textbook fit beside the engine's: ordinary least squares on log-log axes (statsmodels).

A power law :math:`\epsilon = \alpha m^{\beta}` is a straight line in logs,

.. math:: \log \epsilon_i = \log \alpha + \beta \log m_i + u_i,

so the fit every statistics course teaches is OLS of :math:`\log\epsilon` on
:math:`\log m`, with t-based intervals from :math:`\hat\sigma^2 (X^\top X)^{-1}`.
:func:`loglog_ols` runs it with :mod:`statsmodels` and returns its coefficient table, so a
reader can set the engine's robust fit (:class:`~scaling_core.fit.PowerLawFit`: Huber loss,
bootstrap intervals) beside the textbook one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm


def loglog_ols(m, eps, alpha: float = 0.05):
    """OLS of ``log(eps)`` on ``log(m)``: the statsmodels results object.

    Parameters
    ----------
    m, eps : array_like
        Positive sizes and errors (at least three points).
    alpha : float
        One minus the confidence level of the intervals.

    Returns
    -------
    statsmodels.regression.linear_model.RegressionResultsWrapper
        ``params`` are ``[log alpha, beta]``; ``summary()`` prints the usual table.
    """
    m, eps = np.asarray(m, dtype=float), np.asarray(eps, dtype=float)
    if m.shape != eps.shape or m.size < 3 or (m <= 0).any() or (eps <= 0).any():
        raise ValueError(f"parameters 'm' and 'eps' got {m.size} and {eps.size} values; allowed: "
                         "three or more positive pairs")
    return sm.OLS(np.log(eps), sm.add_constant(np.log(m))).fit()


def ols_table(m, eps, alpha: float = 0.05) -> pd.DataFrame:
    """The coefficient table of :func:`loglog_ols`: ``alpha`` and ``beta`` with their intervals and R^2.

    ``alpha`` is reported on the natural scale, :math:`e^{\\hat a}`, with its interval mapped the same way.
    """
    result = loglog_ols(m, eps, alpha)
    low, high = np.asarray(result.conf_int(alpha)).T
    return pd.DataFrame({
        "parameter": ["alpha", "beta"],
        "estimate": [float(np.exp(result.params[0])), float(result.params[1])],
        "ci_low": [float(np.exp(low[0])), float(low[1])],
        "ci_high": [float(np.exp(high[0])), float(high[1])],
        "std_error": [float(result.bse[0]), float(result.bse[1])],
        "r_squared": [float(result.rsquared)] * 2,
    })
