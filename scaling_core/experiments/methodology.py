"""The methodology chapter (paper Section 3) on MNIST-1D: its sweep, tables and charts.

Winners, fits and learning-curve charts come from :mod:`scaling_core.experiments.curves`,
shared by every domain chapter; this module holds what only this chapter shows: the
shards, the candidate grid, the validation curves and the full trial cloud.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd

from scaling_core import charts
from scaling_core.experiments import curves
from scaling_core.paths import store_path
from scaling_core.profiles import ChapterConfig
from scaling_core.sweep.run import best_per_shard
from scaling_core.sweep.spec import SweepSpec

CHAPTER = "methodology"
TASK_FACTORY = "scaling_core.tasks.mnist1d:mnist1d_task"
DATASETS = ("mnist1d",)
"""The chapter's one dataset, generated offline."""


def _search(family, grid, samples, growth=(0.0, 0.5, 1.0), **options):
    return {"family": family, "grid": list(grid), "growth": list(growth), "samples": samples,
            "lr_range": [1e-3, 1e-2], "batch_sizes": [32, 64], **options}


SCALES = {
    "smoke": {
        "n_train": 1024, "n_val": 1000,  # training set T and validation set V (signals)
        "shard_sizes": {"min_units": 64, "max_units": 512, "factor": 2},  # 4 shards, ~1 decade
        "searches": [_search("mlp", (8, 32, 128), samples=1)],
        "trainer": {"max_epochs": 60, "patience": 3, "min_eval_steps": 10},
        "fit_from": 64, "bootstrap": 200, "workers": 1,
    },
    "laptop": {  # sized by benchmarks/pilot_methodology.py (numbers in the chapter's reproduction notes)
        "n_train": 65536, "n_val": 4000,
        "shard_sizes": {"min_units": 256, "max_units": 65536, "factor": 2},  # 9 shards, 2.4 decades
        # batches of 64-128 and widths up to 1,024: a 1,440-wide MLP on 32k samples took 5 min a trial
        "searches": [_search("mlp", (16, 32, 64, 128, 256, 512), samples=2, batch_sizes=[64, 128], max_size=1024)],
        "trainer": {"max_epochs": 400, "patience": 6, "min_eval_steps": 20},
        "fit_from": 256, "bootstrap": 1000, "workers": 2,
    },
    "paper": {
        "n_train": 65536, "n_val": 4000,
        "shard_sizes": {"min_units": 64, "max_units": 65536, "factor": 2},  # 11 shards, 3 decades
        "searches": [_search("mlp", (8, 16, 32, 64, 128, 256, 512), samples=3),
                     _search("cnn", (4, 8, 16, 32, 64), samples=3)],
        "trainer": {"max_epochs": 300, "max_steps": 1_000_000, "patience": 8, "min_eval_steps": 20},
        "fit_from": 2048, "bootstrap": 2000, "workers": 4,
    },
}
"""Per-profile settings: data sizes, shard span, model search per family, trainer, the
smallest shard the power-law fits use (``fit_from``), bootstrap resamples, local workers."""

SEARCH_METRIC = "val_loss"
"""What early stopping and the model search minimise: validation cross-entropy (smoother
than the error, and the MLPs overfit it first)."""

TABLE1_ROWS = [{
    "domain": "MNIST-1D (method demo)", "model": "MLP", "sweep": "methodology-{profile}-seed{seed}",
    "family": "mlp", "metric": "val_error", "unit": "samples",
    "fit_from_units": {profile: scale["fit_from"] for profile, scale in SCALES.items()},
    "paper_beta_g": None, "paper_beta_p": None,
}]
"""An extra, non-paper row of Table 1: the chapter's MNIST-1D curve."""

PAPER_BETA_G = {"ImageNet top-1": -0.309, "ImageNet top-5": -0.488, "ImageNet xent": -0.35,
                "NMT": -0.128, "char LM": -0.094, "word LM": -0.066, "speech": -0.299}
"""The paper's Table 1 learning-curve exponents, for comparison."""


def sweep_specs(config: ChapterConfig) -> list[SweepSpec]:
    """The chapter's one sweep: MNIST-1D data and the model search of :data:`SCALES`."""
    s = config.settings
    return [SweepSpec.from_dict({
        "name": TABLE1_ROWS[0]["sweep"].format(profile=config.profile, seed=config.seed), "seed": config.seed,
        "task": {"factory": TASK_FACTORY, "kwargs": {"n_train": s["n_train"], "n_val": s["n_val"],
                                                    "seed": config.seed, "search_metric": SEARCH_METRIC}},
        "shard_sizes": s["shard_sizes"], "searches": s["searches"], "trainer": s["trainer"],
    })]


def store(config: ChapterConfig) -> Path:
    """The chapter's results store, ``results/methodology/<dataset>-<profile>.sqlite``."""
    return store_path(CHAPTER, config.profile, config.dataset)


def run(config: ChapterConfig, progress: bool = False) -> pd.DataFrame:
    """Run (or resume, or only read) the chapter's sweep; one row per trial, with histories."""
    return curves.run(sweep_specs(config)[0], store(config), device=config.device,
                      workers=config["workers"], history=True, progress=progress)


def shard_table(trials: pd.DataFrame, metric: str = SEARCH_METRIC) -> pd.DataFrame:
    """One row per shard and family: size, trials, failures and the winner by ``metric``."""
    best = best_per_shard(trials, metric).set_index(["shard", "family"])
    counts = trials.groupby(["shard", "family"]).agg(
        samples=("shard_units", "first"), trials=("key", "size"),
        failed=("status", lambda s: int((s == "failed").sum())))
    table = counts.join(best[["size", "num_params", "train_loss", "val_loss", "val_error"]])
    table = table.rename(columns={"size": "best_size"})
    return table.reset_index()


def candidate_table(trials: pd.DataFrame, shard: int) -> pd.DataFrame:
    """The candidates of one shard: size, optimizer draw, losses and the generalisation gap."""
    rows = trials[trials["shard"] == shard].copy()
    rows["gap"] = rows["val_loss"] - rows["train_loss"]
    columns = ["family", "size", "num_params", "lr", "batch_size", "status", "best_epoch",
               "train_loss", "val_loss", "gap", "val_error"]
    return rows[columns].sort_values(["family", "size", "lr"]).reset_index(drop=True)


def histories(trials: pd.DataFrame, shard: int) -> pd.DataFrame:
    """Every evaluation of the trials on one shard, long format (one row per evaluation)."""
    rows = []
    for trial in trials[trials["shard"] == shard].itertuples():
        for evaluation in trial.history:
            rows.append({"key": trial.key[:8], "family": trial.family, "size": trial.size,
                         "lr": trial.lr, **evaluation})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- charts


def shards_chart(trials: pd.DataFrame) -> alt.Chart:
    """Nested shard sizes: one bar per shard, on a log axis.

    A bar on a log scale cannot start at zero: each starts at one sample.
    """
    shards = trials.groupby("shard", as_index=False)["shard_units"].first().assign(start=1)
    return charts.finish(alt.Chart(shards).mark_bar().encode(
        y=alt.Y("shard:O", title="shard k"),
        x=alt.X("start:Q", **charts.log_axis("training samples in T_k")), x2="shard_units:Q",
        tooltip=["shard", "shard_units"],
    ).properties(title="Nested shards T_0 ⊂ T_1 ⊂ ... (2x steps)", height=160))


def gap_chart(trials: pd.DataFrame, shard: int) -> alt.Chart:
    """Training and validation loss at each candidate's best evaluation, against model size."""
    rows = candidate_table(trials, shard).melt(
        id_vars=["size", "lr"], value_vars=["train_loss", "val_loss"], var_name="loss")
    return charts.finish(alt.Chart(rows).mark_point(filled=True, size=60).encode(
        x=alt.X("size:Q", **charts.log_axis("model size (hidden width)")),
        y=alt.Y("value:Q", title="cross-entropy at the best evaluation"),
        color=alt.Color("loss:N", title=None), tooltip=["size", "lr", "loss", "value"],
    ).properties(title=f"Shard {shard}: where training loss leaves validation loss behind"))


def validation_curves_chart(trials: pd.DataFrame, shard: int, metric: str = "val_loss") -> alt.Chart:
    """Validation ``metric`` over training for every candidate of one shard, by model size."""
    rows = histories(trials, shard)
    return charts.finish(alt.Chart(rows).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="epochs"), y=alt.Y(f"{metric}:Q", title=metric.replace("_", " ")),
        color=alt.Color("size:O", title="size", scale=alt.Scale(scheme="viridis")),
        detail="key:N", tooltip=["size", "lr", "epoch", metric, "train_loss"],
    ).properties(title=f"Shard {shard}: validation curves of the candidate grid"))


def trials_chart(trials: pd.DataFrame, metric: str = "val_error") -> alt.Chart:
    """Every trial's ``metric`` against model size, one colour per shard; winners ringed."""
    done = trials[trials["status"] == "done"]
    best = best_per_shard(trials, metric)
    axis = alt.X("size:Q", **charts.log_axis("model size"))
    points = alt.Chart(done).mark_point(filled=True, opacity=0.6).encode(
        x=axis, y=alt.Y(f"{metric}:Q", title=metric.replace("_", " ")),
        color=alt.Color("shard_units:O", title="shard size", scale=alt.Scale(scheme="plasma")),
        tooltip=["shard", "shard_units", "family", "size", "lr", "batch_size", metric])
    rings = alt.Chart(best).mark_point(size=220, color="black").encode(x=axis, y=f"{metric}:Q")
    return charts.finish((points + rings).properties(title="All trials; the best fit per shard ringed"))
