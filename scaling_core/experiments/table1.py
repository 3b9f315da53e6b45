r"""Paper Table 1 regenerated from the results stores of the domain chapters.

Every domain chapter module (``scaling_core.experiments.<chapter>``) lists the Table 1
rows it reproduces in ``TABLE1_ROWS``: domain, model, the sweep name in its results
store, the model family, the metric and its unit, the smallest shard its fits use and
the paper's exponents. :func:`collect` reads whatever stores exist for a profile and
says, row by row, what is missing; :func:`fit_curves` fits each curve's winners,

.. math::
    \epsilon(m) = \alpha\, m^{\beta_g}, \qquad s(m) = \alpha_p\, m^{\beta_p},

and :func:`table1` turns the fits into one table beside the paper's exponents.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from scaling_core import charts
from scaling_core.experiments import curves as steps
from scaling_core.experiments.verdicts import Verdict, judge
from scaling_core.sweep.shard_baselines import best_baseline, shard_baselines
from scaling_core.fit import ThreeRegionFit
from scaling_core.experiments.contract import chapter_module, configure, default_dataset, profile_row
from scaling_core.sweep.records import infer_stop_reasons
from scaling_core.sweep.store import Store

DOMAIN_CHAPTERS = ("nmt", "word_lm", "char_lm", "image", "speech")
"""Chapters reproducing the paper's Table 1 rows, in the paper's order."""

EXTRA_CHAPTERS = ("methodology",)
"""Chapters outside the paper whose curves join the table as extra rows."""

ROW_KEYS = ("domain", "model", "sweep", "family", "metric", "unit", "fit_from_units",
            "paper_beta_g", "paper_beta_p")
"""Keys every ``TABLE1_ROWS`` entry must have."""

MIN_POINTS = 3
"""Fewest shards a two-parameter power law is fitted through (two would fit exactly)."""


@dataclass
class Curve:
    """One Table 1 row's data: the row, its store and every trial of its sweep.

    Attributes
    ----------
    chapter : str
        The chapter key.
    row : dict
        The ``TABLE1_ROWS`` entry, with the sweep name formatted for the profile and seed.
    store : Path
        The results store the trials come from.
    trials : DataFrame
        Every trial of the sweep (all families).
    store_trials : DataFrame
        Every trial of every sweep in the store (for comparisons across models).
    complete : bool
        Whether the store records the sweep as finished.
    best : DataFrame
        The winners per shard (:func:`scaling_core.experiments.curves.winners`), set by
        :func:`fit_curves`, as are ``fit``, ``size_fit`` and ``note``.
    """

    chapter: str
    row: dict
    store: Path
    trials: pd.DataFrame
    store_trials: pd.DataFrame
    complete: bool
    profile: str = "smoke"
    best: pd.DataFrame = field(default_factory=pd.DataFrame)
    fit: Any = None
    size_fit: Any = None
    note: str = ""
    small_data_end: float | None = None
    baselines: pd.DataFrame | None = None
    verdict: Verdict | None = None

    @property
    def name(self) -> str:
        return f"{self.row['domain']} / {self.row['model']} / {self.metric}"

    @property
    def dataset(self) -> str:
        """The dataset of the store the trials come from (``<dataset>-<profile>.sqlite``)."""
        return self.store.name.removesuffix(f"-{self.profile}.sqlite")

    @property
    def metric(self) -> str:
        return self.row["metric"]

    @property
    def unit(self) -> str:
        return self.row["unit"]

    @property
    def fit_from(self) -> float:
        """The smallest shard (in units) the power-law fits use; a mapping is read per profile.

        Without one, a row with a ``best_guess`` starts where its three-region fit ends
        the small-data region (:func:`small_data_end`); any other row uses every shard.
        """
        value = self.row.get("fit_from_units")
        if value is None and self.small_data_end is not None:
            return self.small_data_end
        if isinstance(value, dict):
            value = value.get(self.profile)
        return 0.0 if value is None else float(value)


# ----------------------------------------------------------------------------- reading


def chapter_rows(chapter: str, profile: str = "smoke") -> tuple[list[dict], str]:
    """A chapter's Table 1 rows through the chapter contract, or ``([], reason)`` when it has none."""
    module = chapter_module(chapter)
    rows = module.TABLE1_ROWS
    if not rows:
        return [], "the chapter defines no Table 1 rows"
    bad = [sorted(set(ROW_KEYS) - set(row)) for row in rows if set(ROW_KEYS) - set(row)]
    if bad:
        raise ValueError(f"chapter {chapter!r}: TABLE1_ROWS lacks keys {bad[0]}")
    return [{"dataset": default_dataset(module, profile), **profile_row(row, profile)} for row in rows], ""


def read_store(path: Path) -> tuple[pd.DataFrame, dict[str, list[str]], set[str]]:
    """Every trial in the store at ``path``, each sweep's keys (as recorded, once complete) and the complete ones."""
    with Store(path) as store:
        frame = store.to_frame(history=True)  # for chapters that read metrics from the evaluations
        complete = {name: store.completed_record(name)["keys"] for name in store.completed_sweeps()}
        keys = {**store.members(), **complete}
    return frame, keys, set(complete)


def find_sweep(chapter: str, profile: str, row: dict, cache: dict, seed: int = 0) -> tuple[Curve | None, str]:
    """The curve of ``row`` from the chapter's store for the row's dataset (its contract's ``store``)."""
    config = configure(chapter, profile=profile, seed=seed, dataset=row["dataset"])
    path = chapter_module(chapter).store(config)
    if path is None or not path.exists():
        return None, f"no {profile} results store ({path.name if path else 'none'})"
    if path not in cache:
        cache[path] = read_store(path)
    frame, keys, complete = cache[path]
    if row["sweep"] not in keys:
        return None, f"no trials of sweep {row['sweep']!r} in {path.name}"
    trials = frame[frame["key"].isin(keys[row["sweep"]])].assign(sweep=row["sweep"]).reset_index(drop=True)
    if row.get("family") is not None and not (trials["family"] == row["family"]).any():
        return None, f"sweep {row['sweep']!r} trains no {row['family']} at this profile"
    spec = next((s for s in chapter_module(chapter).sweep_specs(config) if s.name == row["sweep"]), None)
    if spec is not None:
        trials = infer_stop_reasons(trials, spec.trainer)
    reader = getattr(chapter_module(chapter), "read_metrics", None)  # the chapter's own reading, if any
    trials = reader(trials, config) if reader else trials.drop(columns="history", errors="ignore")
    complete_sweep = row["sweep"] in complete
    baselines = shard_baselines(spec, path) if spec is not None and complete_sweep else None
    return Curve(chapter, row, path, trials, frame, complete_sweep, profile, baselines=baselines), ""


def collect(profile: str, seed: int = 0,
            chapters: tuple[str, ...] = DOMAIN_CHAPTERS + EXTRA_CHAPTERS) -> tuple[list[Curve], pd.DataFrame]:
    """Read every Table 1 row of ``chapters`` from the ``profile`` stores.

    Returns
    -------
    curves : list of Curve
        The rows whose sweep has trials in a store.
    missing : DataFrame
        One row per chapter or Table 1 row that could not be read: ``chapter``,
        ``curve`` (empty for a whole chapter) and ``reason``.
    """
    curves, missing, cache = [], [], {}
    for chapter in chapters:
        rows, reason = chapter_rows(chapter, profile)
        if reason:
            missing.append({"chapter": chapter, "curve": "", "reason": reason})
        for row in rows:
            row = {**row, "sweep": row["sweep"].format(profile=profile, seed=seed)}
            curve, reason = find_sweep(chapter, profile, row, cache, seed)
            if curve is None:
                missing.append({"chapter": chapter, "curve": f"{row['domain']} / {row['model']} / {row['metric']}",
                                "reason": reason})
            else:
                curves.append(curve)
    return curves, pd.DataFrame(missing, columns=["chapter", "curve", "reason"])


# ----------------------------------------------------------------------------- fitting


def fit_curves(curves: list[Curve], bootstrap: int = 1000, seed: int = 0) -> list[Curve]:
    """Pick each curve's winners and fit its learning curve and model-size law (in place).

    A curve with fewer than :data:`MIN_POINTS` shards at or above its ``fit_from`` keeps
    ``fit = None`` and says so in ``note``; a bootstrap that cannot run (an exact fit, for
    instance) leaves the asymptotic intervals and says so too.
    """
    for curve in curves:
        if curve.row.get("fit_from_units") is None and curve.row.get("best_guess"):
            curve.small_data_end = small_data_end(curve)
        best = steps.winners(curve.trials, curve.metric, curve.row.get("family"), curve.fit_from)
        bars = None if curve.baselines is None else best_baseline(curve.baselines, curve.metric)
        curve.best, curve.verdict = judge(best, curve.metric, bars)
        fitted = int(curve.best["in_fit"].sum())
        if fitted < MIN_POINTS:
            curve.note = f"not enough points: {fitted} shard(s) from {curve.fit_from:g} {curve.unit} on"
            continue
        curve.fit, note = _fit(steps.fit_learning_curve, curve.best, curve.metric, bootstrap, seed)
        curve.size_fit, size_note = _fit(steps.fit_model_size, curve.best, None, bootstrap, seed)
        curve.note = "; ".join(n for n in (note, size_note) if n)
    return curves


def small_data_end(curve: Curve) -> float | None:
    """Where a three-region fit with the row's ``best_guess`` ends the small-data region.

    Moved down to the largest :data:`MIN_POINTS` shards when fewer lie past it; ``None``
    when the fit cannot be made (every shard is then used).
    """
    best = steps.winners(curve.trials, curve.metric, curve.row.get("family"))
    units = best["shard_units"]
    if len(best) < MIN_POINTS + 1:
        return None
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            fit = ThreeRegionFit(best_guess=curve.row["best_guess"]).fit(units.to_numpy(float),
                                                                         best[curve.metric].to_numpy(float))
    except (ValueError, np.linalg.LinAlgError):
        return None
    start = fit.small_data_end_
    if not np.isfinite(start) or (units >= start).sum() < MIN_POINTS:
        start = units.nlargest(MIN_POINTS).min()
    return float(start)


def _fit(fitter, best, metric, bootstrap, seed):
    """Run ``fitter`` with a bootstrap, falling back to asymptotic intervals if it fails."""
    args = (best, metric) if metric else (best,)
    with np.errstate(all="ignore"):  # a degenerate curve's interval may overflow to inf: the table shows it
        try:
            return fitter(*args, bootstrap=bootstrap, seed=seed), ""
        except (ValueError, np.linalg.LinAlgError) as error:
            return fitter(*args, bootstrap=0, seed=seed), f"asymptotic intervals ({error})"


def optimizers(trials: pd.DataFrame) -> str:
    """The optimizers of ``trials``, from their stored configurations (Adam when unnamed)."""
    names = {json.loads(c).get("optimizer", "adam") if isinstance(c, str) else "adam"
             for c in trials.get("config", pd.Series(dtype=object))}
    return ", ".join(sorted(names)) or "adam"


def table1_row(curve: Curve) -> dict:
    """One row of the regenerated Table 1 (NaN exponents when the curve could not be fitted)."""
    best, row = curve.best, curve.row
    in_fit = best[best["in_fit"]] if len(best) else best
    span = in_fit["shard_units"] if len(in_fit) else pd.Series([np.nan])
    params = best["num_params"] if len(best) else pd.Series([np.nan])
    entry = {"chapter": curve.chapter, "domain": row["domain"], "model": row["model"],
             "optimizer": optimizers(best), "metric": curve.metric, "unit": curve.unit,
             "shards": len(best), "fit_shards": len(in_fit), "trials": len(curve.trials),
             "min_units": span.min(), "max_units": span.max(),
             "decades": float(np.log10(span.max() / span.min())) if len(in_fit) else np.nan,
             "min_params": params.min(), "max_params": params.max(),
             "paper_beta_g": row["paper_beta_g"], "paper_beta_p": row["paper_beta_p"],
             "complete": curve.complete, "note": curve.note}
    entry.update(_exponents(curve.fit, "beta", "beta_g"))
    entry.update(_exponents(curve.size_fit, "beta_p", "beta_p"))
    entry["rel_rmse"] = curve.fit.rel_rmse_ if curve.fit is not None else np.nan
    verdict = curve.verdict
    entry.update(verdict=verdict.kind if verdict else "not judged", verdict_text=verdict.text if verdict else "",
                 capped_share=verdict.capped_share if verdict else np.nan,
                 improving_share=verdict.improving_share if verdict else np.nan,
                 below_baseline=(np.nan if verdict is None or verdict.below_baseline is None
                                 else verdict.below_baseline / max(verdict.winners, 1)))
    return entry


def _exponents(fit, attribute: str, column: str) -> dict:
    if fit is None:
        return {column: np.nan, f"{column}_low": np.nan, f"{column}_high": np.nan}
    low, high = getattr(fit, f"{attribute}_ci_")
    return {column: getattr(fit, f"{attribute}_"), f"{column}_low": low, f"{column}_high": high}


def table1(curves: list[Curve]) -> pd.DataFrame:
    """The regenerated Table 1: one row per fitted curve, the paper's exponents beside ours.

    Columns include ``beta_g`` with its 95 % interval (``beta_g_low``, ``beta_g_high``),
    ``beta_p`` likewise, the data span of the fit (``min_units``, ``max_units``,
    ``decades``), the winners' parameter counts and the paper's ``paper_beta_g``,
    ``paper_beta_p``; ``paper_inside`` says whether the paper's exponent lies inside our
    interval. The verdict columns (:mod:`~scaling_core.experiments.verdicts`): ``verdict``
    (its kind) and ``verdict_text``, ``capped_share`` and ``improving_share`` of the judged
    winners and ``below_baseline`` (the share of winners clearly below their best baseline).
    ``agrees`` counts a row as agreeing with the paper only when its curve measured a power
    law (a region of at least one decade, converged winners), its interval excludes zero and
    holds the paper's exponent.
    """
    columns = ["chapter", "domain", "model", "optimizer", "metric", "unit", "beta_g", "beta_g_low",
               "beta_g_high", "paper_beta_g", "beta_p", "beta_p_low", "beta_p_high", "paper_beta_p",
               "min_units", "max_units", "decades", "shards", "fit_shards", "trials", "min_params",
               "max_params", "rel_rmse", "verdict", "verdict_text", "capped_share", "improving_share",
               "below_baseline", "complete", "note"]
    table = pd.DataFrame([table1_row(c) for c in curves], columns=columns)
    paper = pd.to_numeric(table["paper_beta_g"], errors="coerce")
    table["paper_inside"] = (paper >= table["beta_g_low"]) & (paper <= table["beta_g_high"])
    table["excludes_zero"] = table["beta_g_high"] < 0
    table["agrees"] = table["paper_inside"] & table["excludes_zero"] & (table["verdict"] == "measured")
    return table


def display_table(table: pd.DataFrame):
    """Table 1 for reading (a :class:`~scaling_core.formatting.Table`, no index): exponents as
    ``value (low to high)``, spans as ``min to max unit (decades)``, "not fitted" where no fit was made."""
    from scaling_core import formatting

    def paper(name):
        return [formatting.given(v) for v in table[name]]

    def estimate(name):
        return [formatting.estimate(v, lo, hi) for v, lo, hi in zip(table[name], table[f"{name}_low"], table[f"{name}_high"])]

    span = [f"{formatting.count(lo)} to {formatting.count(hi)} {u} ({formatting.number(d, 2)} decades)"
            if np.isfinite(d) else formatting.MISSING
            for lo, hi, u, d in zip(table["min_units"], table["max_units"], table["unit"], table["decades"])]
    scale = [formatting.interval(lo, hi) if np.isfinite(hi) and lo != hi else formatting.count(hi)
             for lo, hi in zip(table["min_params"].astype(float), table["max_params"].astype(float))]
    frame = pd.DataFrame({"domain": table["domain"], "model (optimizer)": [
                              f"{m} ({o})" if o else str(m) for m, o in zip(table["model"], table["optimizer"])],
                          "metric": table["metric"], "our beta_g (95 % interval)": estimate("beta_g"),
                          "paper beta_g": paper("paper_beta_g"), "our beta_p (95 % interval)": estimate("beta_p"),
                          "paper beta_p": paper("paper_beta_p"), "data span of the fit": span,
                          "parameters of the winners": scale, "verdict": table["verdict_text"],
                          "trials": table["trials"]})
    return formatting.display(frame, empty="No chapter's results store holds a Table 1 curve at this profile.")


def exponent_chart(table: pd.DataFrame) -> alt.Chart:
    """Our beta_g with its 95 % interval (bars) beside the paper's (diamonds), one row per curve."""
    fitted = table.dropna(subset=["beta_g"]).assign(curve=lambda t: t["domain"] + " / " + t["model"] + " / " + t["metric"])
    y = alt.Y("curve:N", title=None, sort=None, axis=charts.category_axis(fitted["curve"]))
    ours = alt.Chart(fitted).encode(y=y, tooltip=["curve", "beta_g", "beta_g_low", "beta_g_high", "paper_beta_g"])
    bars = ours.mark_rule(strokeWidth=2).encode(x=alt.X("beta_g_low:Q", title="learning-curve exponent beta_g"),
                                                x2="beta_g_high:Q")
    dots = ours.mark_point(filled=True, size=70).encode(x="beta_g:Q")
    paper = alt.Chart(fitted.dropna(subset=["paper_beta_g"])).mark_point(shape="diamond", size=90, color="#d62728").encode(
        y=y, x="paper_beta_g:Q", tooltip=["curve", "paper_beta_g"])
    return charts.finish((bars + dots + paper).properties(
        title="beta_g: ours (dot, 95 % interval) and the paper's (diamond)", width=300,
        height=charts.category_step(fitted["curve"])))
