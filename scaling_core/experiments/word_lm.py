"""The word language-model chapter (paper Section 4.2.1): LSTMs and an RHN on the same shards.

One sweep searches three families on one set of nested KJV shards: 2-layer and
4-layer LSTMs and a depth-5 recurrent highway network, each with its own model search.
Each family's winners give a learning curve and a model-size curve; the bootstrap
intervals of their exponents, and of the pairwise differences of exponents
(:mod:`scaling_core.experiments.compare`), test whether the architectures share one
exponent. A second, smaller sweep re-tunes the winner of the largest shard (more
learning-rate draws and a longer training budget) to see how much of a drift above the
power law more tuning recovers.

Each family's curve is judged by its own data against the unigram and bigram of every
shard (:mod:`scaling_core.experiments.verdicts`); its exponent is fitted on its power-law
region, and the chapter claims a power law, a sublinear model size or an agreement with
the paper only where the verdicts allow it.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import altair as alt
import pandas as pd

from scaling_core import charts
from scaling_core.data.lm_corpora import WORD_DATASETS
from scaling_core.experiments import compare, curves, lm_scales, verdicts
from scaling_core.experiments.lm_scales import lm_scale
from scaling_core.experiments.word_lm_prose import (  # noqa: F401  (re-exported: the chapter's sentences)
    FAMILIES, FAMILY_NAMES, METRIC, baseline_note, claims, retune_verdict, shared_exponent_note, shared_summary,
    size_claims, size_exponents, slopes, untrained_note, verdict_list,
)
from scaling_core.paths import store_path
from scaling_core.profiles import ChapterConfig
from scaling_core.sweep.records import completed_record, sweep_trials
from scaling_core.sweep.search import SearchSpec
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.store import Store
from scaling_core.sweep.task import TaskSpec
from scaling_core.tasks.language import DEFAULT_VOCAB_SIZES

CHAPTER = "word_lm"
TASK_FACTORY = "scaling_core.tasks.language:make_word_lm_task"
DATASETS = WORD_DATASETS
"""Datasets the chapter accepts; the first (the KJV, embedded) is the default."""
UNIT = "words"


FIT_FROM = 8_000
"""Shards of at least this many words enter the power-law fits (smaller ones are small-data)."""

EVALUATIONS_TO_BEST = 12
"""Median evaluations up to and including the best one over the 19 trials of the converged laptop
store (every one stopped early), for the cost model (:func:`scaling_core.cost.evaluations_to_best`;
measured by :func:`scaling_core.cost.measured_evaluations_to_best`)."""

WORD_LM_SCALES = dict(
    # seconds on one CPU core: 3 shards of 8k-32k KJV words, tiny models of all three families
    smoke=lm_scale((8_000, 32_000), {"lstm2": [8, 16], "lstm4": [8], "rhn5": [8]}, lr_range=(1e-2, 1e-2),
                 batch_sizes=(8,), samples=1,
                 trainer=dict(max_epochs=2, max_steps=4, patience=1, min_eval_steps=4), val_units=1_000,
                 vocab_size=2_000),
    # about 25 minutes on 2 CPU cores (benchmarks/pilot_word_lm.py, lstm2): 6 shards over 1.5 orders of magnitude
    # (8k-256k words), the 2-layer LSTM alone (the other families do not fit the budget), widths 32/64 on the smallest
    # shard grown by 0, 0.25 or 0.5 per doubling, a 2k-word vocabulary, V of 20k words; trained to early stopping
    # (patience 3, evaluations at least 50 steps apart so that a trial leaves the unigram plateau, caps out of reach)
    laptop=lm_scale((8_000, 256_000), {"lstm2": [32, 64]}, lr_range=(4e-3, 1.2e-2), batch_sizes=(20,), samples=1,
                  trainer=dict(max_epochs=400, max_steps=100_000, patience=3, min_eval_steps=50), val_units=20_000,
                  vocab_size=2_000, max_size=512, growth=(0.0, 0.25, 0.5)),
    # one GPU, about 10 minutes of an H200 by `scaling-core cost word_lm -p profile paper` (steps priced with the
    # chapter's measured evaluations to the best): 8 shards over 2.1 orders of magnitude (7k-896k of the KJV's 0.90M
    # training words), all three families trained to early stopping (caps out of reach); widths grow as m^0.25-m^0.5
    # (the paper's beta_p of 0.69-0.78 in parameters), capped at 256; V of 20k words read in 40 rows (evaluations of
    # a depth-5 RHN are launch-bound). The RHN takes most of the time (launch-bound)
    paper=lm_scale((7_000, 896_000), {"lstm2": [32, 64, 128], "lstm4": [32, 64, 128], "rhn5": [32, 64, 128]},
                 lr_range=(1e-3, 5e-3), batch_sizes=(32,), samples=1,
                 trainer=dict(max_epochs=1000, max_steps=50_000, patience=3, min_eval_steps=50), val_units=20_000,
                 max_size=256,
                 growth=(0.25, 0.5), eval_rows=40),
)
"""Per-profile settings of the word-LM chapter (KJV by default): ``shard_sizes`` in words
(``<eos>`` included), the vocabulary size (``None``: :data:`DEFAULT_VOCAB_SIZES`), the
model grid ``families`` (hidden width per layer) and one model
search per family (Adam learning rates, ``batch_size`` = rows of the continuous stream),
the trainer's stopping rules (an epoch is one pass over the shard's stream, see
:meth:`WordLMTask.steps_per_epoch`), and ``val_units``, the words of V scored per evaluation.
Calibration (one shared CPU core, 20 rows x 80 steps, 5k-word vocabulary): the three families
train at about 10k-15k words per second at widths 16-64, the softmax layer dominating."""

_RETUNE = {
    "smoke": {"family": "lstm2", "samples": 2, "lr_range": (3e-3, 3e-2), "budget_factor": 2},
    "laptop": {"family": "lstm2", "samples": 2, "lr_range": (3e-3, 3e-2), "budget_factor": 3},
    "paper": {"family": "lstm2", "samples": 6, "lr_range": (5e-4, 1e-2), "budget_factor": 2},
}
_CHAPTER = {
    "smoke": {"fit_from": FIT_FROM, "bootstrap": 200, "workers": 1},
    "laptop": {"fit_from": FIT_FROM, "bootstrap": 1000, "workers": 2},
    "paper": {"fit_from": FIT_FROM, "bootstrap": 2000, "workers": 4},
}
SCALES = {profile: {**WORD_LM_SCALES[profile], **_CHAPTER[profile], "retune": _RETUNE[profile]}
          for profile in WORD_LM_SCALES}
"""Per-profile settings: the sweep engine's settings from
:data:`WORD_LM_SCALES` (shards, families, searches, trainer,
``val_units``) plus the chapter's: ``fit_from`` (words), bootstrap resamples, local
workers and ``retune``: the family whose largest-shard winner is trained again with
``samples`` learning rates drawn from ``lr_range`` and ``budget_factor`` times the steps."""

TABLE1_ROWS = [
    {"domain": "Language modeling (words)", "model": "LSTM", "sweep": "word_lm-{profile}-seed{seed}",
     "family": "lstm2", "metric": METRIC, "unit": UNIT, "fit_from_units": FIT_FROM,
     "paper_beta_g": -0.066, "paper_beta_p": None},
    {"domain": "Language modeling (words)", "model": "RHN", "sweep": "word_lm-{profile}-seed{seed}",
     "family": "rhn5", "metric": METRIC, "unit": UNIT, "fit_from_units": FIT_FROM,
     "paper_beta_g": -0.070, "paper_beta_p": None},
]
"""The paper's Table 1 rows this chapter reproduces (the 2-layer LSTM stands for its LSTM)."""


# ----------------------------------------------------------------------------- sweeps
def sweep_name(profile: str, seed: int, kind: str = "") -> str:
    """``word_lm-<profile>-seed<seed>`` (the search) or ``word_lm-<kind>-...`` (e.g. ``retune``)."""
    return f"{CHAPTER}-{kind + '-' if kind else ''}{profile}-seed{seed}"


def task_kwargs(config: ChapterConfig) -> dict:
    """Factory arguments: the data folder only for datasets that need one (keys stay portable)."""
    kwargs = {"dataset": config.dataset, "seed": config.seed, "val_units": config["val_units"],
              "eval_rows": config["eval_rows"],
              "vocab_size": config["vocab_size"] or DEFAULT_VOCAB_SIZES[config.dataset]}
    if config.dataset != "kjv" and config.data_dir is not None:
        kwargs["data_dir"] = str(config.data_dir)
    return kwargs


def search_spec(config: ChapterConfig) -> SweepSpec:
    """The model search of every family in ``config["families"]`` on one set of shards."""
    return SweepSpec.from_dict({
        "name": sweep_name(config.profile, config.seed), "seed": config.seed,
        "task": {"factory": TASK_FACTORY, "kwargs": task_kwargs(config)},
        "shard_sizes": config["shard_sizes"], "searches": config["searches"], "trainer": config["trainer"],
    })


def retune_spec(config: ChapterConfig, best: pd.DataFrame) -> SweepSpec:
    """More tuning on the largest shard: its winner's size, more learning rates, a longer budget.

    ``best`` holds the search's winners of ``config["retune"]["family"]``; the shard is the
    same prefix of the same example order as the search's largest shard.
    """
    search, retune = search_spec(config), config["retune"]
    winner = best.sort_values("shard_units").iloc[-1]
    family_search = next(s for s in search.searches if s.family == retune["family"])
    factor = retune["budget_factor"]
    return replace(
        search, name=sweep_name(config.profile, config.seed, "retune"), shard_sizes=search.shard_sizes[-1:],
        searches=(SearchSpec(family=retune["family"], grid=(float(winner["size"]),), growth=(0.0,),
                             samples=retune["samples"], lr_range=retune["lr_range"],
                             batch_sizes=family_search.batch_sizes),),
        trainer=replace(search.trainer, max_steps=search.trainer.max_steps * factor,
                        max_epochs=search.trainer.max_epochs * factor,
                        patience=search.trainer.patience + 1))


def sweep_specs(config: ChapterConfig, trials: pd.DataFrame | None = None) -> list[SweepSpec]:
    """The chapter's sweeps: the search, and (given its ``trials``) the re-tuning sweep."""
    specs = [search_spec(config)]
    if trials is not None:
        best = curves.winners(trials, METRIC, family=config["retune"]["family"])
        specs.append(retune_spec(config, best))
    return specs


def later_sweep_specs(config: ChapterConfig, opened: Store) -> list[SweepSpec]:
    """The re-tuning sweep, once the search has completed in the ``opened`` store (it follows its winners)."""
    search = search_spec(config)
    if completed_record(opened, search) is None:
        return []
    return sweep_specs(config, sweep_trials(opened, search))[1:]


def profile_span(profile: str) -> str:
    """The shard span of ``profile``: ``"8,000 to 256,000 words (1.5 decades, 6 shards)"``."""
    return lm_scales.span(SCALES[profile], UNIT)


def store(config: ChapterConfig) -> Path:
    """The chapter's results store, ``results/word_lm/<dataset>-<profile>.sqlite``."""
    return store_path(CHAPTER, config.profile, config.dataset)


def run(config: ChapterConfig, progress: bool = False) -> pd.DataFrame:
    """Run (or resume, or read) both sweeps from ``results/word_lm/<dataset>-<profile>.sqlite``."""
    path = store(config)
    search = curves.run(search_spec(config), path, config.device, config["workers"], progress=progress)
    retune = curves.run(sweep_specs(config, search)[1], path, config.device, config["workers"],
                        progress=progress)
    return pd.concat([search, retune], ignore_index=True)


# ----------------------------------------------------------------------------- analysis
def search_trials(trials: pd.DataFrame, config: ChapterConfig) -> pd.DataFrame:
    """The trials of the model search only (not the re-tuning sweep)."""
    return trials[trials["sweep"] == sweep_name(config.profile, config.seed)]


def family_winners(trials: pd.DataFrame, config: ChapterConfig, baselines: pd.DataFrame | None = None,
                   ) -> tuple[dict[str, pd.DataFrame], dict[str, verdicts.Verdict]]:
    """Each family's composite learning curve (winners per shard) and its verdict.

    ``baselines``: the search sweep's shard baselines (unigram and bigram). Each family's
    winners have ``in_fit`` set to its power-law region (small-data shards left out).
    """
    search = search_trials(trials, config)
    families = list(config["families"])
    return lm_scales.judge_curves({f: search for f in families}, METRIC, {f: f for f in families},
                                  config["fit_from"], {f: baselines for f in families})


def size_verdicts(winners: dict, fits: dict, judged: dict, trials: pd.DataFrame,
                  config: ChapterConfig) -> dict[str, verdicts.SizeVerdict]:
    """``{family: SizeVerdict}``: each family's model-size verdict (pinned against the search's trials)."""
    search = search_trials(trials, config)
    return lm_scales.size_verdicts(winners, fits, judged, {family: search for family in winners})


def family_fits(winners: dict[str, pd.DataFrame], bootstrap: int, seed: int) -> dict[str, tuple]:
    """``{family: (learning-curve fit, model-size fit)}``, both bootstrapped."""
    return compare.fit_each(winners, METRIC, bootstrap, seed)


def exponent_table(winners: dict, fits: dict, judged: dict | None = None, sizes: dict | None = None,
                   ) -> pd.DataFrame:
    """One row per family: beta_g with its interval, fit error, span, beta_p with its interval (and verdicts)."""
    return lm_scales.with_verdicts(compare.exponent_table(winners, fits, FAMILIES, UNIT), list(fits), judged, sizes)


def shared_exponent_table(fits: dict, level: float = 0.95) -> pd.DataFrame:
    """Pairwise differences of the families' learning-curve exponents with bootstrap intervals."""
    learning = {FAMILIES.get(family, family): pair[0] for family, pair in fits.items()}
    return compare.exponent_comparison(learning, level)


def retune_table(trials: pd.DataFrame, config: ChapterConfig, fit) -> pd.DataFrame:
    """The largest shard's winner from the search and after more tuning, beside the fitted law."""
    family = config["retune"]["family"]
    largest = search_trials(trials, config)["shard_units"].max()
    retuned = trials[trials["sweep"] == sweep_name(config.profile, config.seed, "retune")]
    rows = []
    for label, frame in (("model search", search_trials(trials, config)), ("more tuning", retuned)):
        best = curves.winners(frame[frame["shard_units"] == largest], METRIC, family)
        rows.append(best.assign(run=label))
    table = pd.concat(rows, ignore_index=True)[["run", "shard_units", "size", "lr", "best_epoch", METRIC]]
    table["predicted"] = fit.predict(table["shard_units"].to_numpy(float))
    table["excess"] = table[METRIC] / table["predicted"] - 1
    return table


def drift(winners: dict, fits: dict) -> pd.DataFrame:
    """Every family's winners beside their own fitted laws (``curve`` names the family)."""
    return pd.concat([compare.drift_table(best, fits[f][0], METRIC).assign(curve=FAMILIES.get(f, f))
                      for f, best in winners.items()], ignore_index=True)


def widths_at_cap(winners: dict, config: ChapterConfig) -> tuple[int, int]:
    """How many winners (of all families) sit at the search's largest allowed width, of how many."""
    cap = min(s["max_size"] for s in config["searches"])
    sizes = pd.concat([best["size"] for best in winners.values()])
    return int((sizes >= cap).sum()), len(sizes)


def table1(winners: dict, fits: dict, judged: dict | None = None) -> pd.DataFrame:
    """The chapter's Table 1 rows: the paper's exponents beside ours, with each curve's verdict.

    ``agrees`` holds only for a measured curve whose interval excludes zero and holds the paper's exponent.
    """
    rows = [row for row in TABLE1_ROWS if row["family"] in fits]
    table = compare.table1([{**row, "fit": fits[row["family"]][0], "size_fit": fits[row["family"]][1]}
                            for row in rows])
    judged_rows = [None if judged is None else judged[row["family"]] for row in rows]
    table["verdict"] = [v.text if v else "not judged" for v in judged_rows]
    table["agrees"] = [lm_scales.agrees(v, *fits[row["family"]][0].beta_ci_, row["paper_beta_g"])
                       for v, row in zip(judged_rows, rows)]
    return table


# ----------------------------------------------------------------------------- charts
def families_chart(winners: dict, fits: dict, baselines: pd.DataFrame | None = None) -> alt.Chart:
    """The three families' composite learning curves with their fitted power laws (and the baselines, grey)."""
    points, lines = compare.labelled_curves(winners, {f: fit for f, (fit, _) in fits.items()}, METRIC, FAMILIES)
    chart = curves.curves_chart(points, METRIC, UNIT, fits=lines,
                                title="Word LMs: validation cross-entropy of each shard's best model")
    bars = curves.baseline_lines(baselines, METRIC)
    return charts.layer(chart, curves.baseline_layer(bars, METRIC)) if len(bars) else chart


def model_sizes_chart(winners: dict, fits: dict) -> alt.Chart:
    """The three families' best-fit parameter counts with their model-size laws."""
    size_fits = {f: size_fit for f, (_, size_fit) in fits.items()}
    points, lines = compare.labelled_curves(winners, size_fits, "num_params", FAMILIES)
    return compare.model_sizes_chart(points, lines, UNIT, "Word LMs: best-fit model size")


@functools.lru_cache(maxsize=2)
def _built_task(kwargs: tuple):
    return TaskSpec(TASK_FACTORY, dict(kwargs)).build()


def built_task(config: ChapterConfig):
    """The chapter's task, built from the data once per set of :func:`task_kwargs`."""
    return _built_task(tuple(sorted(task_kwargs(config).items())))


def training_words(config: ChapterConfig) -> int:
    """Words in the task's training set T (``<eos>`` included), of which every shard is a prefix."""
    return int(built_task(config).example_units().sum())


def vocabulary_size(config: ChapterConfig) -> int:
    """Words in the task's vocabulary (``<eos>`` and ``<unk>`` included), built from the data."""
    return len(built_task(config).vocab)
