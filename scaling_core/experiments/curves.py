"""What every domain chapter does with a sweep: run it, pick winners, fit, chart.

A chapter's own module (``scaling_core.experiments.<chapter>``) holds its settings and
its particular tables; the steps shared by all of them live here, so each chapter reads
the same way: ``trials = run(...)``, ``best = winners(trials, metric)``,
``fit = fit_learning_curve(best, metric)``, ``learning_curve_chart(best, fit, metric)``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

from scaling_core import charts
from scaling_core.experiments import verdicts
from scaling_core.fit import ModelSizeFit, PowerLawConstantFit, PowerLawFit
from scaling_core.sweep.executors import local_executor
from scaling_core.sweep.run import best_per_shard, run_sweep
from scaling_core.sweep.shard_baselines import best_baseline
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.store import Store

FITTED = verdicts.FITTED
"""Label of the shards a fit uses (and of the fitted curve) in charts."""

SMALL_DATA = "small-data region"
"""Label of the shards below ``fit_from``, left out of the power-law fit."""

UNMEASURED = "zero error on V"
"""Label of winners whose metric is zero: below what V can resolve, off a log-log fit."""


PROGRESS_ENV = "SCALING_CORE_PROGRESS"
"""Set to ``1`` (``scaling-core chapter`` and ``book`` do) to show every chapter's sweep progress."""


def show_progress(progress: bool) -> bool:
    """``progress``, or whether :data:`PROGRESS_ENV` asks for progress bars."""
    return bool(progress) or os.environ.get(PROGRESS_ENV) == "1"


def run(spec: SweepSpec, store: str | Path, device: str = "cpu", workers: int = 1,
        history: bool = False, progress: bool = False) -> pd.DataFrame:
    """Run, resume or only read ``spec`` in ``store`` with local worker processes.

    ``progress`` (or :data:`PROGRESS_ENV`) shows trials done and the ETA on the terminal.

    On a CPU ``workers`` processes (capped at the machine's cores; one trains
    in-process); on a GPU the executor's own processes per device and stacks
    (:func:`~scaling_core.sweep.executors.local_executor`).
    """
    with local_executor(device, workers) as executor:
        return run_sweep(spec, store, executor, progress=show_progress(progress), history=history)


def run_all(specs: list[SweepSpec], store: str | Path, device: str = "cpu", workers: int = 1,
            progress: bool = False) -> list[pd.DataFrame]:
    """Run independent sweeps (none reads another's results) together; their trials, in ``specs`` order.

    A model search's shards follow one another, so one search alone leaves workers idle at
    every shard boundary; sweeps side by side fill them. (A sweep that needs no winner, such
    as one fixed size, trains all its shards at once and fills the workers by itself.) On a
    CPU the ``workers`` (capped at the cores) are split among the sweeps running at once; on
    a GPU each sweep gets its own processes and stacks on the device. Every trial's result is
    the one it has when its sweep runs alone.
    """
    if len(specs) <= 1:
        return [run(spec, store, device, workers, progress=progress) for spec in specs]
    with Store(store) as opened:  # tasks of unfinished sweeps are built here, once: data generators seed
        for spec in specs:        # process-wide random states, and side by side they would interleave
            if opened.completed_spec(spec.name) is None:
                spec.task.build()
                spec.code_files()
    gpu = str(device).startswith("cuda")
    budget = max(1, min(int(workers), os.cpu_count() or 1))
    together = len(specs) if gpu else min(len(specs), budget)
    each = 1 if gpu else max(1, budget // together)

    def one(spec: SweepSpec) -> pd.DataFrame:
        executor = local_executor(device, each, trials_per_device=1 if gpu else None, pool=True)
        with executor:
            return run_sweep(spec, store, executor, progress=show_progress(progress))

    with ThreadPoolExecutor(max_workers=together) as pool:
        return list(pool.map(one, specs))


def winners(trials: pd.DataFrame, metric: str, family: str | None = None,
            fit_from: float = 0) -> pd.DataFrame:
    """Each shard's best trial by ``metric`` (of ``family`` if given): a composite curve.

    ``in_fit`` marks the shards of at least ``fit_from`` units, which the power-law fits
    use; smaller shards are labelled as the small-data region. A winner whose metric is
    zero (no mistake on V, e.g. top-5 error on ten classes) is left out of the fit too:
    V cannot resolve its error, and a power law on log axes cannot pass through it.
    """
    rows = trials if family is None else trials[trials["family"] == family]
    best = best_per_shard(rows, metric, by_family=family is not None).copy()
    measured = best[metric] > 0
    best["in_fit"] = (best["shard_units"] >= fit_from) & measured
    best["region"] = np.where(best["in_fit"], FITTED, np.where(measured, SMALL_DATA, UNMEASURED))
    return best.reset_index(drop=True)


def judged_winners(trials: pd.DataFrame, metric: str, baselines: pd.DataFrame | None = None,
                   family: str | None = None, fit_from: float = 0, small_data_end: float | None = None,
                   irreducible_start: float | None = None) -> tuple[pd.DataFrame, verdicts.Verdict]:
    """:func:`winners` with their power-law region and the curve's verdict (:func:`~scaling_core.experiments.verdicts.judge`).

    ``baselines`` is the sweep's :func:`~scaling_core.sweep.shard_baselines.shard_baselines`
    frame; the best one of ``metric`` on each shard is the bar a winner must clearly beat.
    The returned winners' ``in_fit`` is the power-law region when it has at least three shards.
    """
    return judge_metric(winners(trials, metric, family, fit_from), metric, baselines, small_data_end,
                        irreducible_start)


def judge_metric(best: pd.DataFrame, metric: str, baselines: pd.DataFrame | None = None,
                 small_data_end: float | None = None, irreducible_start: float | None = None,
                 ) -> tuple[pd.DataFrame, verdicts.Verdict]:
    """The verdict of ``metric`` on given winners (e.g. the error of winners chosen by their loss)."""
    bars = None if baselines is None else best_baseline(baselines, metric)
    return verdicts.judge(best, metric, bars, small_data_end, irreducible_start)


def baseline_lines(baselines: pd.DataFrame | None, metric: str) -> pd.DataFrame:
    """The baselines of ``metric`` as chart lines: ``shard_units``, ``metric`` and the ``baseline`` name."""
    if baselines is None or baselines.empty:
        return pd.DataFrame(columns=["shard_units", metric, "baseline"])
    rows = baselines[baselines["metric"] == metric]
    return rows.rename(columns={"value": metric})[["shard_units", metric, "baseline"]].reset_index(drop=True)


def fixed_size_curve(trials: pd.DataFrame, metric: str, family: str, size: float) -> pd.DataFrame:
    """The best trial of one model size on every shard (a fixed-size learning curve)."""
    rows = trials[(trials["family"] == family) & (trials["size"] == size)]
    best = best_per_shard(rows, metric).copy()
    best["in_fit"], best["region"] = True, FITTED
    return best.reset_index(drop=True)


def fit_learning_curve(best: pd.DataFrame, metric: str, bootstrap: int = 1000, seed: int = 0,
                       constant: bool = False):
    r"""Fit the winners' ``metric`` against shard size, with bootstrap intervals.

    :math:`\epsilon(m) = \alpha m^{\beta_g}` (the composite curve), or with ``constant``
    :math:`\epsilon(m) = \alpha m^{\beta_g} + \gamma` (a fixed-size model). Only rows
    with ``in_fit`` count.
    """
    rows = best[best["in_fit"]]
    fit = (PowerLawConstantFit() if constant else PowerLawFit()).fit(
        rows["shard_units"].to_numpy(float), rows[metric].to_numpy(float))
    return fit.bootstrap(n=bootstrap, seed=seed) if bootstrap else fit


def fit_model_size(best: pd.DataFrame, bootstrap: int = 1000, seed: int = 0):
    r"""Model-size law :math:`s(m) = \alpha_p m^{\beta_p}` through the winners' parameter counts."""
    rows = best[best["in_fit"]]
    fit = ModelSizeFit().fit(rows["shard_units"].to_numpy(float), rows["num_params"].to_numpy(float))
    return fit.bootstrap(n=bootstrap, seed=seed) if bootstrap else fit


def fit_curve(fit, sizes: pd.Series, column: str, points: int = 50, label: str = FITTED) -> pd.DataFrame:
    """A fitted law evaluated on a dense log grid spanning ``sizes``."""
    grid = np.geomspace(float(sizes.min()), float(sizes.max()), points)
    return pd.DataFrame({"shard_units": grid, column: fit.predict(grid), "region": label})


def learning_curve_chart(best: pd.DataFrame, fit, metric: str, unit: str, title: str = "",
                         baselines: pd.DataFrame | None = None) -> alt.Chart:
    """Winners' ``metric`` against shard size (in ``unit``) with the fitted power law.

    With ``baselines`` (a sweep's shard baselines) each trivial predictor of ``metric`` is
    drawn as a grey line: the curve shows learning only where it is clearly below them.
    """
    fitted = best.loc[best["in_fit"], "shard_units"]
    chart = charts.learning_curve(
        best, "shard_units", metric, color="region", fits=fit_curve(fit, fitted, metric),
        x_title=f"training {unit}", y_title=metric.replace("_", " "),
        title=title or f"Learning curve: beta_g = {fit.beta_:.3f}",
        tooltip=["shard_units", "family", "size", "num_params", "stop_reason", metric])
    lines = baseline_lines(baselines, metric)
    return charts.layer(chart, baseline_layer(lines, metric)) if len(lines) else chart


def baseline_layer(lines: pd.DataFrame, metric: str) -> alt.Chart:
    """Grey lines, one dash pattern per baseline (rows of :func:`baseline_lines`)."""
    return alt.Chart(lines).mark_line(color="gray", opacity=0.8).encode(
        x="shard_units:Q", y=f"{metric}:Q", strokeDash=alt.StrokeDash("baseline:N", title="baseline"),
        tooltip=["baseline", "shard_units", metric])


def model_size_chart(best: pd.DataFrame, fit, unit: str, title: str = "") -> alt.Chart:
    """Best-fit parameter count per shard with the fitted model-size law."""
    fitted = best.loc[best["in_fit"], "shard_units"]
    return charts.learning_curve(
        best, "shard_units", "num_params", color="region",
        fits=fit_curve(fit, fitted, "num_params"), x_title=f"training {unit}",
        y_title="parameters of the best model",
        title=title or f"Best model size: beta_p = {fit.beta_p_:.3f}",
        tooltip=["shard_units", "family", "size", "num_params"])


def curves_chart(curves: pd.DataFrame, metric: str, unit: str, color: str = "curve",
                 fits: pd.DataFrame | None = None, title: str = "") -> alt.Chart:
    """Several learning curves on one log-log chart, one colour per value of ``color``."""
    return charts.learning_curve(
        curves, "shard_units", metric, color=color, fits=fits, x_title=f"training {unit}",
        y_title=metric.replace("_", " "), title=title,
        tooltip=["shard_units", color, "size", "num_params", metric])


def fit_row(name: str, fit, best: pd.DataFrame, unit: str, verdict: verdicts.Verdict | None = None) -> dict:
    """One table row: the curve's exponent with its interval, fit error, data span (and verdict)."""
    rows = best[best["in_fit"]]
    low, high = fit.beta_ci_
    row = {"curve": name, "beta_g": fit.beta_, "beta_g_low": low, "beta_g_high": high,
           "rel_rmse": fit.rel_rmse_, "points": len(rows), "unit": unit,
           "min_units": rows["shard_units"].min(), "max_units": rows["shard_units"].max(),
           "decades": float(np.log10(rows["shard_units"].max() / rows["shard_units"].min()))}
    if verdict is not None:
        row.update(verdict=verdict.text, capped_share=verdict.capped_share,
                   improving_share=verdict.improving_share, below_baseline=verdict.below_baseline)
    return row


def training_time(trials: pd.DataFrame) -> dict:
    """What training the trials took: ``trials`` (distinct), ``trial_minutes`` and ``span_minutes``.

    ``trial_minutes`` sums each trial's own wall time once (a trial listed under several
    sweeps counts once); ``span_minutes`` runs from the first trial's start to the last
    trial's end, which is the run's wall time when the store was made in one go (trials
    on several workers overlap, pauses between resumed runs count).
    """
    done = trials.drop_duplicates("key")
    done = done[done["status"] == "done"]
    return {"trials": len(done), "trial_minutes": float(done["wall_time"].sum()) / 60,
            "span_minutes": float(done["finished_at"].max() - done["started_at"].min()) / 60}
