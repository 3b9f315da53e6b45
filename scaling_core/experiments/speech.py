"""The speech-recognition chapter (paper Section 4.4): DS2 and attention learning curves.

One store per dataset and profile holds the chapter's sweeps: the model search of both
families on the same nested shards (``speech-{profile}-seed{seed}``) and one fixed-size
DS2 curve per width of ``fixed_sizes`` (``speech-ds2-{size}-{profile}-seed{seed}``).
Data size is counted in seconds of audio (the sweep's unit), shown as hours and
utterances. Every curve is judged against the sweep's shard baselines (an empty transcript:
CER 1) by :func:`~scaling_core.experiments.verdicts.judge`; only a *measured* verdict lets
the chapter call a curve a power law, compare its exponent with the paper's or with the
other family's.

The names and profiles live in :mod:`scaling_core.experiments.speech_scales`, the fixed-width
curves and their floors in :mod:`scaling_core.experiments.speech_fixed`; both are re-exported here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

from scaling_core.experiments import curves, verdicts
from scaling_core.experiments.speech_fixed import (  # noqa: F401  (re-exported: Fig. 5 right)
    MIN_FLOOR, fixed_size_curves, fixed_sizes_chart, fixed_verdicts, plateau_display, plateau_fits,
    plateau_onset, plateau_table, plateau_verdict, with_baselines)
from scaling_core.experiments.speech_scales import (  # noqa: F401  (re-exported: names and settings)
    ATTENTION_LAPTOP, CHAPTER, DATASETS, EVALUATIONS_TO_BEST, FAMILY_NAMES, FIT_FROM_SECONDS, METRIC, SCALES,
    TABLE1_ROWS, TASK_FACTORY, _search, fixed_sweep_name, search_sweep_name)
from scaling_core.paths import store_path
from scaling_core.profiles import ChapterConfig
from scaling_core.sweep.spec import SweepSpec


def feature_description(config: ChapterConfig) -> str:
    """The features' frequency axis for the prose: ``"40 mel bands"`` or ``"81 linear frequency bins"``."""
    from scaling_core.data.speech_features import n_features

    n_mels = config.settings.get("n_mels")
    if n_mels:
        return f"{n_mels} mel bands"
    rate = config["sample_rate"] if config.dataset == "espeak" else 8000  # FSDD is recorded at 8 kHz
    return f"{n_features(rate)} linear frequency bins"


def task_kwargs(config: ChapterConfig) -> dict:
    """Keyword arguments of :func:`~scaling_core.tasks.speech.make_speech_task` for ``config``."""
    data = config["data"][config.dataset]
    kwargs = {"dataset": config.dataset, "n_train": data["n_train"], "n_val": data["n_val"],
              "seed": config.seed, "ds2_layers": config["ds2_layers"],
              "conv_channels": config["conv_channels"], "search_metric": config["stop_on"]}
    if config.dataset == "espeak":
        kwargs["sample_rate"] = config["sample_rate"]
    if config.settings.get("n_mels"):
        kwargs["n_mels"] = config["n_mels"]
    if config.data_dir is not None:
        kwargs["data_dir"] = str(config.data_dir)
    return kwargs


def sweep_specs(config: ChapterConfig) -> list[SweepSpec]:
    """The model search of both families, then one fixed-size DS2 sweep per ``fixed_sizes``."""
    low, high = config["data"][config.dataset]["shard_seconds"]
    base = {"seed": config.seed, "trainer": config["trainer"],
            "task": {"factory": TASK_FACTORY, "kwargs": task_kwargs(config)},
            "shard_sizes": {"min_units": low, "max_units": high, "factor": 2}}
    specs = [SweepSpec.from_dict({**base, "name": search_sweep_name(config.profile, config.seed),
                                  "searches": config["searches"]})]
    for size in config["fixed_sizes"]:
        search = _search("ds2", [size], [0.0], config["fixed_lr"], [config["fixed_batch"]])
        specs.append(SweepSpec.from_dict({**base, "searches": [search],
                                          "name": fixed_sweep_name(size, config.profile, config.seed)}))
    return specs


def store(config: ChapterConfig) -> Path:
    """The chapter's results store, ``results/speech/<dataset>-<profile>.sqlite``."""
    return store_path(CHAPTER, config.profile, config.dataset)


def run(config: ChapterConfig) -> pd.DataFrame:
    """Run (or resume, or only read) every sweep of the chapter; one row per (sweep, trial).

    Sweeps may share trials (same size, optimizer settings and shard): the store trains
    such a trial once and lists it under each sweep. The model search runs first (side by
    side with a fixed width, a trial both need could start twice); then the fixed widths,
    one after another with every worker: a fixed width needs no winner, so the engine
    plans all its shards at once and trains the largest first.
    """
    path = store(config)
    search, *fixed = sweep_specs(config)
    searched = curves.run(search, path, config.device, config["workers"])
    frames = [searched] + [curves.run(spec, path, config.device, config["workers"]) for spec in fixed]
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- tables


def data_table(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per shard: its size in seconds, minutes and hours of audio, and in utterances."""
    shards = trials.groupby("shard", as_index=False).agg(
        seconds=("shard_units", "first"), utterances=("shard_examples", "first"))
    shards["minutes"], shards["hours"] = shards["seconds"] / 60, shards["seconds"] / 3600
    return shards[["shard", "utterances", "seconds", "minutes", "hours"]]


def composite_curves(trials: pd.DataFrame, config: ChapterConfig, baselines: pd.DataFrame | None = None,
                     ) -> tuple[dict[str, pd.DataFrame], dict[str, verdicts.Verdict]]:
    """Each family's judged winners per shard in the model-search sweep (its composite curve) and its verdict.

    The winners' ``in_fit`` is the power-law region :func:`~scaling_core.experiments.verdicts.judge`
    finds from ``fit_from`` on, below the ``baselines`` (when it has three shards or more).
    """
    rows = trials[trials["sweep"] == search_sweep_name(config.profile, config.seed)]
    judged = {s["family"]: curves.judged_winners(rows, METRIC, baselines, s["family"], config["fit_from"])
              for s in config["searches"]}
    return {f: best for f, (best, _) in judged.items()}, {f: verdict for f, (_, verdict) in judged.items()}


def widest_winners(best: dict[str, pd.DataFrame], trials: pd.DataFrame, config: ChapterConfig) -> str:
    """A sentence per family: how many winners are the widest of the widths their shard tried.

    Such a winner (:func:`~scaling_core.experiments.verdicts.pinned_winners`) may be narrower
    than the best width for its shard, which the search did not reach.
    """
    rows = trials[trials["sweep"] == search_sweep_name(config.profile, config.seed)]
    sentences = []
    for family, winners in best.items():
        pinned = verdicts.pinned_winners(winners, rows[rows["family"] == family])
        widest = ", ".join(f"{u:,.0f} s" for u in winners.loc[pinned, "shard_units"])
        sentences.append(f"{int(pinned.sum())} of {len(winners)} {FAMILY_NAMES[family]} winners are the widest "
                         f"width their shard tried" + (f" (at {widest})." if widest else "."))
    return " ".join(sentences)


def family_fits(best: dict[str, pd.DataFrame], bootstrap: int, seed: int) -> dict:
    r"""Power law :math:`\epsilon(m) = \alpha m^{\beta_g}` per family, with bootstrap intervals."""
    with np.errstate(over="ignore"):  # flat smoke curves overflow some resampled intervals
        return {family: curves.fit_learning_curve(rows, METRIC, bootstrap, seed)
                for family, rows in best.items()}


def exponent_difference(fit_a, fit_b, level: float = 0.95) -> dict[str, float]:
    r"""The difference :math:`\Delta = \beta_a - \beta_b` of two bootstrapped fits, with an interval.

    The two curves come from different models, so their bootstrap resamples are
    independent draws; pairing resample :math:`i` of each gives draws of
    :math:`\Delta^* = \beta^*_{a,i} - \beta^*_{b,i}`, whose percentiles bound
    :math:`\Delta`. The exponents differ (at ``level``) when 0 lies outside the interval.

    Returns
    -------
    dict
        ``difference``, ``low``, ``high`` and ``differ`` (0 outside the interval).
    """
    a, b = fit_a.bootstrap_samples_["beta"].to_numpy(), fit_b.bootstrap_samples_["beta"].to_numpy()
    n = min(len(a), len(b))
    if n < 20:
        raise ValueError(f"exponent_difference needs >= 20 bootstrap samples per fit; got {n}")
    tail = (1 - level) / 2
    low, high = np.quantile(a[:n] - b[:n], [tail, 1 - tail])
    return {"difference": fit_a.beta_ - fit_b.beta_, "low": float(low), "high": float(high),
            "differ": bool(low > 0 or high < 0)}


def paper_only_note(config: ChapterConfig) -> str:
    """Why the families in ``config["paper_only"]`` have no curve at this profile: their priced search.

    Each left-out search is priced by the cost model (:func:`scaling_core.cost.estimate`) on
    this profile's shards and workers, beside the searches the profile runs; empty when
    every family is searched.
    """
    from scaling_core import cost

    left_out = config.settings.get("paper_only", [])
    if not left_out:
        return ""
    base = {**config.settings, "fixed_sizes": []}

    def minutes(searches) -> float:
        priced = dataclasses.replace(config, settings={**base, "searches": searches})
        return float(cost.estimate(CHAPTER, config.profile, config.dataset, config=priced)["cpu_minutes"].sum())

    def shown(value: float) -> str:
        return f"{value:.0f}" if value >= 10 else f"{value:.1f}"

    ran = minutes(config["searches"])
    ran_names = " and ".join(FAMILY_NAMES[s["family"]] for s in config["searches"])
    workers = f"{config['workers']} worker" + ("s" if config["workers"] != 1 else "")
    sentences = []
    for search in left_out:
        theirs = minutes([search])
        sentences.append(
            f"The {FAMILY_NAMES[search['family']]} model is trained at the paper profile only: on these "
            f"shards the cost model prices its search at {shown(theirs)} CPU-minutes ({workers}), "
            f"{theirs / ran:.1f} times the {ran_names} search's {shown(ran)}.")
    return " ".join(sentences)


def comparison_sentence(fits: dict, judged: dict[str, verdicts.Verdict]) -> str:
    """The attention model's exponent and its difference from DS2's, or why there is none at this profile."""
    if "attention" not in fits:
        return ("The attention model is not trained at this profile (see above), so there is no second "
                "exponent to compare.")
    fit = fits["attention"]
    difference = exponent_difference(fits["ds2"], fit)
    return (f"The attention model gives {fit.beta_:.3f} ({fit.beta_ci_[0]:.3f} to {fit.beta_ci_[1]:.3f}); "
            f"the difference DS2 - attention is {difference['difference']:.3f}, with 95 % interval "
            f"{difference['low']:.3f} to {difference['high']:.3f}: the two exponents "
            f"{difference_verdict(difference, judged)}.")


def difference_verdict(difference: dict[str, float], judged: dict[str, verdicts.Verdict] | None = None) -> str:
    """A phrase for the prose: whether the interval of the difference excludes 0.

    With the curves' verdicts ``judged``, two exponents are compared only when every curve
    measured a power law.
    """
    unmeasured = {f: v for f, v in (judged or {}).items() if not v.measured}
    if unmeasured:
        named = "; ".join(f"{FAMILY_NAMES.get(f, f)} {v.kind}" for f, v in unmeasured.items())
        return f"are not compared: a curve that measures no power law has no exponent to compare ({named})"
    if difference["differ"]:
        return "differ: the interval of their difference excludes zero"
    return "are indistinguishable at this scale: the interval of their difference contains zero"


def exponent_table(fits: dict, best: dict[str, pd.DataFrame], judged: dict | None = None) -> pd.DataFrame:
    """One row per family: beta_g with its interval, fit error, the hours it spans and its verdict."""
    rows = [curves.fit_row(FAMILY_NAMES[f], fit, best[f], "seconds", (judged or {}).get(f)) for f, fit in fits.items()]
    table = pd.DataFrame(rows)
    table["min_hours"], table["max_hours"] = table["min_units"] / 3600, table["max_units"] / 3600
    return table.drop(columns=["unit", "min_units", "max_units"])


def table1(fits: dict, judged: dict[str, verdicts.Verdict] | None = None) -> pd.DataFrame:
    """The chapter's Table 1 rows beside the paper's exponents, with each curve's verdict.

    ``agrees``: the curve measured a power law, its interval excludes zero and holds the paper's exponent.
    """
    rows = []
    for row in TABLE1_ROWS:
        if row["family"] not in fits:
            rows.append({"model": row["model"], "paper beta_g": row["paper_beta_g"], "our beta_g": np.nan,
                         "95% low": np.nan, "95% high": np.nan, "verdict": "not trained at this profile",
                         "agrees": False})
            continue
        fit, verdict = fits[row["family"]], (judged or {}).get(row["family"])
        low, high = fit.beta_ci_
        rows.append({"model": row["model"], "paper beta_g": row["paper_beta_g"], "our beta_g": fit.beta_,
                     "95% low": low, "95% high": high, "verdict": verdict.text if verdict else "not judged",
                     "agrees": bool(verdict is not None and verdict.measured and high < 0
                                    and low <= row["paper_beta_g"] <= high)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- charts


def families_chart(best: dict[str, pd.DataFrame], fits: dict, baselines: pd.DataFrame | None = None) -> alt.Chart:
    """Both families' composite CER curves on the same shards, with their power laws and the baselines (grey)."""
    points, lines = [], []
    for family, rows in best.items():
        label = f"{FAMILY_NAMES[family]}: beta_g = {fits[family].beta_:.3f}"
        other = FAMILY_NAMES[family] + " (" + rows["region"] + ")"
        points.append(rows.assign(curve=np.where(rows["in_fit"], label, other)))
        fitted = rows.loc[rows["in_fit"], "shard_units"]
        lines.append(curves.fit_curve(fits[family], fitted, METRIC).assign(curve=label))
    title = " and ".join(FAMILY_NAMES[f] for f in best) + (" on the same shards" if len(best) > 1 else "")
    chart = curves.curves_chart(pd.concat(points), METRIC, "seconds of audio", fits=pd.concat(lines), title=title)
    return with_baselines(chart, baselines)
