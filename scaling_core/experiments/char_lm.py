"""The character language-model chapter (paper Section 4.2.2): a depth-10 RHN, SGD against Adam.

Two sweeps share one results store, one set of nested shards and one model family
(``rhn10``, the recurrent highway network of depth 10); they differ only in the
optimizer of their model search: plain SGD (``char_lm-sgd-...``) and Adam
(``char_lm-adam-...``). Each gives a learning curve and a model-size curve; the
bootstrap of both fits gives the difference of their exponents and the shift between
the curves (:mod:`scaling_core.experiments.compare`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

from scaling_core.data.lm_corpora import CHAR_DATASETS
from scaling_core.experiments import compare, curves
from scaling_core.experiments.lm_scales import lm_scale
from scaling_core.paths import store_path
from scaling_core.profiles import ChapterConfig
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.task import TaskSpec

CHAPTER = "char_lm"
TASK_FACTORY = "scaling_core.tasks.language:make_char_lm_task"
DATASETS = CHAR_DATASETS
"""Datasets the chapter accepts: the KJV (embedded, default) and Tiny Shakespeare (``data_dir``)."""
METRIC = "val_loss"
"""Validation cross-entropy per character in nats (``val_bpc`` is the same in bits)."""
UNIT = "characters"
FAMILY = "rhn10"

OPTIMIZERS = {"sgd": "SGD", "adam": "Adam"}
"""The two model searches and their labels; the SGD one is plain SGD (no momentum)."""

FIT_FROM = 16_000
"""Shards of at least this many characters enter the power-law fits."""

CHAR_LM_SCALES = dict(
    # seconds on one CPU core: 3 shards of 16k-64k characters, two tiny depth-10 RHNs
    smoke=lm_scale((16_000, 64_000), {"rhn10": [8, 16]}, lr_range=(1e-2, 1e-2), batch_sizes=(8,), samples=1,
                 trainer=dict(max_epochs=2, max_steps=4, patience=1, min_eval_steps=4, grad_clip=1.0),
                 val_units=1_000),
    # about 15 minutes on 2 CPU cores for two optimizers: 6 shards over 1.5 orders of magnitude
    # (8k-256k characters), widths up to 128, at most 15 epochs and 100 steps of 32 verses per trial
    laptop=lm_scale((8_000, 256_000), {"rhn10": [16, 32]}, lr_range=(1e-2, 1e-2), batch_sizes=(32,),
                  samples=1, trainer=dict(max_epochs=15, max_steps=100, patience=2, min_eval_steps=10,
                                          grad_clip=1.0), val_units=5_000, max_size=128),
    # one GPU, about 10 minutes of an H200 for both optimizers by `scaling-core cost char_lm -p profile paper`:
    # 8 shards over 2.1 orders of magnitude (13k-1.66M of the KJV's 3.46M kept training characters), widths
    # growing as m^0.25-m^0.5 up to 256, V of 50k characters; trials of one width train stacked, from CUDA graphs
    paper=lm_scale((13_000, 1_664_000), {"rhn10": [32, 64, 128]}, lr_range=(1e-3, 1e-2), batch_sizes=(128,),
                 samples=2, trainer=dict(max_epochs=20, max_steps=50_000, patience=4, grad_clip=1.0),
                 val_units=50_000, max_size=256, growth=(0.25, 0.5)),
)
"""Per-profile settings of the character-LM chapter (KJV by default; Tiny Shakespeare holds
1.06M characters): ``shard_sizes`` in kept characters, the depth-10 RHN grid (state width),
the Adam searches (``batch_size`` = sentences per batch), the trainer's stopping rules
(gradients clipped to norm 1, which plain SGD needs on an RHN) and ``val_units``.
Calibration (one shared CPU core, 32 verses per batch): a depth-10 RHN trains at about
12k-20k / 7k characters per second at widths 16-32 / 64."""

_CHAPTER = {  # SGD at 3 measured better than at 1 (2.30 vs 2.72 nats; Adam at 1e-2: 2.09) after 150 steps
    # of 32 verses on 64k characters, width 32, gradients clipped to norm 1
    "smoke": {"fit_from": FIT_FROM, "bootstrap": 200, "workers": 1, "sgd_lr_range": (3.0, 3.0)},
    "laptop": {"fit_from": FIT_FROM, "bootstrap": 1000, "workers": 2, "sgd_lr_range": (3.0, 3.0)},
    "paper": {"fit_from": FIT_FROM, "bootstrap": 2000, "workers": 4, "sgd_lr_range": (1.0, 10.0)},
}
SCALES = {profile: {**CHAR_LM_SCALES[profile], **_CHAPTER[profile]} for profile in CHAR_LM_SCALES}
"""Per-profile settings: the sweep engine's settings from
:data:`CHAR_LM_SCALES` (shards, the Adam searches, trainer,
``val_units``) plus the chapter's: ``fit_from`` (characters), bootstrap resamples, local
workers and ``sgd_lr_range``, the learning rates of the SGD search."""

TABLE1_ROWS = [
    {"domain": "Language modeling (characters)", "model": "RHN", "sweep": "char_lm-adam-{profile}-seed{seed}",
     "family": FAMILY, "metric": METRIC, "unit": UNIT, "fit_from_units": FIT_FROM,
     "paper_beta_g": -0.094, "paper_beta_p": None},
]
"""The paper's Table 1 row this chapter reproduces (from the Adam search)."""


# ----------------------------------------------------------------------------- sweeps
def sweep_name(profile: str, seed: int, optimizer: str) -> str:
    """``char_lm-<optimizer>-<profile>-seed<seed>``."""
    return f"{CHAPTER}-{optimizer}-{profile}-seed{seed}"


def task_kwargs(config: ChapterConfig) -> dict:
    """Factory arguments: the data folder only for datasets that need one (keys stay portable)."""
    kwargs = {"dataset": config.dataset, "seed": config.seed, "val_units": config["val_units"]}
    if config.dataset != "kjv" and config.data_dir is not None:
        kwargs["data_dir"] = str(config.data_dir)
    return kwargs


def optimizer_spec(config: ChapterConfig, optimizer: str) -> SweepSpec:
    """The model search of the RHN with ``optimizer`` ("sgd" or "adam") on the chapter's shards."""
    spec = SweepSpec.from_dict({
        "name": sweep_name(config.profile, config.seed, optimizer), "seed": config.seed,
        "task": {"factory": TASK_FACTORY, "kwargs": task_kwargs(config)},
        "shard_sizes": config["shard_sizes"], "searches": config["searches"], "trainer": config["trainer"],
    })
    lr_range = config["sgd_lr_range"] if optimizer == "sgd" else None
    searches = tuple(replace(s, optimizer=optimizer, lr_range=lr_range or s.lr_range) for s in spec.searches)
    return replace(spec, searches=searches)


def sweep_specs(config: ChapterConfig) -> list[SweepSpec]:
    """One sweep per optimizer, SGD first; same task, shards and trainer."""
    return [optimizer_spec(config, optimizer) for optimizer in OPTIMIZERS]


def store(config: ChapterConfig) -> Path:
    """The chapter's results store, ``results/char_lm/<dataset>-<profile>.sqlite``."""
    return store_path(CHAPTER, config.profile, config.dataset)


def run(config: ChapterConfig, progress: bool = False) -> pd.DataFrame:
    """Run (or resume, or read) both sweeps from ``results/char_lm/<dataset>-<profile>.sqlite``."""
    path = store(config)
    frames = curves.run_all(sweep_specs(config), path, config.device, config["workers"], progress=progress)
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- analysis
def optimizer_winners(trials: pd.DataFrame, config: ChapterConfig) -> dict[str, pd.DataFrame]:
    """Each optimizer's composite learning curve (winners per shard), small-data shards marked."""
    return {optimizer: curves.winners(trials[trials["sweep"] == sweep_name(config.profile, config.seed, optimizer)],
                                      METRIC, FAMILY, config["fit_from"])
            for optimizer in OPTIMIZERS}


def optimizer_fits(winners: dict[str, pd.DataFrame], bootstrap: int, seed: int) -> dict[str, tuple]:
    """``{optimizer: (learning-curve fit, model-size fit)}``, both bootstrapped."""
    return compare.fit_each(winners, METRIC, bootstrap, seed)


def exponent_table(winners: dict, fits: dict) -> pd.DataFrame:
    """One row per optimizer: beta_g with its interval, fit error, span, and beta_p with its interval."""
    labels = {optimizer: f"RHN-10, {name}" for optimizer, name in OPTIMIZERS.items()}
    return compare.exponent_table(winners, fits, labels, UNIT)


def optimizer_comparison(winners: dict, fits: dict, level: float = 0.95) -> dict:
    """Adam against SGD: the difference of exponents and the shift of the curve.

    Returns ``exponent`` (:func:`~scaling_core.experiments.compare.exponent_difference`
    of Adam minus SGD), ``shift`` (:func:`~scaling_core.experiments.compare.curve_ratio`,
    Adam's fitted loss over SGD's at the geometric middle of the fitted span) and
    ``measured`` (the winners' ratio shard by shard).
    """
    adam, sgd = fits["adam"][0], fits["sgd"][0]
    fitted = winners["adam"].loc[winners["adam"]["in_fit"], "shard_units"]
    middle = float(np.sqrt(fitted.min() * fitted.max()))
    return {"exponent": compare.exponent_difference(adam, sgd, level),
            "shift": compare.curve_ratio(adam, sgd, middle, level),
            "measured": compare.measured_ratio(winners["adam"], winners["sgd"], METRIC)}


def drift(winners: dict, fits: dict) -> pd.DataFrame:
    """Both curves' winners beside their own fitted laws (``curve`` names the optimizer)."""
    return pd.concat([compare.drift_table(best, fits[o][0], METRIC).assign(curve=OPTIMIZERS[o])
                      for o, best in winners.items()], ignore_index=True)


def flattening_verdict(best: pd.DataFrame, doublings: int = 3) -> str:
    """One sentence on how much the winners' loss falls over the last ``doublings`` shards.

    Less than 2 % over three doublings of the data means the curve has flattened, which
    at small profiles comes from the training budget (a fixed number of steps is fewer
    epochs of a larger shard), not from the data.
    """
    rows = best.sort_values("shard_units").tail(doublings + 1)
    start, end = rows.iloc[0], rows.iloc[-1]
    gain = 100 * (1 - end[METRIC] / start[METRIC])
    span = f"from {start['shard_units']:,.0f} to {end['shard_units']:,.0f} {UNIT}"
    if gain < 2:
        return (f"Over the last {doublings} doublings ({span}) the loss falls by only {gain:.1f} %: "
                "the curve has flattened, the mark of a training budget that gives the larger "
                "shards fewer epochs, and the fitted exponent is flatter than the data alone would give.")
    return f"Over the last {doublings} doublings ({span}) the loss still falls by {gain:.1f} %."


def table1(fits: dict) -> pd.DataFrame:
    """The chapter's Table 1 row: the paper's exponent beside ours (Adam search)."""
    return compare.table1([{**row, "fit": fits["adam"][0], "size_fit": fits["adam"][1]} for row in TABLE1_ROWS])


def vocabulary_size(config: ChapterConfig) -> int:
    """Symbols of the character vocabulary (``<eos>``, padding and unknown included)."""
    return len(TaskSpec(TASK_FACTORY, task_kwargs(config)).build().vocab)


# ----------------------------------------------------------------------------- charts
def optimizers_chart(winners: dict, fits: dict) -> alt.Chart:
    """The SGD and Adam composite learning curves with their fitted power laws."""
    points, lines = compare.labelled_curves(winners, {o: fit for o, (fit, _) in fits.items()}, METRIC, OPTIMIZERS)
    return curves.curves_chart(points, METRIC, UNIT, fits=lines,
                               title="Character LMs (RHN, depth 10): best model per shard, SGD and Adam")


def model_sizes_chart(winners: dict, fits: dict) -> alt.Chart:
    """Best-fit parameter counts under each optimizer with their model-size laws."""
    size_fits = {o: size_fit for o, (_, size_fit) in fits.items()}
    points, lines = compare.labelled_curves(winners, size_fits, "num_params", OPTIMIZERS)
    return compare.model_sizes_chart(points, lines, UNIT, "Character LMs: best-fit model size")
