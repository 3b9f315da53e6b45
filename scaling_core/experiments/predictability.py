r"""Predictability and model exploration: the paper's Section 5 promises, measured.

:func:`scoreboard` holds out each curve's largest shards, fits the rest with the paper's
power law and the fitting engine's estimators (ours, last value, M1-M4, BNSL), and scores
each prediction by its relative error
:math:`e^{|\log\hat\epsilon - \log\epsilon|} - 1` and, where the shard has a baseline
:math:`b` that the curve beats, by its error on what was learned,
:math:`|\hat\epsilon - \epsilon| / (b - \epsilon)`: a flat curve sitting on a large offset
is "predicted within 1 %" in raw terms while its learned part is not predicted at all. :func:`ranking_table` asks whether
the ranking of models on a small shard holds on the largest (Spearman and Kendall rank
correlations over the models trained on both).
"""

from __future__ import annotations

import warnings

import altair as alt
import numpy as np
import pandas as pd
from scipy import stats

from scaling_core import charts
from scaling_core.experiments.table1 import Curve
from scaling_core.fit import ESTIMATORS, PowerLawFit, extrapolation_scoreboard
from scaling_core.fit.cache import cached
from scaling_core.sweep.shard_baselines import best_baseline



class FitRegionPowerLaw:
    """The paper's own extrapolation: a power law through the shards from ``fit_from`` on."""

    def __init__(self, fit_from: float):
        self.fit_from = fit_from

    def fit(self, m, eps, weights=None, repeats=None):
        """Fit :math:`\\alpha m^{\\beta_g}` to the points with ``m >= fit_from``. Returns self."""
        m, eps = np.asarray(m, float), np.asarray(eps, float)
        keep = m >= self.fit_from
        self.estimator_ = PowerLawFit().fit(m[keep], eps[keep])
        return self

    def predict(self, m):
        return self.estimator_.predict(m)


def estimators(names=None) -> dict:
    """The engine's estimators named in ``names`` (all of :data:`~scaling_core.fit.ESTIMATORS` for ``None``)."""
    if names is None:
        return dict(ESTIMATORS)
    unknown = [n for n in names if n not in ESTIMATORS]
    if unknown:
        raise ValueError(f"parameter 'estimators' got {unknown}; allowed: {', '.join(ESTIMATORS)}")
    return {name: ESTIMATORS[name] for name in names}


def scoreboard(curves: list[Curve], horizons=(1, 2), estimators: dict | None = None) -> pd.DataFrame:
    """Hold out each curve's ``horizon`` largest shards, fit the rest, score every prediction.

    Every estimator sees the same shards (all winners below the held-out ones); the
    paper's method, ``paper (power law)``, uses only those from the curve's ``fit_from``.

    Returns
    -------
    DataFrame
        :func:`scaling_core.fit.extrapolation_scoreboard`'s rows with ``decades_ahead``
        (log10 of the predicted size over the largest training size) and
        ``relative_error`` (:math:`e^{|\\log\\hat\\epsilon - \\log\\epsilon|} - 1`).
    """
    frames = []
    for curve in curves:
        sizes = np.sort(curve.best["shard_units"].to_numpy(float))
        usable = [h for h in horizons if h < len(sizes) - 1]
        if not usable:
            continue
        board = _curve_scoreboard(curve, usable, ESTIMATORS if estimators is None else estimators)
        largest_train = {h: sizes[-h - 1] for h in usable}
        board["decades_ahead"] = np.log10(board["m"] / board["horizon"].map(largest_train))
        board["baseline"] = board["m"].map(_baselines_by_size(curve))
        frames.append(board)
    columns = ["curve", "horizon", "estimator", "m", "observed", "predicted", "log_error", "status", "decades_ahead",
               "baseline"]
    board = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    board["relative_error"] = np.expm1(board["log_error"].astype(float))
    learned = board["baseline"].astype(float) - board["observed"].astype(float)
    board["learned_error"] = np.where(learned > 0, (board["predicted"].astype(float) - board["observed"].astype(float)).abs()
                                      / learned.where(learned > 0), np.nan)
    return board


def _curve_scoreboard(curve: Curve, horizons: list[int], estimators: dict) -> pd.DataFrame:
    """:func:`~scaling_core.fit.extrapolation_scoreboard` of one curve with the paper's method first.

    Kept on disk (:mod:`scaling_core.fit.cache`), keyed by the curve's shards and errors,
    its ``fit_from``, the horizons, the estimators (by name and factory) and the code;
    estimators given as lambdas or local functions cannot be keyed and are fitted afresh.
    """
    chosen = {"paper (power law)": lambda c=curve: FitRegionPowerLaw(c.fit_from), **estimators}
    data = {"m": curve.best["shard_units"].to_numpy(float), "eps": curve.best[curve.metric].to_numpy(float)}

    def compute():
        with np.errstate(all="ignore"):  # failed fits are recorded in ``status``
            return extrapolation_scoreboard({curve.name: data}, horizons, chosen)

    factories = {label: f"{getattr(make, '__module__', '<')}.{getattr(make, '__qualname__', '<')}"
                 for label, make in estimators.items()}
    if any("<" in name for name in factories.values()):
        return compute()
    inputs = {"curve": curve.name, **data, "fit_from": float(curve.fit_from), "horizons": list(horizons),
              "estimators": factories}
    modules = tuple(dict.fromkeys([__name__, *(make.__module__ for make in estimators.values())]))
    return cached("scoreboard", inputs, compute, modules)


def _baselines_by_size(curve: Curve) -> dict:
    """``{shard_units: best baseline of the curve's metric}`` (empty without baselines)."""
    if curve.baselines is None or curve.baselines.empty:
        return {}
    bars = best_baseline(curve.baselines, curve.metric)
    units = curve.baselines.drop_duplicates("shard").set_index("shard")["shard_units"]
    return dict(zip(bars["shard"].map(units), bars["baseline"]))


def scoreboard_summary(board: pd.DataFrame, column: str = "relative_error") -> pd.DataFrame:
    """Mean ``column`` (%) per curve and horizon (rows) and estimator (columns), with the mean over all.

    ``column`` is ``"relative_error"`` or ``"learned_error"`` (curves without a baseline they
    beat have none).
    """
    if column not in ("relative_error", "learned_error"):
        raise ValueError(f"parameter 'column' got {column!r}; allowed: relative_error, learned_error")
    percent = board.assign(**{column: 100 * board[column].astype(float)}).dropna(subset=[column])
    if percent.empty:
        return pd.DataFrame()
    table = percent.pivot_table(index=["curve", "horizon"], columns="estimator", values=column, aggfunc="mean")
    table.loc[("all curves", "all"), :] = percent.pivot_table(columns="estimator", values=column,
                                                              aggfunc="mean").iloc[0]
    return table


def scoreboard_display(summary: pd.DataFrame, empty: str = "No curve is long enough to hold out its largest shard."):
    """:func:`scoreboard_summary` for reading: curve and held-out shards as columns, errors in
    percent to three significant digits, "–" where an estimator could not be fitted."""
    from scaling_core import formatting

    frame = summary.reset_index().rename(columns={"horizon": "shards held out"}) if len(summary) else summary
    frame = frame.rename_axis(columns=None) if len(frame) else frame
    return formatting.display(frame, empty=empty, max_rows=None)


def scoreboard_chart(board: pd.DataFrame) -> alt.Chart:
    """Relative prediction error of every estimator, per curve (rows), one panel per horizon (stacked).

    The panels stack so that the curves' full names fit beside them in the book's column.
    """
    ok = board[board["status"] == "ok"].groupby(["curve", "horizon", "estimator"], as_index=False)[
        ["relative_error", "decades_ahead"]].mean()
    return charts.finish(alt.Chart(ok).mark_rect().encode(
        x=alt.X("estimator:N", title=None, axis=alt.Axis(labelAngle=-45, labelLimit=120)),
        y=alt.Y("curve:N", title=None, axis=charts.category_axis(ok["curve"], most=320)),
        color=alt.Color("relative_error:Q", title="relative error", scale=alt.Scale(scheme="orangered", type="sqrt")),
        tooltip=["curve", "horizon", "estimator", alt.Tooltip("relative_error:Q", format=".1%"),
                 alt.Tooltip("decades_ahead:Q", format=".2f")],
    ).properties(width=210, height=charts.category_step(ok["curve"], most=320)).facet(row=alt.Row("horizon:O", title="largest shards held out")),
        what="scoreboard")


# ----------------------------------------------------------------------------- model exploration


def model_scores(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Best ``metric`` of each model (family and size) on each shard, over its optimizer draws."""
    done = trials[(trials["status"] == "done")]
    if metric not in done or done.empty:
        return pd.DataFrame(columns=["shard_units", "family", "size", "model", metric])
    scores = done.groupby(["shard_units", "family", "size"], as_index=False)[metric].min()
    scores["model"] = scores["family"].astype(str) + " " + scores["size"].map("{:g}".format)
    return scores


def ranking_agreement(scores: pd.DataFrame, metric: str, min_models: int = 3) -> pd.DataFrame:
    """Rank correlation between each smaller shard's model ranking and the largest shard's.

    Over the models trained on both shards: Spearman's rho and Kendall's tau, whether the
    best model of the small shard is the best at the largest, and whether the families
    keep their order (each family by its best model).
    """
    shards = np.sort(scores["shard_units"].unique())
    rows = []
    for small in shards[:-1]:
        pair = scores[scores["shard_units"].isin([small, shards[-1]])]
        wide = pair.pivot_table(index="model", columns="shard_units", values=metric).dropna()
        row = {"shard_units": small, "largest_units": shards[-1], "models": len(wide)}
        if len(wide) >= min_models:
            with warnings.catch_warnings():  # tied scores give NaN, which the table shows
                warnings.simplefilter("ignore", stats.ConstantInputWarning)
                row["spearman"] = stats.spearmanr(wide[small], wide[shards[-1]]).statistic
                row["kendall"] = stats.kendalltau(wide[small], wide[shards[-1]]).statistic
            row["best_holds"] = wide[small].idxmin() == wide[shards[-1]].idxmin()
        row["family_order_holds"] = _family_order_holds(pair, metric, small, shards[-1])
        rows.append(row)
    return pd.DataFrame(rows)


def _family_order_holds(pair: pd.DataFrame, metric: str, small: float, largest: float):
    """Whether the families rank the same on both shards (None with fewer than two families)."""
    best = pair.groupby(["shard_units", "family"])[metric].min().unstack("family").dropna(axis=1)
    if best.shape[1] < 2 or len(best) < 2:
        return None
    return list(best.loc[small].sort_values().index) == list(best.loc[largest].sort_values().index)


def ranking_table(curves: list[Curve], min_models: int = 3) -> pd.DataFrame:
    """:func:`ranking_agreement` for every store and metric among ``curves`` (each counted once)."""
    frames, seen = [], set()
    for curve in curves:
        key = (curve.store, curve.metric)
        if key in seen:
            continue
        seen.add(key)
        agreement = ranking_agreement(model_scores(curve.store_trials, curve.metric), curve.metric, min_models)
        frames.append(agreement.assign(chapter=curve.chapter, metric=curve.metric))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def ranking_display(table: pd.DataFrame, min_models: int = 3):
    """:func:`ranking_table` for reading: only the shard pairs with a rank correlation, and one
    sentence counting the pairs without one (fewer than ``min_models`` models in common)."""
    from scaling_core import formatting

    rated = table.dropna(subset=["spearman"]) if "spearman" in table else table.iloc[0:0]
    unrated = len(table) - len(rated)
    note = (f"{formatting.count(unrated)} of {formatting.count(len(table))} shard pairs share fewer than "
            f"{min_models} models with their largest shard and have no rank correlation; they are not listed."
            if unrated else "")
    columns = {"chapter": "chapter", "metric": "metric", "shard_units": "ranking shard",
               "largest_units": "largest shard", "models": "models in common", "spearman": "Spearman",
               "kendall": "Kendall", "best_holds": "best model holds", "family_order_holds": "families keep order"}
    empty = (f"No shard pair shares {min_models} models with its largest shard, so no rank correlation is "
             f"measured ({formatting.count(len(table))} pairs read).")
    return formatting.display(rated, columns=columns, note=note, empty=empty)


def ranking_chart(table: pd.DataFrame) -> alt.Chart:
    """Spearman's rho against how many times smaller the ranking shard is than the largest."""
    rows = table.dropna(subset=["spearman"]).assign(ratio=lambda t: t["largest_units"] / t["shard_units"])
    return charts.finish(alt.Chart(rows).mark_line(point=True).encode(
        x=alt.X("ratio:Q", **charts.log_axis("largest shard / ranking shard")),
        y=alt.Y("spearman:Q", title="Spearman rank correlation", scale=alt.Scale(domain=[-1, 1])),
        color=alt.Color("chapter:N"), tooltip=["chapter", "metric", "shard_units", "models", "spearman", "kendall"],
    ).properties(title="Do rankings on small shards hold on the largest?"), what="rank agreement")
