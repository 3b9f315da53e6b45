r"""The image-classification chapter (paper Section 4.3): ResNets scaled in depth and width.

One model search per depth (``resnet-d<n>``, ``n`` blocks per stage) grows the width
factor with the data; the winners give learning curves for top-1 error, top-5 error and
validation cross-entropy. Each curve is first fitted with the three-region form
(:class:`~scaling_core.fit.ThreeRegionFit`, its plateau fixed at the best-guess value of
the metric); the shards below the end of its small-data region (and from the start of
its irreducible region on) are left out of the power law
:math:`\epsilon(m) = \alpha m^{\beta_g}` that gives the chapter's :math:`\beta_g`, and so
are shards not clearly below the class-prior baseline. Each curve gets a verdict
(:mod:`~scaling_core.experiments.verdicts`): only a *measured* one is a power law.
Data: MNIST-1D (generated offline, 1-D ResNets) or CIFAR-10.

The names and profiles live in :mod:`scaling_core.experiments.image_scales`, the exponent and
Table 1 tables in :mod:`scaling_core.experiments.image_tables`; both are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

from scaling_core import charts
from scaling_core.experiments import curves, verdicts
from scaling_core.experiments.image_scales import (  # noqa: F401  (re-exported: names and settings)
    CHAPTER, DATASETS, EVALUATIONS_TO_BEST, METRIC_NAMES, METRICS, MIN_ERRORS, NUM_CLASSES, PAPER_BETA_G, PAPER_BETA_P, SCALES,
    SMALL_DATA, TABLE1_ROWS, TASK_FACTORY, UNRESOLVED, WIDTH_GROWTH, best_guess, describe_data, describe_search)
from scaling_core.experiments.image_tables import (  # noqa: F401  (re-exported: the exponent tables)
    agreement_sentence, agrees, beyond_region, exponent_table, table1)
from scaling_core.fit import PowerLawFit, ThreeRegionFit
from scaling_core.models.resnet import ResNetConfig, expected_num_params
from scaling_core.paths import store_path
from scaling_core.profiles import ChapterConfig
from scaling_core.sweep.spec import SweepSpec
from scaling_core.tasks.images import images_per_class_steps


# ----------------------------------------------------------------------------- sweeps


def settings(config: ChapterConfig) -> dict:
    """The settings of ``config``'s profile for its dataset."""
    return config.settings[config.dataset]


def shard_sizes(images_per_class: tuple[int, int], num_classes: int = NUM_CLASSES) -> list[int]:
    """Shard sizes in images: 1, 2, 4, ... images per class times ``num_classes``."""
    return [num_classes * k for k in images_per_class_steps(*images_per_class)]


def sweep_name(profile: str, seed: int) -> str:
    return TABLE1_ROWS[0]["sweep"].format(profile=profile, seed=seed)


def sweep_specs(config: ChapterConfig) -> list[SweepSpec]:
    """The chapter's one sweep: a width search per depth on class-balanced nested shards."""
    scale = settings(config)
    kwargs = dict(dataset=config.dataset, seed=config.seed, pool_size=scale["pool_size"],
                  val_size=scale["val_size"])
    if config.dataset != "mnist1d":
        kwargs["data_dir"] = str(config.data_dir) if config.data_dir else None
    for option, default in (("variant", "default"), ("stop_on", METRICS[0])):  # in the keys only when changed
        if scale.get(option, default) != default:
            kwargs[option] = scale[option]
    return [SweepSpec.from_dict({
        "name": sweep_name(config.profile, config.seed), "seed": config.seed,
        "task": {"factory": TASK_FACTORY, "kwargs": kwargs},
        "shard_sizes": shard_sizes(scale["images_per_class"]), "searches": scale["searches"],
        "trainer": scale["trainer"],
    })]


def store(config: ChapterConfig) -> Path:
    """The chapter's results store, ``results/image/<dataset>-<profile>.sqlite``."""
    return store_path(CHAPTER, config.profile, config.dataset)


def run(config: ChapterConfig, progress: bool = False) -> pd.DataFrame:
    """Run (resume, or only read) the chapter's sweep; one row per trial.

    Its metrics are read by :func:`read_metrics` (from the evaluations where the profile says so).
    """
    path = store(config)
    frames = [curves.run(spec, path, config.device, settings(config)["workers"], history=True, progress=progress)
              for spec in sweep_specs(config)]
    return read_metrics(pd.concat(frames, ignore_index=True), config)


def read_metrics(trials: pd.DataFrame, config: ChapterConfig) -> pd.DataFrame:
    """The trials' metrics as the chapter reads them (Table 1 reads them the same way).

    With the profile's ``each_metric_best`` every metric comes from its own best evaluation
    (the trials need their ``history``); otherwise as stored. The ``history`` column is dropped.
    """
    if settings(config).get("each_metric_best"):
        trials = each_metric_at_its_best(trials)
    return trials.drop(columns="history", errors="ignore")


def each_metric_at_its_best(trials: pd.DataFrame, metrics=METRICS) -> pd.DataFrame:
    r"""Each finished trial's ``metrics`` at their own best evaluation on V, from its ``history``.

    A trial stops when its search metric (top-1 error) stops improving, and the store records
    every metric at that metric's best evaluation. Here each metric :math:`q` is read instead as
    :math:`\min_e q_e` over the trial's evaluations :math:`e`: early stopping on V for every
    metric at once, so a model that grew overconfident after its best cross-entropy keeps it.
    Trials without a history (failed ones) keep their stored values.
    """
    trials = trials.copy()
    for metric in metrics:
        best = [min((row[metric] for row in history if metric in row), default=np.nan) if status == "done"
                else np.nan for history, status in zip(trials["history"], trials["status"])]
        trials[metric] = pd.Series(best, index=trials.index).fillna(trials[metric])
    return trials


# ----------------------------------------------------------------------------- models and shards


def model_table(families: dict, dataset: str = "mnist1d") -> pd.DataFrame:
    """Parameter counts of the grid: one row per depth and width factor (1-D ResNets for MNIST-1D)."""
    dim, in_channels = (1, 1) if dataset == "mnist1d" else (2, 3)
    rows = []
    for family, widths in families.items():
        depth = int(family.removeprefix("resnet-d"))
        for width in widths:
            config = ResNetConfig(dim=dim, in_channels=in_channels, blocks_per_stage=depth, width_factor=width)
            rows.append({"family": family, "layers": 6 * depth + 2, "width_factor": width,
                         "channels": "-".join(map(str, config.stage_widths)),
                         "parameters": expected_num_params(config)})
    return pd.DataFrame(rows)


def shard_table(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per shard: images, images per class, trials and failures."""
    table = trials.groupby("shard").agg(images=("shard_units", "first"), trials=("key", "size"),
                                        failed=("status", lambda s: int((s == "failed").sum())))
    table.insert(1, "per_class", table["images"] // NUM_CLASSES)
    return table.reset_index()


# ----------------------------------------------------------------------------- learning curves


@dataclass
class MetricCurve:
    """One metric's composite learning curve, its three-region fit and its power law."""

    metric: str
    best: pd.DataFrame  # winners per shard with ``region`` and ``in_fit``
    regions: ThreeRegionFit  # plateau fixed at the best guess; gives the small-data boundary
    power_law: PowerLawFit  # fitted on the judged power-law region (``in_fit``)
    verdict: verdicts.Verdict | None = None  # what the curve measures (see verdicts.judge)

    @property
    def small_data_end(self) -> float:
        """Training images where the power law meets the best-guess plateau."""
        return self.regions.small_data_end_

    @property
    def irreducible_start(self) -> float | None:
        """Training images where the power law meets the fitted floor (``None`` when there is none in sight)."""
        start = float(self.regions.irreducible_start_)
        return start if np.isfinite(start) else None


def resolved(best: pd.DataFrame, metric: str, val_size: int) -> pd.Series:
    """Which winners' ``metric`` V can resolve: errors need ``MIN_ERRORS`` mistakes on V."""
    if metric == "val_xent":
        return pd.Series(True, index=best.index)
    return best[metric] >= MIN_ERRORS / val_size


def label_regions(best: pd.DataFrame, ok: pd.Series, fit: ThreeRegionFit, min_points: int = 3) -> pd.DataFrame:
    """Mark ``in_fit`` (resolved shards from the small-data boundary on) and each ``region``.

    When fewer than ``min_points`` resolved shards lie past the boundary, the largest
    ``min_points`` resolved shards are fitted instead.
    """
    best = best.copy()
    units = best["shard_units"]
    start = fit.small_data_end_
    if (ok & (units >= start)).sum() < min_points:
        start = units[ok].nlargest(min_points).min()
    best["in_fit"] = ok & (units >= start)
    best["region"] = np.where(~ok, UNRESOLVED, np.where(units >= start, curves.FITTED, SMALL_DATA))
    return best


def metric_curve(trials: pd.DataFrame, metric: str, val_size: int, bootstrap: int = 1000,
                 region_bootstrap: int = 200, seed: int = 0, num_classes: int = NUM_CLASSES,
                 baselines: pd.DataFrame | None = None) -> MetricCurve:
    r"""Winners of ``metric``, the three-region fit and the power law past its small-data region.

    The three-region form
    :math:`\epsilon(m) = \epsilon_0 u / \sqrt{1 + u^2}`, :math:`u = (\alpha m^{\beta} + \gamma) / \epsilon_0`,
    with :math:`\epsilon_0` the best guess (:func:`best_guess`) is fitted to every resolved
    winner (a winner worse than guessing counts as the guess); its small-data boundary
    :math:`(\epsilon_0 / \alpha)^{1/\beta}` and its irreducible boundary (when finite) bound the
    shards :func:`~scaling_core.experiments.verdicts.judge` may put in the power-law region,
    with the sweep's shard ``baselines`` as the bar; :math:`\epsilon(m) = \alpha m^{\beta_g}`
    is fitted on that region. The power law gets ``bootstrap`` resamples, the three-region fit
    ``region_bootstrap`` (none when 0).
    """
    best = curves.winners(trials, metric)
    ok = resolved(best, metric, val_size)
    regions = ThreeRegionFit(best_guess=best_guess(metric, num_classes))
    with np.errstate(over="ignore", invalid="ignore"):  # no floor in sight: irreducible_start_ is infinite
        regions.fit(best.loc[ok, "shard_units"].to_numpy(float),
                    np.minimum(best.loc[ok, metric].to_numpy(float), regions.best_guess))
        if region_bootstrap:
            regions.bootstrap(n=region_bootstrap, seed=seed)
    curve = MetricCurve(metric, label_regions(best, ok, regions), regions, None)
    curve.best, curve.verdict = curves.judge_metric(curve.best, metric, baselines, curve.small_data_end,
                                                    curve.irreducible_start)
    with np.errstate(over="ignore"):  # a wide interval of alpha can overflow on its way back from logs
        curve.power_law = curves.fit_learning_curve(curve.best, metric, bootstrap, seed)
    return curve


def learning_curves(trials: pd.DataFrame, config: ChapterConfig, baselines: pd.DataFrame | None = None) -> dict:
    """:func:`metric_curve` for every metric of :data:`METRICS`, with ``config``'s settings and shard baselines."""
    scale = settings(config)
    return {metric: metric_curve(trials, metric, scale["val_size"], scale["bootstrap"],
                                 scale["region_bootstrap"], config.seed, baselines=baselines) for metric in METRICS}


def tail_note(curve: MetricCurve, points: int = 3) -> str:
    r"""Plain text: ``curve``'s winners on its ``points`` largest shards, their local log-log slopes and its verdict.

    The local slope between shards :math:`m_1 < m_2` is
    :math:`\log(\epsilon_2/\epsilon_1) / \log(m_2/m_1)`.
    """
    tail = curve.best.sort_values("shard_units").tail(points)
    units, values = tail["shard_units"].to_numpy(float), tail[curve.metric].to_numpy(float)
    slopes = np.log(values[1:] / values[:-1]) / np.log(units[1:] / units[:-1])
    per_class = ", ".join(f"{u / NUM_CLASSES:,.0f}" for u in units)
    return (f"On the {points} largest shards ({per_class} images per class) the winners' "
            f"{METRIC_NAMES[curve.metric]} is {', '.join(f'{v:.3g}' for v in values)}: local slopes "
            f"{', '.join(f'{b:.2f}' for b in slopes)}. Verdict: {curve.verdict.text}.")


def table1_comparison(table1_curves, tolerance: float = 5e-4) -> str:
    """One sentence on how Table 1's image rows relate to this chapter's exponents.

    ``table1_curves`` are the fitted :class:`~scaling_core.experiments.table1.Curve` of
    the implications chapter; its image rows are refitted here as this chapter fits them
    (:func:`metric_curve`, point estimates only). Where the exponents differ, the sentence
    gives both, the shards each fit used and why: this chapter also ends the power-law
    region where its three-region fit starts the irreducible region, and leaves out errors
    below V's resolution; Table 1 does neither.
    """
    from scaling_core import formatting

    rows = [c for c in table1_curves if c.chapter == CHAPTER and c.fit is not None]
    if not rows:
        return "Table 1 has no fitted image rows at this profile."
    differing = []
    for curve in rows:
        val_size = SCALES[curve.profile][curve.dataset]["val_size"]
        with np.errstate(all="ignore"):
            ours = metric_curve(curve.trials, curve.metric, val_size, bootstrap=0, region_bootstrap=0,
                                seed=0, baselines=curve.baselines)
        if abs(ours.power_law.beta_ - curve.fit.beta_) <= tolerance:
            continue
        span = ours.best.loc[ours.best["in_fit"], "shard_units"]
        theirs = curve.best.loc[curve.best["in_fit"], "shard_units"]
        causes = []
        start = ours.irreducible_start
        if start is not None and (theirs >= start).any():
            causes.append(f"ends its power-law region where its irreducible region starts "
                          f"({formatting.count(start)} images)")
        if (curve.best["in_fit"] & ~resolved(curve.best, curve.metric, val_size)).any():
            causes.append(f"leaves out errors of fewer than {MIN_ERRORS} mistakes on V")
        why = " and ".join(causes) or "places its small-data boundary differently"
        name = METRIC_NAMES.get(curve.metric, curve.metric)
        differing.append(
            f"for {name} the image chapter reports {formatting.number(ours.power_law.beta_)} (fitted on "
            f"{formatting.count(span.min())} to {formatting.count(span.max())} images) and Table 1 "
            f"{formatting.number(curve.fit.beta_)} ({formatting.count(theirs.min())} to "
            f"{formatting.count(theirs.max())} images), because the chapter {why}")
    if not differing:
        return "Table 1's image rows carry the same exponents as the image chapter."
    return ("Table 1 fits every row by one procedure, so its image exponents can differ from the image "
            "chapter's: " + "; ".join(differing) + ".")


# ----------------------------------------------------------------------------- model size


def model_size_fit(best: pd.DataFrame, bootstrap: int = 1000, seed: int = 0):
    r"""The model-size law :math:`s(m) = \alpha_p m^{\beta_p}` through ``best``'s ``in_fit`` rows."""
    with np.errstate(over="ignore"):  # a wide interval of alpha_p can overflow on its way back from logs
        return curves.fit_model_size(best, bootstrap, seed)


def smallest_good_models(trials: pd.DataFrame, best: pd.DataFrame, metric: str,
                         tolerance: float = 0.05) -> pd.DataFrame:
    """Per shard, the smallest finished trial within ``tolerance`` (relative) of the winner's ``metric``.

    Keeps the ``in_fit`` and ``region`` labels of ``best`` (the winners of the same metric).
    """
    done = trials[(trials["status"] == "done") & trials[metric].notna()]
    threshold = best.set_index("shard")[metric] * (1 + tolerance)
    good = done[done[metric] <= done["shard"].map(threshold)]
    smallest = good.sort_values(["num_params", "key"]).groupby("shard").head(1)
    labels = best.set_index("shard")[["in_fit", "region"]]
    return smallest.drop(columns=["in_fit", "region"], errors="ignore").join(labels, on="shard") \
        .sort_values("shard").reset_index(drop=True)


def family_curves(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Each depth's own winners of ``metric``, stacked, with the depth in ``family``."""
    return pd.concat([curves.winners(trials, metric, family) for family in sorted(trials["family"].unique())],
                     ignore_index=True)


# ----------------------------------------------------------------------------- charts


def region_chart(curve: MetricCurve, title: str = "", baselines: pd.DataFrame | None = None) -> alt.LayerChart:
    """Winners coloured by region, the power law (dashed), the three-region fit, the best guess and the baselines."""
    base = curves.learning_curve_chart(curve.best, curve.power_law, curve.metric, "images", title=title or (
        f"{curve.metric.replace('_', ' ')}: beta_g = {curve.power_law.beta_:.3f}"), baselines=baselines)
    grid = np.geomspace(curve.best["shard_units"].min(), curve.best["shard_units"].max(), 60)
    three = pd.DataFrame({"shard_units": grid, curve.metric: curve.regions.predict(grid)})
    line = alt.Chart(three).mark_line(color="gray", opacity=0.7).encode(x="shard_units:Q", y=f"{curve.metric}:Q")
    guess = pd.DataFrame({curve.metric: [curve.regions.best_guess_], "label": ["best guess"]})
    rule = alt.Chart(guess).mark_rule(color="black", strokeDash=[2, 2]).encode(y=f"{curve.metric}:Q",
                                                                               tooltip=["label", curve.metric])
    return charts.layer(base, line, rule)


def depth_chart(trials: pd.DataFrame, metric: str = "val_top1_error",
                baselines: pd.DataFrame | None = None) -> alt.LayerChart:
    """Each depth's learning curve of ``metric`` on one chart, with the shard baselines (grey)."""
    chart = curves.curves_chart(family_curves(trials, metric), metric, "images", color="family",
                                title="Learning curve of each depth (its own width search)")
    lines = curves.baseline_lines(baselines, metric)
    return charts.layer(chart, curves.baseline_layer(lines, metric)) if len(lines) else chart
