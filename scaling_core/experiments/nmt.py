"""The neural machine translation chapter (paper Section 4.1): sweeps, curves, fits, samples.

Three kinds of sweep share one results store per profile and dataset:

* the model search (``nmt-{profile}-seed{seed}``): a grid of widths on the smallest
  shard, then widths projected from each shard's winner; its winners give the
  composite learning curve and the model-size curve (the paper's Figure 1, right);
* one fixed-width sweep per width in ``fixed_widths``
  (``nmt-{profile}-seed{seed}-width{w}``): the same model on every shard, whose
  learning curve bends towards a floor (Figure 1, left).

Data size is counted in target-language tokens, the metric is the teacher-forced
per-token classification error on V (bits per token beside it). The search sweep
keeps its models' weights, so the best model on the largest shard can translate
a few validation sentences without training anything again.

Every curve is judged by its own data (:mod:`scaling_core.experiments.verdicts`) against
the shard baselines of the search sweep (the most frequent target token for the error,
the target unigram for bits per token; the fixed-width sweeps share its shards): the
composite curve's exponent is fitted on its power-law region only, and a power law or a
sublinear model size is claimed only where the verdict measured one.
"""

from __future__ import annotations

import json
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import torch

from scaling_core import charts, notebook
from scaling_core.experiments import curves, verdicts
from scaling_core.paths import store_path
from scaling_core.profiles import ChapterConfig
from scaling_core.sweep.spec import SweepSpec

CHAPTER = "nmt"
TASK_FACTORY = "scaling_core.tasks.translation:make_translation_task"
DATASETS = ("g2p", "multi30k")
"""Datasets the chapter accepts: embedded grapheme-to-phoneme, Multi30k German-English."""

FAMILY = "seq2seq"
METRIC = "val_error"
"""Teacher-forced per-token classification error on V: what the search minimises."""

UNIT = "tokens"
FIT_FROM_UNITS = 8_000
"""Smallest shard (target tokens) the power-law fits use; smaller shards are the small-data region."""

PAPER_BETA_G = -0.128
"""The paper's Table 1 exponent for NMT (per-token error of the best-fit models)."""


def _search(grid, growth, samples, lr_range, batch_sizes, max_size):
    return {"family": FAMILY, "grid": list(grid), "growth": list(growth), "samples": samples,
            "lr_range": list(lr_range), "batch_sizes": list(batch_sizes), "min_size": 8,
            "max_size": max_size}


SCALES = {
    # dataset: the profile's default; data: task settings per dataset (max_verses: KJV
    # verses transcribed; vocab_size: shared BPE vocabulary; val_size: pairs in V).
    # Widths grow with growth g as w * (m_k / m_{k-1})^g, so parameters grow about as
    # (m_k / m_{k-1})^(2g). Measured on one free CPU core (g2p, batch 64, ~1,560 target
    # tokens a step): a step of width 32 / 64 / 128 takes 0.05 / 0.09 / 0.18 s, and
    # several times longer on a shared machine. Trials stop early once V stops
    # improving, else after max_steps (the laptop cap: about three passes over 128k tokens).
    "smoke": {
        "dataset": "g2p",
        "data": {"g2p": {"max_verses": 3000, "val_size": 100},
                 "multi30k": {"vocab_size": 2000, "val_size": 100}},
        "shard_sizes": {"min_units": 2_000, "max_units": 32_000, "factor": 2},  # 5 shards
        "search": _search((16, 32), (0.5,), 1, (3e-3, 3e-3), (32,), 64),
        "fixed_widths": [16, 32],
        "trainer": {"max_epochs": 20, "max_steps": 16, "patience": 2, "min_eval_steps": 8,
                    "grad_clip": 5.0},
        "bootstrap": 100, "fixed_bootstrap": 50, "workers": 1, "samples": 4,
    },
    "laptop": {
        "dataset": "g2p",
        "data": {"g2p": {"max_verses": 12_000, "val_size": 300},
                 "multi30k": {"vocab_size": 4000, "val_size": 1014}},
        "shard_sizes": {"min_units": 2_000, "max_units": 128_000, "factor": 2},  # 7 shards, 1.8 decades
        "search": _search((32, 64), (0.0, 0.25), 1, (2e-3, 6e-3), (64,), 128),
        "fixed_widths": [16, 32],
        "trainer": {"max_epochs": 200, "max_steps": 250, "patience": 3, "min_eval_steps": 25,
                    "grad_clip": 5.0},
        "bootstrap": 1000, "fixed_bootstrap": 200, "workers": 2, "samples": 8,
    },
    "paper": {  # about 10 minutes of an H200 each by `scaling-core cost nmt -p profile paper`
        "dataset": "multi30k",
        "data": {"g2p": {"max_verses": None, "val_size": 2000},
                 "multi30k": {"vocab_size": 8000, "val_size": 1014}},
        "shard_sizes": {"min_units": 1_500, "max_units": 192_000, "factor": 2},  # 8 shards, 2.1 decades
        "search": _search((32, 64, 128), (0.0, 0.5), 2, (3e-4, 3e-3), (64, 128), 256),
        "fixed_widths": [32, 256],
        "trainer": {"max_epochs": 60, "max_steps": 40_000, "patience": 5, "min_eval_steps": 50,
                    "grad_clip": 5.0},
        "bootstrap": 2000, "fixed_bootstrap": 1000, "workers": 4, "samples": 10,
    },
}
"""Per-profile settings: smoke (seconds on a CPU), laptop (g2p, ~20 CPU minutes),
paper (Multi30k on one GPU, four trials sharing it). ``bootstrap`` / ``fixed_bootstrap``:
resamples for the power-law fits / the slower power-law-plus-constant fits."""

MODEL_OPTIONS = {"dropout": 0.0}
"""No dropout: the search limits capacity through the width and early stopping alone."""

TABLE1_ROWS = [{
    "domain": "Neural machine translation", "model": "LSTM encoder-decoder with attention",
    "sweep": "nmt-{profile}-seed{seed}", "family": FAMILY, "metric": METRIC, "unit": UNIT,
    "fit_from_units": FIT_FROM_UNITS, "paper_beta_g": PAPER_BETA_G, "paper_beta_p": None,
}]
"""The Table 1 row this chapter reproduces (read by the implications chapter)."""


# ----------------------------------------------------------------------------- sweeps


def search_name(profile: str, seed: int) -> str:
    """Name of the model-search sweep in the store."""
    return TABLE1_ROWS[0]["sweep"].format(profile=profile, seed=seed)


def fixed_name(profile: str, seed: int, width: int) -> str:
    """Name of the fixed-width sweep of ``width`` in the store."""
    return f"{search_name(profile, seed)}-width{width}"


def task_kwargs(config: ChapterConfig) -> dict:
    """Keyword arguments of :func:`~scaling_core.tasks.translation.make_translation_task`."""
    kwargs = {"dataset": config.dataset, "seed": config.seed,
              **config["data"][config.dataset],
              **MODEL_OPTIONS}
    if config.dataset == "multi30k" and config.data_dir is not None:
        kwargs["data_dir"] = str(config.data_dir)
    return kwargs


def _spec(name: str, config: ChapterConfig, search: dict, save_models: bool = False) -> SweepSpec:
    return SweepSpec.from_dict({
        "name": name, "seed": config.seed, "save_models": save_models,
        "task": {"factory": TASK_FACTORY, "kwargs": task_kwargs(config)},
        "shard_sizes": config["shard_sizes"], "searches": [search], "trainer": config["trainer"],
    })


def sweep_specs(config: ChapterConfig) -> list[SweepSpec]:
    """The model search (which keeps its weights) then one fixed-width sweep per width."""
    search = config["search"]
    specs = [_spec(search_name(config.profile, config.seed), config, search, save_models=True)]
    for width in config["fixed_widths"]:
        fixed = {**search, "grid": [width], "growth": [0.0], "samples": 1}
        specs.append(_spec(fixed_name(config.profile, config.seed, width), config, fixed))
    return specs


def store(config: ChapterConfig) -> Path:
    """The chapter's results store, ``results/nmt/<dataset>-<profile>.sqlite``."""
    return store_path(CHAPTER, config.profile, config.dataset)


def run(config: ChapterConfig, progress: bool = False) -> pd.DataFrame:
    """Run (or resume, or only read) every sweep of the chapter; one row per trial and sweep."""
    frames = curves.run_all(sweep_specs(config), store(config), config.device, config["workers"], progress=progress)  # independent
    return pd.concat(frames, ignore_index=True)


def _named_dataset(config: ChapterConfig) -> str | None:
    """The dataset to name in a re-run command: None when it is the profile's default."""
    return None if config.dataset == SCALES[config.profile]["dataset"] else config.dataset


def run_command(config: ChapterConfig) -> str:
    """The command that re-executes the chapter with ``config``."""
    return notebook.run_command(CHAPTER, config.profile, config.seed, dataset=_named_dataset(config))


def glue_run_command(config: ChapterConfig, name: str = "run_command"):
    """Glue :func:`run_command` as Markdown code for figure captions: {glue:md}`run_command`."""
    return notebook.glue_command(CHAPTER, config.profile, config.seed, name=name,
                                 dataset=_named_dataset(config))


def dataset_overview(config: ChapterConfig, examples: int = 5) -> tuple[dict, pd.DataFrame]:
    """Sizes of the chapter's data (pairs, target tokens, vocabularies) and a few training pairs."""
    task = sweep_specs(config)[0].task.build()
    summary = {"train_pairs": len(task.train_src), "train_tokens": int(task.example_units().sum()),
               "val_pairs": len(task.val_src), "src_vocab": task.src_tokenizer.vocab_size,
               "tgt_vocab": task.tgt_tokenizer.vocab_size}
    pairs = task.train_text.iloc[:examples].copy()
    pairs["target tokens"] = task.example_units()[:examples]
    return summary, pairs


# ----------------------------------------------------------------------------- curves and fits


def search_trials(trials: pd.DataFrame, config: ChapterConfig) -> pd.DataFrame:
    """The trials of the model search only (not the fixed-width sweeps)."""
    return trials[trials["sweep"] == search_name(config.profile, config.seed)]


def search_winners(trials: pd.DataFrame, config: ChapterConfig, metric: str = METRIC) -> pd.DataFrame:
    """Each shard's best model of the search by ``metric``: the composite learning curve."""
    return curves.winners(search_trials(trials, config), metric, FAMILY, fit_from=FIT_FROM_UNITS)


def judge_search(trials: pd.DataFrame, config: ChapterConfig, baselines: pd.DataFrame | None = None,
                 metric: str = METRIC) -> tuple[pd.DataFrame, verdicts.Verdict]:
    """The composite curve's winners with their power-law region (``in_fit``) and its verdict.

    ``baselines`` is the search sweep's shard baselines
    (:func:`~scaling_core.experiments.contract.baselines`); without them only convergence
    and the straightness of the curve are judged.
    """
    return curves.judged_winners(search_trials(trials, config), metric, baselines, FAMILY,
                                 fit_from=FIT_FROM_UNITS)


def size_verdict(best: pd.DataFrame, size_fit, verdict: verdicts.Verdict, trials: pd.DataFrame,
                 config: ChapterConfig) -> verdicts.SizeVerdict:
    """The model-size verdict of the composite curve's winners (pinned against the search's own trials)."""
    return verdicts.judge_model_size(best, size_fit, verdict, search_trials(trials, config))


def fixed_curves(trials: pd.DataFrame, config: ChapterConfig, metric: str = METRIC) -> pd.DataFrame:
    """The learning curve of every fixed width, with a ``curve`` label per width."""
    frames = []
    for width in config["fixed_widths"]:
        rows = trials[trials["sweep"] == fixed_name(config.profile, config.seed, width)]
        curve = curves.fixed_size_curve(rows, metric, FAMILY, width)
        curve["in_fit"] = curve["shard_units"] >= FIT_FROM_UNITS
        curve["region"] = np.where(curve["in_fit"], curves.FITTED, curves.SMALL_DATA)
        frames.append(curve.assign(curve=f"width {width}"))
    return pd.concat(frames, ignore_index=True)


def capped_share(rows: pd.DataFrame, config: ChapterConfig) -> float:
    """Share of ``rows`` (trials) that stopped at the step cap rather than by early stopping."""
    return float((rows["steps"] >= config["trainer"]["max_steps"]).mean())


def fit_composite(best: pd.DataFrame, metric: str = METRIC, bootstrap: int = 1000, seed: int = 0):
    r"""Power law :math:`\epsilon(m) = \alpha m^{\beta_g}` through the winners (shards in the fit)."""
    with np.errstate(over="ignore"):  # bootstrap draws far outside the data may overflow
        return curves.fit_learning_curve(best, metric, bootstrap, seed)


def fit_model_size(best: pd.DataFrame, bootstrap: int = 1000, seed: int = 0):
    r"""Model-size law :math:`s(m) = \alpha_p m^{\beta_p}` through the winners' parameter counts."""
    with np.errstate(over="ignore"):
        return curves.fit_model_size(best, bootstrap, seed)


def fit_fixed_curves(fixed: pd.DataFrame, metric: str = METRIC, bootstrap: int = 1000,
                     seed: int = 0) -> dict:
    r"""Fit :math:`\epsilon(m) = \alpha m^{\beta_g} + \gamma` to each fixed-width curve.

    Only the shards with ``in_fit`` count. Returns ``{curve label: PowerLawConstantFit}``
    (bootstrap intervals when ``bootstrap``).
    """
    with np.errstate(over="ignore", invalid="ignore"):  # floor intervals may reach 0 or inf
        return {label: curves.fit_learning_curve(curve, metric, bootstrap, seed, constant=True)
                for label, curve in fixed.groupby("curve", sort=False)}


def fixed_verdicts(fixed: pd.DataFrame, baselines: pd.DataFrame | None = None,
                   metric: str = METRIC) -> dict[str, verdicts.Verdict]:
    """``{curve label: Verdict}`` of every fixed-width curve: converged, below the baseline, straight.

    The verdict judges the curve (its winners' stop reasons, the baseline, its longest
    power-law stretch); the power law plus constant is still fitted on every shard past
    the small-data region, since a floor bends the curve off any one straight line.
    """
    return {label: curves.judge_metric(curve, metric, baselines)[1]
            for label, curve in fixed.groupby("curve", sort=False)}


def fixed_fit_table(fixed: pd.DataFrame, fits: dict, judged: dict | None = None) -> pd.DataFrame:
    """One row per fixed width: exponent, floor :math:`\\gamma` (with intervals), fit error (and verdict)."""
    rows = []
    for label, fit in fits.items():
        verdict = None if judged is None else judged[label]
        row = curves.fit_row(label, fit, fixed[fixed["curve"] == label], UNIT, verdict)
        low, high = fit.gamma_ci_
        rows.append({**row, "gamma": fit.gamma_, "gamma_low": low, "gamma_high": high})
    return pd.DataFrame(rows)


def fixed_curves_chart(fixed: pd.DataFrame, fits: dict, metric: str = METRIC,
                       baselines: pd.DataFrame | None = None) -> alt.Chart:
    """Figure 1, left: every fixed width's learning curve with its power law plus constant (and baselines, grey)."""
    fitted = fixed.loc[fixed["in_fit"], "shard_units"]
    dense = [curves.fit_curve(fit, fitted, metric, label=label) for label, fit in fits.items()]
    dense = pd.concat(dense, ignore_index=True).rename(columns={"region": "curve"})
    chart = curves.curves_chart(fixed, metric, UNIT, color="curve", fits=dense,
                                title="Fixed model sizes: power law plus a floor")
    lines = curves.baseline_lines(baselines, metric)
    return charts.layer(chart, curves.baseline_layer(lines, metric)) if len(lines) else chart


def composite_chart(best: pd.DataFrame, fit, metric: str = METRIC,
                    baselines: pd.DataFrame | None = None) -> alt.Chart:
    """Figure 1, right: the best model per shard with its power law (and the baselines, grey)."""
    return curves.learning_curve_chart(best, fit, metric, UNIT, baselines=baselines)


# ----------------------------------------------------------------------------- tables


def table1(fit, best: pd.DataFrame, size_fit=None, verdict: verdicts.Verdict | None = None) -> pd.DataFrame:
    """The chapter's Table 1 row beside the paper's value, with the curve's verdict.

    ``agrees`` holds only when the curve measured a power law, our interval excludes zero
    and it holds the paper's exponent.
    """
    row = curves.fit_row(TABLE1_ROWS[0]["model"], fit, best, UNIT, verdict)
    low, high = row["beta_g_low"], row["beta_g_high"]
    return pd.DataFrame([{
        "domain": TABLE1_ROWS[0]["domain"], "model": row["curve"], "metric": METRIC,
        "beta_g": row["beta_g"], "beta_g_low": low, "beta_g_high": high,
        "paper_beta_g": PAPER_BETA_G,
        "beta_p": size_fit.beta_p_ if size_fit is not None else np.nan,
        "decades": row["decades"], "points": row["points"],
        "verdict": row.get("verdict", "not judged"),
        "agrees": bool(verdict is not None and verdict.measured and high < 0 and low <= PAPER_BETA_G <= high),
    }])


def winners_table(best: pd.DataFrame) -> pd.DataFrame:
    """The composite curve as a table: shard size, winning width, why it stopped, its scores and region."""
    columns = ["shard_units", "size", "num_params", "lr", "best_epoch", "stop_reason", "train_loss",
               METRIC, "val_bits_per_token", "below_baseline", "region"]
    return best[[c for c in columns if c in best.columns]].rename(columns={"size": "width"})


# ----------------------------------------------------------------------------- samples


SAMPLE_COLUMNS = ["source", "reference", "hypothesis", "exact"]
"""Columns of :func:`translation_samples`: V's source and reference, the greedy output, a match."""


def artefact_dir(config: ChapterConfig) -> Path:
    """Where the search sweep keeps its models' weights (beside the store)."""
    return store(config).with_suffix(".artefacts")


def largest_shard_winner(trials: pd.DataFrame, config: ChapterConfig) -> pd.Series:
    """The search's best trial on its largest shard."""
    best = search_winners(trials, config)
    return best.loc[best["shard_units"].idxmax()]


def translation_samples(trials: pd.DataFrame, config: ChapterConfig) -> pd.DataFrame:
    """Greedy translations of the first pairs of V by the best model on the largest shard.

    Computed once from the saved weights, then read from ``samples-<key>.json`` beside
    them (the file is small enough to publish with the store; the weights are not).
    Without either, an empty frame.
    """
    winner = largest_shard_winner(trials, config)
    cached = artefact_dir(config) / f"samples-{winner['key']}.json"
    if cached.exists():
        return pd.DataFrame(json.loads(cached.read_text(encoding="utf-8")), columns=SAMPLE_COLUMNS)
    weights = artefact_dir(config) / f"{winner['key']}.pt"
    if not weights.exists():
        return pd.DataFrame(columns=SAMPLE_COLUMNS)
    frame = _translate(weights, winner, config)
    cached.write_text(json.dumps(frame.to_dict("records"), ensure_ascii=False, indent=1), encoding="utf-8")
    return frame


def _translate(weights: Path, winner: pd.Series, config: ChapterConfig) -> pd.DataFrame:
    """Load the winner's weights into a fresh model and translate ``samples`` pairs of V."""
    task = sweep_specs(config)[0].task.build()
    model = task.build_model(FAMILY, winner["size"])
    model.load_state_dict(torch.load(weights, map_location="cpu")["state_dict"])
    rows = task.sample_translations(model.to(config.device), config["samples"], config.device)
    frame = pd.DataFrame(rows, columns=SAMPLE_COLUMNS[:3])
    frame["exact"] = (frame["reference"] == frame["hypothesis"]).astype(bool)
    return frame


# ----------------------------------------------------------------------------- charts


def trials_chart(trials: pd.DataFrame, config: ChapterConfig, metric: str = METRIC) -> alt.Chart:
    """Every search trial's ``metric`` against its width, one colour per shard."""
    rows = trials[(trials["sweep"] == search_name(config.profile, config.seed))
                  & (trials["status"] == "done")]
    return charts.finish(alt.Chart(rows).mark_point(filled=True, size=60).encode(
        x=alt.X("size:Q", **charts.log_axis("width d")),
        y=alt.Y(f"{metric}:Q", **charts.log_axis(metric.replace("_", " "))),
        color=alt.Color("shard_units:O", title="target tokens", scale=alt.Scale(scheme="plasma")),
        tooltip=["shard_units", "size", "num_params", "lr", metric],
    ).properties(title="Model search: every candidate on every shard"))
