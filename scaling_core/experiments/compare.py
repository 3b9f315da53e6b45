r"""Comparing learning curves: shared exponents, shifts between curves, drift off a fit.

The paper's claim is that a better model or optimizer *shifts* a learning curve but
keeps its exponent. With two independent power-law fits
:math:`\epsilon_a(m) = \alpha_a m^{\beta_a}` and :math:`\epsilon_b(m) = \alpha_b m^{\beta_b}`,
each bootstrapped (``fit.bootstrap(n, seed)`` keeps its resampled parameters in
``bootstrap_samples_``), pairing the :math:`b`-th resamples of both gives draws of

.. math:: \Delta\beta^{*}_b = \beta^{*}_{a,b} - \beta^{*}_{b,b}, \qquad
          r^{*}_b(m) = \frac{\alpha^{*}_{a,b}\, m^{\beta^{*}_{a,b}}}{\alpha^{*}_{b,b}\, m^{\beta^{*}_{b,b}}},

whose percentile intervals say how far one curve lies below the other at size :math:`m`.
Whether one exponent fits both curves (the interval of :math:`\Delta\beta` covers 0) is
judged by combining the two fits' own bootstrap intervals (:func:`exponent_difference`),
which stays honest when a curve has only a handful of shards. The curves come from
different models trained on their own trials, so their resamples are independent and any
pairing is valid.
"""

from __future__ import annotations

from itertools import combinations

import altair as alt
import numpy as np
import pandas as pd

from scaling_core import charts
from scaling_core.experiments import curves


def fit_each(winners: dict[str, pd.DataFrame], metric: str, bootstrap: int, seed: int) -> dict[str, tuple]:
    """``{name: (learning-curve fit, model-size fit)}`` for each composite curve, both bootstrapped."""
    with np.errstate(over="ignore"):  # resamples of a flat size curve may overflow exp(): no harm
        return {name: (curves.fit_learning_curve(best, metric, bootstrap, seed),
                       curves.fit_model_size(best, bootstrap, seed))
                for name, best in winners.items()}


def exponent_table(winners: dict, fits: dict, labels: dict, unit: str) -> pd.DataFrame:
    """One row per curve: beta_g with its interval, fit error, span, and beta_p with its interval."""
    rows = []
    for name, (fit, size_fit) in fits.items():
        row = curves.fit_row(labels.get(name, name), fit, winners[name], unit)
        row.update(beta_p=size_fit.beta_p_, beta_p_low=size_fit.beta_p_ci_[0], beta_p_high=size_fit.beta_p_ci_[1])
        rows.append(row)
    return pd.DataFrame(rows)


def _samples(fit, name: str) -> np.ndarray:
    samples = getattr(fit, "bootstrap_samples_", None)
    if samples is None or name not in samples:
        raise ValueError(f"parameter 'fit' has no bootstrap samples of {name!r}; call .bootstrap(n, seed) first")
    return samples[name].to_numpy(float)


def _paired(fit_a, fit_b, name: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = _samples(fit_a, name), _samples(fit_b, name)
    n = min(len(a), len(b))
    return a[:n], b[:n]


def exponent_difference(fit_a, fit_b, level: float = 0.95, name: str = "beta",
                        method: str = "mover") -> dict:
    r"""The difference :math:`\Delta = \beta_a - \beta_b` of two fitted exponents with an interval.

    ``method="mover"`` (default) combines the two fits' own intervals (bootstrap-studentized
    after ``.bootstrap``) by the method of variance estimates recovery (Zou & Donner 2008):
    with :math:`(l_a, u_a)` and :math:`(l_b, u_b)` the intervals of two independent estimates,

    .. math:: L = \Delta - \sqrt{(\beta_a - l_a)^2 + (u_b - \beta_b)^2}, \quad
              U = \Delta + \sqrt{(u_a - \beta_a)^2 + (\beta_b - l_b)^2},

    so the interval of the difference is never narrower than its parts warrant.
    ``method="percentile"`` takes quantiles of the paired resampled differences
    :math:`\Delta^*_b` instead; with few shards those resamples are under-dispersed (a
    residual bootstrap of 5 points has 3 degrees of freedom) and the interval is too narrow.

    Parameters
    ----------
    fit_a, fit_b : CurveFit
        Bootstrapped fits (``PowerLawFit``, or ``ModelSizeFit`` with ``name="beta_p"``).
    level : float
        Coverage; ``"mover"`` uses the fits' intervals, which carry their own level (95 %).
    name : str
        The fitted quantity compared.
    method : {"mover", "percentile"}

    Returns
    -------
    dict
        ``difference``, ``low``, ``high`` and ``shared`` (the interval covers 0).
    """
    if method not in ("mover", "percentile"):
        raise ValueError(f"parameter 'method' got {method!r}; allowed: 'mover', 'percentile'")
    a, b = _paired(fit_a, fit_b, name)  # both must be bootstrapped
    beta_a, beta_b = getattr(fit_a, f"{name}_"), getattr(fit_b, f"{name}_")
    difference = beta_a - beta_b
    if method == "percentile":
        tail = (1 - level) / 2
        low, high = np.quantile(a - b, [tail, 1 - tail])
    else:
        (low_a, high_a), (low_b, high_b) = getattr(fit_a, f"{name}_ci_"), getattr(fit_b, f"{name}_ci_")
        low = difference - np.hypot(beta_a - low_a, high_b - beta_b)
        high = difference + np.hypot(high_a - beta_a, beta_b - low_b)
    return {"difference": float(difference), "low": float(low), "high": float(high),
            "shared": bool(low <= 0 <= high)}


def exponent_comparison(fits: dict, level: float = 0.95, name: str = "beta", method: str = "mover") -> pd.DataFrame:
    """:func:`exponent_difference` for every pair of ``fits`` (``{label: fit}``), one row per pair."""
    rows = [{"curve_a": a, "curve_b": b, **exponent_difference(fits[a], fits[b], level, name, method)}
            for a, b in combinations(fits, 2)]
    return pd.DataFrame(rows, columns=["curve_a", "curve_b", "difference", "low", "high", "shared"])


def curve_ratio(fit_a, fit_b, m: float, level: float = 0.95) -> dict:
    r"""How far curve ``a`` lies from curve ``b`` at size ``m``: :math:`\epsilon_a(m) / \epsilon_b(m)`.

    Returns ``ratio``, ``low`` and ``high`` (percentile interval of the paired resamples)
    and ``m``. A ratio below 1 means curve ``a`` is lower (better) at ``m``.
    """
    alpha_a, alpha_b = _paired(fit_a, fit_b, "alpha")
    beta_a, beta_b = _paired(fit_a, fit_b, "beta")
    draws = alpha_a / alpha_b * float(m) ** (beta_a - beta_b)
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    ratio = float(fit_a.predict(np.array([m]))[0] / fit_b.predict(np.array([m]))[0])
    return {"m": float(m), "ratio": ratio, "low": float(low), "high": float(high)}


def measured_ratio(best_a: pd.DataFrame, best_b: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per shard, ``metric`` of winner ``a`` over winner ``b`` (shards both curves have)."""
    joined = best_a.merge(best_b, on="shard_units", suffixes=("_a", "_b"))
    return pd.DataFrame({"shard_units": joined["shard_units"], f"{metric}_a": joined[f"{metric}_a"],
                         f"{metric}_b": joined[f"{metric}_b"],
                         "ratio": joined[f"{metric}_a"] / joined[f"{metric}_b"]})


def drift_table(best: pd.DataFrame, fit, metric: str) -> pd.DataFrame:
    r"""Every shard's winner beside the fitted law: ``excess`` = measured / predicted - 1.

    A positive ``excess`` that grows with the shard size is the drift above the power
    law that the paper reports for its largest word-LM shards (too little tuning or
    training there). ``in_fit`` says whether the shard entered the fit.
    """
    predicted = fit.predict(best["shard_units"].to_numpy(float))
    table = best[["shard_units", "family", "size", metric, "in_fit"]].copy()
    table["predicted"] = predicted
    table["excess"] = table[metric] / predicted - 1
    return table.reset_index(drop=True)


def table1(rows: list[dict]) -> pd.DataFrame:
    """The Table 1 comparison: one row per curve with the paper's exponent beside ours.

    Each input dict holds ``domain``, ``model``, ``paper_beta_g`` and a bootstrapped
    learning-curve fit under ``fit`` (and optionally a model-size fit under ``size_fit``
    and ``paper_beta_p``).
    """
    out = []
    for row in rows:
        fit, size_fit = row["fit"], row.get("size_fit")
        out.append({"domain": row["domain"], "model": row["model"],
                    "paper beta_g": row["paper_beta_g"], "our beta_g": fit.beta_,
                    "beta_g 95% low": fit.beta_ci_[0], "beta_g 95% high": fit.beta_ci_[1],
                    "paper beta_p": row.get("paper_beta_p"),
                    "our beta_p": None if size_fit is None else size_fit.beta_p_})
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------- charts
def labelled_curves(winners: dict, fits: dict, column: str, labels: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Winners and fitted lines of several curves in long form, ``curve`` holding each one's label.

    ``winners`` and ``fits`` are keyed alike (e.g. by family); ``labels`` maps keys to names.
    """
    points, lines = [], []
    for key, best in winners.items():
        label = labels.get(key, key)
        points.append(best.assign(curve=label))
        fitted = best.loc[best["in_fit"], "shard_units"]
        lines.append(curves.fit_curve(fits[key], fitted, column).assign(curve=label))
    return pd.concat(points, ignore_index=True), pd.concat(lines, ignore_index=True)


def model_sizes_chart(points: pd.DataFrame, lines: pd.DataFrame, unit: str, title: str) -> alt.Chart:
    """Best-fit parameter counts of several curves (``curve`` column) with their model-size laws."""
    return charts.learning_curve(points, "shard_units", "num_params", color="curve", fits=lines,
                                 x_title=f"training {unit}", y_title="parameters of the best model",
                                 title=title, tooltip=["shard_units", "curve", "size", "num_params"])


def drift_chart(drift: pd.DataFrame, metric: str, unit: str, highlight: pd.DataFrame | None = None,
                color: str = "in_fit") -> alt.Chart:
    """Each winner's distance from its fitted law (:func:`drift_table`), 0 = on the line.

    Rows of ``highlight`` (same columns ``shard_units`` and ``excess``) are ringed, e.g.
    a winner trained again with more tuning.
    """
    base = alt.Chart(drift).mark_point(filled=True, size=60).encode(
        x=alt.X("shard_units:Q", **charts.log_axis(f"training {unit}")),
        y=alt.Y("excess:Q", title="measured / fitted - 1", axis=alt.Axis(format="+%")),
        color=alt.Color(f"{color}:N", title=color.replace("_", " ")),
        tooltip=["shard_units", color, "size", metric, "excess"])
    rule = alt.Chart(pd.DataFrame({"excess": [0.0]})).mark_rule(strokeDash=[4, 3]).encode(y="excess:Q")
    layers = [rule, base]
    if highlight is not None and len(highlight):
        layers.append(alt.Chart(highlight).mark_point(size=220, color="black").encode(
            x="shard_units:Q", y="excess:Q", tooltip=[c for c in highlight.columns if c != "in_fit"]))
    return charts.finish(alt.layer(*layers).properties(title="Distance of each winner from its power law"))
