"""Extrapolation: fit the smaller shards, predict the larger ones, score in log error.

:class:`ValidatedExtrapolator` is the engine's extrapolator: it backtests every
candidate form on the curve's own largest training size (fit the rest, predict it) and
keeps the form that extrapolated best, following Alabdulmohsin et al. (2022)'s advice to
choose scaling-law estimators by extrapolation loss rather than fit quality.
:func:`extrapolation_scoreboard` runs it next to the baselines.
"""

from __future__ import annotations

import contextlib
import contextvars

import numpy as np
import pandas as pd

from scaling_core.fit._data import check_curve
from scaling_core.fit.baselines import BrokenPowerLawFit, LastValue, M3Fit, M4Fit, m1_estimator, m2_estimator
from scaling_core.fit.powerlaw import PowerLawConstantFit
from scaling_core.fit.regions import ThreeRegionFit


def log_error(predicted, observed) -> np.ndarray:
    r"""Extrapolation error in log space, :math:`|\log\hat\varepsilon - \log\varepsilon|`."""
    return np.abs(np.log(np.asarray(predicted, dtype=float)) - np.log(np.asarray(observed, dtype=float)))


_FITTED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("fitted_estimators", default=None)


@contextlib.contextmanager
def reused_fits():
    """Within this context, :func:`fitted` fits each estimator factory on each data set once.

    A scoreboard fits the same form on the same shards many times: the validated
    extrapolator backtests BNSL on the data the BNSL estimator is given at the next
    horizon, and its backtests at one horizon are its refits at the next. Every estimator
    is deterministic, so the fit made first (or the error it raised) is the fit.
    """
    token = _FITTED.set({})
    try:
        yield
    finally:
        _FITTED.reset(token)


def fitted(make_estimator, m, eps, repeats=None):
    """``make_estimator().fit(m, eps, repeats=repeats)``, reused for one factory and data set in :func:`reused_fits`."""
    memo = _FITTED.get()
    if memo is None:
        return make_estimator().fit(m, eps, repeats=repeats)
    key = (make_estimator, *(None if a is None else (np.asarray(a).dtype.str, np.asarray(a).tobytes())
                             for a in (m, eps, repeats)))
    if key not in memo:
        try:
            memo[key] = (make_estimator().fit(m, eps, repeats=repeats), None)
        except (ValueError, np.linalg.LinAlgError) as error:
            memo[key] = (None, error)
    estimator, error = memo[key]
    if error is not None:
        raise error
    return estimator


def holdout_error(make_estimator, m, eps, repeats=None, horizon: int = 1) -> pd.DataFrame:
    """Fit on all but the ``horizon`` largest sizes and score the prediction of each held-out size.

    Returns
    -------
    pandas.DataFrame
        One row per held-out size: ``m``, ``observed`` (mean error), ``predicted``, ``log_error``.
    """
    data = check_curve({"m": m}, eps, None, repeats, n_params=1)
    sizes, means = data.shard_means()
    if not 1 <= horizon < len(sizes):
        raise ValueError(f"horizon must be in [1, {len(sizes) - 1}] for {len(sizes)} sizes; got {horizon!r}")
    cut = np.sort(sizes[:, 0])[-horizon]
    train = data.sizes[:, 0] < cut
    estimator = fitted(make_estimator, data.sizes[train, 0], data.eps[train],
                       None if repeats is None else data.repeats[train])
    held_out = sizes[:, 0] >= cut
    predicted = np.ravel(estimator.predict(sizes[held_out, 0]))
    return pd.DataFrame({"m": sizes[held_out, 0], "observed": means[held_out], "predicted": predicted,
                         "log_error": log_error(predicted, means[held_out])})


CANDIDATES = {"power law + constant": PowerLawConstantFit, "three regions": ThreeRegionFit,
              "broken power law": BrokenPowerLawFit, "last value": LastValue}
"""Forms :class:`ValidatedExtrapolator` chooses from, by name."""


class ValidatedExtrapolator:
    """Choose the candidate form that best predicts the curve's own largest training size.

    Parameters
    ----------
    candidates : dict of str -> callable, optional
        Factories of estimators with ``fit(m, eps, repeats=...)`` and ``predict(m)``;
        :data:`CANDIDATES` by default.

    Attributes
    ----------
    backtest_errors_ : dict of str -> float
        Log error of each candidate when predicting the largest training size
        (``inf`` when the candidate could not be fitted on the rest).
    choice_ : str
        Name of the chosen candidate, refitted on every training size as ``estimator_``.
    """

    def __init__(self, candidates: dict | None = None):
        self.candidates = dict(CANDIDATES if candidates is None else candidates)
        if not self.candidates:
            raise ValueError("candidates must name at least one estimator")

    def fit(self, m, eps, weights=None, repeats=None):
        """Backtest every candidate, then refit the best one on all points. Returns self."""
        self.backtest_errors_ = {name: self._backtest(make, m, eps, repeats) for name, make in self.candidates.items()}
        self.choice_ = min(self.backtest_errors_, key=self.backtest_errors_.get)
        self.estimator_ = fitted(self.candidates[self.choice_], m, eps, repeats)
        return self

    @staticmethod
    def _backtest(make, m, eps, repeats) -> float:
        try:
            return float(holdout_error(make, m, eps, repeats, horizon=1)["log_error"].mean())
        except (ValueError, np.linalg.LinAlgError):
            return np.inf

    def predict(self, m):
        """Prediction of the chosen candidate."""
        return self.estimator_.predict(m)


ESTIMATORS = {"ours": ValidatedExtrapolator, "M1": m1_estimator, "M2": m2_estimator, "M3": M3Fit,
              "M4": M4Fit, "BNSL": BrokenPowerLawFit, "last value": LastValue}
"""Every estimator of the scoreboard, by name."""


def extrapolation_scoreboard(curves: dict, horizons=(1,), estimators: dict | None = None) -> pd.DataFrame:
    """Run every estimator on every curve and horizon; one tidy row per prediction.

    Parameters
    ----------
    curves : dict of str -> dict
        ``{name: {"m": sizes, "eps": errors, "repeats": labels or None}}`` (e.g. from
        :func:`scaling_core.data.fit_cases.external_curves`).
    horizons : iterable of int
        Numbers of largest sizes to hold out.
    estimators : dict of str -> callable, optional
        Estimator factories; :data:`ESTIMATORS` by default.

    Returns
    -------
    pandas.DataFrame
        Columns ``curve, horizon, estimator, m, observed, predicted, log_error, status``;
        a failed fit gives NaN predictions and the error message in ``status``.
    """
    estimators = ESTIMATORS if estimators is None else estimators
    frames = []
    with reused_fits():
        for (name, curve), horizon, (label, make) in _product(curves.items(), horizons, estimators.items()):
            try:
                frame = holdout_error(make, curve["m"], curve["eps"], curve.get("repeats"), horizon)
                frame["status"] = "ok"
            except (ValueError, np.linalg.LinAlgError) as error:
                frame = pd.DataFrame({"m": [np.nan], "observed": [np.nan], "predicted": [np.nan],
                                      "log_error": [np.nan], "status": [str(error)]})
            frames.append(frame.assign(curve=name, horizon=horizon, estimator=label))
    columns = ["curve", "horizon", "estimator", "m", "observed", "predicted", "log_error", "status"]
    return pd.concat(frames, ignore_index=True)[columns]


def _product(curves, horizons, estimators):
    estimators = list(estimators)
    for curve in curves:
        for horizon in horizons:
            for estimator in estimators:
                yield curve, horizon, estimator


def scoreboard_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean log error per estimator (columns) for each curve group (rows: text before ``/``)."""
    group = table["curve"].str.split("/").str[0]
    summary = table.assign(group=group).pivot_table(index="group", columns="estimator", values="log_error",
                                                    aggfunc="mean")
    summary.loc["all"] = table.pivot_table(columns="estimator", values="log_error", aggfunc="mean").iloc[0]
    return summary
