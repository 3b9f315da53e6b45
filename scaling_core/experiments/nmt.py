"""The neural machine translation chapter (paper Section 4.1): sweeps, curves, fits, samples.

Two kinds of sweep share one results store per profile and dataset:

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

The names and profiles live in :mod:`scaling_core.experiments.nmt_scales`, the fixed-width
curves in :mod:`scaling_core.experiments.nmt_fixed`; both are re-exported here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import torch

from scaling_core import charts, notebook
from scaling_core.data.shards import shard_sizes
from scaling_core.experiments import curves, verdicts
from scaling_core.experiments.nmt_fixed import (  # noqa: F401  (re-exported: Figure 1, left)
    fit_fixed_curves, fixed_curves, fixed_curves_chart, fixed_fit_table, fixed_verdicts, floor_claim)
from scaling_core.experiments.nmt_scales import (  # noqa: F401  (re-exported: names and settings)
    EVALUATIONS_TO_BEST, FAMILY, FIT_FROM_UNITS, METRIC, MODEL_OPTIONS, SCALES, SEARCH_SWEEP, UNIT, _search,
    fixed_name, search_name)
from scaling_core.models.seq2seq import Seq2SeqConfig
from scaling_core.paths import store_path
from scaling_core.profiles import ChapterConfig
from scaling_core.sweep.spec import SweepSpec

CHAPTER = "nmt"
TASK_FACTORY = "scaling_core.tasks.translation:make_translation_task"
DATASETS = ("g2p", "multi30k")
"""Datasets the chapter accepts: embedded grapheme-to-phoneme, Multi30k German-English."""

PAPER_BETA_G = -0.128
"""The paper's Table 1 exponent for NMT (per-token error of the best-fit models)."""

TABLE1_ROWS = [{
    "domain": "Neural machine translation", "model": "LSTM encoder-decoder with attention",
    "sweep": SEARCH_SWEEP, "family": FAMILY, "metric": METRIC, "unit": UNIT,
    "fit_from_units": FIT_FROM_UNITS, "paper_beta_g": PAPER_BETA_G, "paper_beta_p": None,
}]
"""The Table 1 row this chapter reproduces (read by the implications chapter)."""


# ----------------------------------------------------------------------------- sweeps


def task_kwargs(config: ChapterConfig) -> dict:
    """Keyword arguments of :func:`~scaling_core.tasks.translation.make_translation_task`."""
    kwargs = {"dataset": config.dataset, "seed": config.seed,
              **config["data"][config.dataset],
              **config.settings.get("model", {}), **MODEL_OPTIONS}  # this order is in the stores' keys
    if config.dataset == "multi30k" and config.data_dir is not None:
        kwargs["data_dir"] = str(config.data_dir)
    return kwargs


def model_layers(config: ChapterConfig) -> dict[str, int]:
    """LSTM layers of ``config``'s models: ``{"encoder_layers": ..., "decoder_layers": ...}``.

    Its ``model`` settings over :class:`~scaling_core.models.seq2seq.Seq2SeqConfig`'s
    defaults (the paper's two layers each side).
    """
    model = config.settings.get("model", {})
    return {name: int(model.get(name, getattr(Seq2SeqConfig, name))) for name in ("encoder_layers", "decoder_layers")}


def shard_span(config: ChapterConfig) -> dict:
    """The shard sizes of ``config``: the profile's, or its own for a dataset that has them.

    A profile's ``dataset_shard_sizes`` gives a dataset its own span (Multi30k holds far fewer
    target tokens than the whole grapheme-to-phoneme corpus).
    """
    return _span(config.settings, config.dataset)


def _span(settings, dataset: str) -> dict:
    return settings.get("dataset_shard_sizes", {}).get(dataset, settings["shard_sizes"])


def _spec(name: str, config: ChapterConfig, search: dict, save_models: bool = False) -> SweepSpec:
    return SweepSpec.from_dict({
        "name": name, "seed": config.seed, "save_models": save_models,
        "task": {"factory": TASK_FACTORY, "kwargs": task_kwargs(config)},
        "shard_sizes": shard_span(config), "searches": [search], "trainer": config["trainer"],
    })


def sweep_specs(config: ChapterConfig) -> list[SweepSpec]:
    """The model search (which keeps its weights) then one fixed-width sweep per width."""
    search = config["search"]
    specs = [_spec(search_name(config.profile, config.seed), config, search, save_models=True)]
    for width in config["fixed_widths"]:
        fixed = {**search, "grid": [width], "growth": [0.0], "samples": 1, "bracket": 0}
        specs.append(_spec(fixed_name(config.profile, config.seed, width), config, fixed))
    return specs


def profile_span(profile: str, dataset: str) -> str:
    """The shard span of ``profile`` on ``dataset`` in words: ``"8,000 to 1,024,000 target tokens (2.1 decades)"``."""
    sizes = shard_sizes(**_span(SCALES[profile], dataset))
    return (f"{sizes[0]:,.0f} to {sizes[-1]:,.0f} target tokens "
            f"({math.log10(sizes[-1] / sizes[0]):.1f} decades, {len(sizes)} shards)")


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
