"""The speech-recognition chapter (paper Section 4.4): DS2 and attention learning curves.

One store per dataset and profile holds the chapter's sweeps: the model search of both
families on the same nested shards (``speech-{profile}-seed{seed}``) and one fixed-size
DS2 curve per width of ``fixed_sizes`` (``speech-ds2-{size}-{profile}-seed{seed}``).
Data size is counted in seconds of audio (the sweep's unit), shown as hours and
utterances. Every curve is judged against the sweep's shard baselines (an empty transcript:
CER 1) by :func:`~scaling_core.experiments.verdicts.judge`; only a *measured* verdict lets
the chapter call a curve a power law, compare its exponent with the paper's or with the
other family's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

from scaling_core import charts
from scaling_core.experiments import curves, verdicts
from scaling_core.paths import store_path
from scaling_core.profiles import ChapterConfig
from scaling_core.sweep.spec import SweepSpec

CHAPTER = "speech"
DATASETS = ("espeak", "fsdd")
"""``espeak``: the embedded synthetic corpus; ``fsdd``: Free Spoken Digit Dataset (human speakers)."""
TASK_FACTORY = "scaling_core.tasks.speech:make_speech_task"
METRIC = "val_cer"
"""What the search minimises and the curves show: character error rate on V."""
FAMILY_NAMES = {"ds2": "DS2 (CTC)", "attention": "attention"}
FIT_FROM_SECONDS = 90
"""Shards below 90 s of audio lie in the small-data region at laptop scale (CER near 1);
the power-law fits of every profile use the shards from 90 s up."""


def _search(family, grid, growth, lr, batch, samples=1, max_size=1024):
    """A search in the engine's vocabulary; ``lr`` is a (low, high) range or one value."""
    lr_range = lr if isinstance(lr, tuple) else (lr, lr)
    return {"family": family, "grid": list(grid), "growth": list(growth), "samples": samples,
            "lr_range": list(lr_range), "batch_sizes": list(batch), "max_size": max_size}


ATTENTION_LAPTOP = _search("attention", [32, 64], [0.0, 0.5], 3e-3, [16], max_size=256)
"""The attention search the laptop profile leaves out (its pilot stayed at CER 0.9; priced in the chapter)."""

SCALES = {
    # under a minute on one CPU core: tiny models, 6 steps each, on 45 s to 6 min of audio; they learn nothing yet
    "smoke": {
        "data": {"espeak": {"n_train": 300, "n_val": 24, "shard_seconds": (45, 360)},
                 "fsdd": {"n_train": 1000, "n_val": 24, "shard_seconds": (45, 360)}},
        "sample_rate": 8000, "n_mels": 40, "ds2_layers": 1, "conv_channels": 4, "stop_on": "val_loss",
        "searches": [_search("ds2", [16], [0.0], 3e-3, [16])],
        "paper_only": [_search("attention", [16], [0.0], 3e-3, [16])],
        "fixed_sizes": [8, 16, 32], "fixed_lr": 3e-3, "fixed_batch": 16,
        "trainer": {"max_epochs": 2, "max_steps": 6, "min_eval_steps": 6, "patience": 1,
                    "grad_clip": 5.0},
        "fit_from": FIT_FROM_SECONDS, "bootstrap": 100, "workers": 1,
    },
    # two CPU cores: 45 s to 96 minutes of audio (about 32 to 4,100 utterances), 40 mel bands,
    # one-layer DS2 searched over widths and trained to early stopping (caps out of reach),
    # three fixed DS2 widths; the attention model is left to the paper profile
    "laptop": {
        "data": {"espeak": {"n_train": 4400, "n_val": 300, "shard_seconds": (45, 5760)},
                 "fsdd": {"n_train": 2700, "n_val": 300, "shard_seconds": (22.5, 720)}},
        "sample_rate": 8000, "n_mels": 40, "ds2_layers": 1, "conv_channels": 8, "stop_on": "val_loss",
        "searches": [_search("ds2", [32, 64], [0.0, 0.5], 3e-3, [16], max_size=256)],
        "paper_only": [ATTENTION_LAPTOP],
        "fixed_sizes": [16, 32, 64], "fixed_lr": 3e-3, "fixed_batch": 16,
        "trainer": {"max_epochs": 1000, "max_steps": 1_000_000, "min_eval_steps": 25, "patience": 3,
                    "grad_clip": 5.0},
        "fit_from": FIT_FROM_SECONDS, "bootstrap": 1000, "workers": 2,
    },
    # one GPU: 3 minutes to 6.4 hours (2.1 orders of magnitude), 2-layer DS2 on 40 mel bands of 8 kHz
    # audio and attention; cut to fit: see the README's table of paper-profile estimates
    "paper": {
        "data": {"espeak": {"n_train": 20000, "n_val": 500, "shard_seconds": (180, 23040)},
                 "fsdd": {"n_train": 2700, "n_val": 300, "shard_seconds": (22.5, 720)}},
        "sample_rate": 8000, "n_mels": 40, "ds2_layers": 2, "conv_channels": 16, "stop_on": "val_loss",
        "searches": [_search("ds2", [32, 64, 128], [0.0, 0.5], (3e-4, 3e-3), [32], 2, 256),
                     _search("attention", [32, 64, 128], [0.0, 0.5], (3e-4, 3e-3), [32], 2, 256)],
        "fixed_sizes": [32, 64, 128], "fixed_lr": 1e-3, "fixed_batch": 32,
        "trainer": {"max_epochs": 40, "max_steps": 60000, "min_eval_steps": 200, "patience": 5,
                    "grad_clip": 5.0},
        "fit_from": FIT_FROM_SECONDS, "bootstrap": 2000, "workers": 1,
    },
}
"""Per-profile settings: corpus size and shard span (seconds of audio) per dataset, audio
rate (eSpeak), mel bands of the features (``n_mels``), DS2 depth and convolution channels,
the metric early stopping watches (``stop_on``: validation loss, which falls while CER
still sits at 1 in the CTC blank phase; curves and winners use CER), the search of each
family, the searches a profile leaves to the paper profile (``paper_only``: priced by
:func:`paper_only_note`, not trained), the three
fixed DS2 widths of Fig. 5 right with their learning rate and batch size, the trainer
(CTC needs the gradient-norm clip), the smallest shard the fits use (``fit_from``, in
seconds), bootstrap resamples and local workers."""

TABLE1_ROWS = [
    {"domain": "speech", "model": "DS2", "sweep": "speech-{profile}-seed{seed}", "family": "ds2",
     "metric": METRIC, "unit": "seconds", "fit_from_units": FIT_FROM_SECONDS, "paper_beta_g": -0.299,
     "paper_beta_p": None},
    {"domain": "speech", "model": "attention", "sweep": "speech-{profile}-seed{seed}",
     "family": "attention", "metric": METRIC, "unit": "seconds", "fit_from_units": FIT_FROM_SECONDS,
     "paper_beta_g": -0.296, "paper_beta_p": None},
]
"""The paper's Table 1 speech rows: learning-curve exponents of CER against seconds of audio."""


def feature_description(config: ChapterConfig) -> str:
    """The features' frequency axis for the prose: ``"40 mel bands"`` or ``"81 linear frequency bins"``."""
    from scaling_core.data.speech_features import n_features

    n_mels = config.settings.get("n_mels")
    if n_mels:
        return f"{n_mels} mel bands"
    rate = config["sample_rate"] if config.dataset == "espeak" else 8000  # FSDD is recorded at 8 kHz
    return f"{n_features(rate)} linear frequency bins"


def search_sweep_name(profile: str, seed: int) -> str:
    """Name of the model-search sweep (both families) in the chapter's store."""
    return f"speech-{profile}-seed{seed}"


def fixed_sweep_name(size: int, profile: str, seed: int) -> str:
    """Name of the fixed-width DS2 sweep of ``size`` in the chapter's store."""
    return f"speech-ds2-{size}-{profile}-seed{seed}"


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
    such a trial once and lists it under each sweep. The model search runs first, alone
    (side by side with a fixed width, a trial both need could start twice); then the fixed
    widths, which share no trial with each other, side by side
    (:func:`~scaling_core.experiments.curves.run_all`): each trains one shard after another,
    so one alone would keep a single worker busy. The widest, slowest, starts first.
    """
    path = store(config)
    search, *fixed = sweep_specs(config)
    searched = curves.run(search, path, config.device, config["workers"])
    widest_first = curves.run_all(fixed[::-1], path, config.device, config["workers"])
    frames = [searched, *widest_first[::-1]]
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


def comparison_sentence(fits: dict, judged: dict[str, verdicts.Verdict], config: ChapterConfig) -> str:
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


# ----------------------------------------------------------------------------- fixed sizes


def fixed_size_curves(trials: pd.DataFrame, config: ChapterConfig) -> pd.DataFrame:
    """The fixed-width DS2 learning curves, long format with a ``curve`` label per width."""
    frames = []
    for size in config["fixed_sizes"]:
        rows = trials[trials["sweep"] == fixed_sweep_name(size, config.profile, config.seed)]
        curve = curves.fixed_size_curve(rows, METRIC, "ds2", size)
        curve["in_fit"] = curve["shard_units"] >= config["fit_from"]
        curve["curve"] = [f"width {size} ({p / 1e3:.0f}k params)" for p in curve["num_params"]]
        frames.append(curve)
    return pd.concat(frames, ignore_index=True)


def fixed_verdicts(fixed: pd.DataFrame, baselines: pd.DataFrame | None = None) -> dict[str, verdicts.Verdict]:
    """Per width, the verdict of its fixed-size curve (from ``fit_from`` on, against ``baselines``).

    The plateau fits keep every shard from ``fit_from`` on: a floor bends the curve, so its
    power-law region alone would leave out the shards that show the floor.
    """
    return {size: curves.judge_metric(rows.reset_index(drop=True), METRIC, baselines)[1]
            for size, rows in fixed.groupby("size")}


def plateau_onset(alpha: float, beta: float, gamma: float) -> float:
    r"""Data size where the power-law term falls to the floor: :math:`\alpha m^{\beta} = \gamma`.

    :math:`m^* = (\gamma / \alpha)^{1/\beta}`; beyond it the error is mostly the
    model's own floor :math:`\gamma` and more data helps less than half as much.
    """
    if not (alpha > 0 and gamma > 0 and beta < 0):
        raise ValueError(f"plateau_onset needs alpha > 0, gamma > 0, beta < 0; got {alpha}, {gamma}, {beta}")
    with np.errstate(over="ignore"):
        return float(np.exp((np.log(gamma) - np.log(alpha)) / beta))


def _onset_or_nan(fit) -> float:
    """The fit's plateau onset, or NaN for a curve that does not fall (``beta_ = 0``)."""
    falling = fit.beta_ < 0 and fit.alpha_ > 0 and fit.gamma_ > 0
    return plateau_onset(fit.alpha_, fit.beta_, fit.gamma_) if falling else float("nan")


def plateau_fits(fixed: pd.DataFrame, bootstrap: int = 0, seed: int = 0) -> dict:
    r"""Per width, :math:`\epsilon(m) = \alpha m^{\beta} + \gamma` on its fitted shards."""
    with np.errstate(over="ignore"):
        return {size: curves.fit_learning_curve(rows, METRIC, bootstrap, seed, constant=True)
                for size, rows in fixed.groupby("size")}


MIN_FLOOR = 1e-3
"""Floors below this CER (a few characters of V) cannot be told from zero."""


def plateau_table(fixed: pd.DataFrame, fits: dict, judged: dict | None = None) -> pd.DataFrame:
    """Per width: parameters, fitted floor (95 % interval) and onset, their ratios to the next smaller width.

    ``onset_ratio`` against ``params_ratio`` is the paper's question: does a model k
    times larger keep improving until about k times more data (ratio 1:1)?
    ``floor_measured``: the floor's interval is finite and above :data:`MIN_FLOOR`; a floor
    whose interval reaches zero or infinity is one the curve has not yet bent toward.
    """
    rows = []
    for size, fit in sorted(fits.items()):
        curve = fixed[fixed["size"] == size]
        low, high = fit.gamma_ci_
        rows.append({"width": int(size), "params": int(curve["num_params"].iloc[0]),
                     "beta": fit.beta_, "floor_cer": fit.gamma_, "floor_low": low, "floor_high": high,
                     "floor_measured": bool(np.isfinite(high) and low >= MIN_FLOOR),
                     "onset_seconds": _onset_or_nan(fit),
                     "largest_shard": curve["shard_units"].max()})
        if judged is not None:
            rows[-1].update(verdict_kind=judged[size].kind, verdict=judged[size].text)
    table = pd.DataFrame(rows)
    table["params_ratio"] = table["params"] / table["params"].shift()
    table["onset_ratio"] = table["onset_seconds"] / table["onset_seconds"].shift()
    table["onset_in_data"] = table["onset_seconds"] <= table["largest_shard"]
    return table


def plateau_display(table: pd.DataFrame, beyond: float = 10.0):
    """:func:`plateau_table` for reading: an onset more than ``beyond`` times past the largest
    shard reads "beyond the measured range", internal columns are left out."""
    from scaling_core import formatting

    largest = float(table["largest_shard"].max()) if len(table) else np.nan
    if len(table):  # a ratio to an onset beyond the measured range is no measurement either
        far = ~(table["onset_seconds"] <= beyond * largest)
        table = table.assign(onset_ratio=table["onset_ratio"].where(~(far | far.shift(fill_value=False))))
    columns = {"width": "width", "params": "parameters", "beta": "beta", "floor_cer": "floor (CER)",
               "floor_low": "floor 95 % low", "floor_high": "floor 95 % high",
               "onset_seconds": "plateau onset (s)", "onset_in_data": "onset inside the data",
               "params_ratio": "parameter ratio", "onset_ratio": "onset ratio", "verdict": "verdict"}
    return formatting.display(table, columns=columns, missing={"params_ratio": "", "onset_ratio": ""},
                              kinds={"onset_seconds": lambda v: formatting.beyond(v, 0.0, largest, beyond)},
                              empty="No fixed-width curve was fitted.")


def plateau_verdict(table: pd.DataFrame) -> str:
    """A sentence for the prose: which widths' floors are measured, and which reach them inside the data.

    No onset is read when a width's curve is starved (its floor may be the training budget's)
    or shows no learning (``verdict_kind`` of :func:`plateau_table`), nor from a floor that is
    not measured (``floor_measured``: its interval reaches zero or infinity).
    """
    kinds = table["verdict_kind"] if "verdict_kind" in table else pd.Series("", index=table.index)
    unread = table[kinds.isin(("starved", "no learning"))]
    if len(unread):
        named = ", ".join(f"{w} ({k})" for w, k in zip(unread["width"], unread["verdict_kind"]))
        return (f"No plateau onset is read from this run: widths {named} did not converge or learn, so their "
                f"floors may be set by the training budget rather than by the model.")
    if table["onset_seconds"].isna().any():
        return "Some widths do not improve with data at all here, so they have no plateau onset."
    measured = table["floor_measured"] if "floor_measured" in table else pd.Series(True, index=table.index)
    loose = "; ".join(f"width {row.width}: {row.floor_cer:.3f} ({row.floor_low:.3g} to {row.floor_high:.3g})"
                      for row in table[~measured].itertuples())
    if not measured.any():
        return (f"No width's floor is measured: every floor's 95 % interval reaches zero or infinity ({loose}), "
                f"so no curve has bent toward a floor clearly enough to read a plateau onset.")
    read = table[measured]
    inside = read.loc[read["onset_in_data"], "width"].tolist()
    text = "" if not loose else (f"The floors of some widths are not measured, their 95 % intervals reaching zero "
                                 f"or infinity ({loose}); no onset is read from them. ")
    if not inside:
        return text + "No width with a measured floor reaches it inside the measured span: every curve is still falling."
    ordered = bool(read["onset_seconds"].is_monotonic_increasing)
    order = "later for wider models" if ordered else "not in order of width"
    text += (f"Widths {', '.join(map(str, inside))} reach their measured floor inside the measured span; "
             f"the onsets come {order}.")
    overlap = (read["floor_low"].to_numpy()[1:] <= read["floor_high"].to_numpy()[:-1]) & (
        read["floor_low"].to_numpy()[:-1] <= read["floor_high"].to_numpy()[1:])
    if overlap.any():
        text += " The measured floors' intervals overlap, so this run cannot tell those widths' floors apart."
    return text


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
    return _with_baselines(chart, baselines)


def fixed_sizes_chart(fixed: pd.DataFrame, fits: dict, baselines: pd.DataFrame | None = None) -> alt.Chart:
    """Fig. 5 right: CER of three fixed DS2 widths, each with its power law plus floor, and the baselines."""
    lines = []
    for size, fit in fits.items():
        rows = fixed[(fixed["size"] == size) & fixed["in_fit"]]
        lines.append(curves.fit_curve(fit, rows["shard_units"], METRIC).assign(curve=rows["curve"].iloc[0]))
    chart = curves.curves_chart(fixed, METRIC, "seconds of audio", fits=pd.concat(lines),
                                title="Fixed DS2 widths, each fitted with a power law plus floor")
    return _with_baselines(chart, baselines)


def _with_baselines(chart: alt.Chart, baselines: pd.DataFrame | None) -> alt.Chart:
    """``chart`` with the shard baselines of CER layered as grey lines (unchanged without any)."""
    lines = curves.baseline_lines(baselines, METRIC)
    return charts.layer(chart, curves.baseline_layer(lines, METRIC)) if len(lines) else chart
