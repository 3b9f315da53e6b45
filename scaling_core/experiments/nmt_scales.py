"""The translation chapter's names, units and profiles (shards, model search, trainer, data).

Kept apart from :mod:`scaling_core.experiments.nmt` (which re-exports every name) so that
the chapter's code reads without a page of settings first, and so that
:mod:`scaling_core.experiments.nmt_fixed` shares them.
"""

from __future__ import annotations

FAMILY = "seq2seq"
"""The chapter's one model family: the attention encoder-decoder of :mod:`scaling_core.models.seq2seq`."""

METRIC = "val_error"
"""Teacher-forced per-token classification error on V: what the search minimises."""

UNIT = "tokens"
FIT_FROM_UNITS = 8_000
"""Smallest shard (target tokens) the power-law fits use; smaller shards are the small-data region."""

SEARCH_SWEEP = "nmt-{profile}-seed{seed}"
"""Name template of the model-search sweep in the store."""


def search_name(profile: str, seed: int) -> str:
    """Name of the model-search sweep in the store."""
    return SEARCH_SWEEP.format(profile=profile, seed=seed)


def fixed_name(profile: str, seed: int, width: int) -> str:
    """Name of the fixed-width sweep of ``width`` in the store."""
    return f"{search_name(profile, seed)}-width{width}"


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
    "laptop": {  # pilots: benchmarks/pilot_nmt.py, numbers in the chapter's reproduction notes
        "dataset": "g2p",
        "data": {"g2p": {"max_verses": None, "val_size": 2000},
                 "multi30k": {"vocab_size": 4000, "val_size": 1014}},
        # one LSTM layer each side: a step takes about half the two-layer one, and the retrain
        # fell from about 85 to 19 minutes, the composite curve still measured over 1.5
        # decades (pilots `two-layer`, `current`)
        "model": {"encoder_layers": 1, "decoder_layers": 1},
        "shard_sizes": {"min_units": 4_000, "max_units": 256_000, "factor": 2},  # 7 shards, 1.8 decades
        "search": _search((32, 64), (0.0, 0.25), 1, (2e-3, 6e-3), (64,), 192),
        "fixed_widths": [32, 64],  # two fixed sizes, as in the paper's Figure 1 (left)
        "trainer": {"max_epochs": 400, "max_steps": 100_000, "patience": 4, "min_eval_steps": 25,
                    "grad_clip": 5.0},
        "bootstrap": 1000, "fixed_bootstrap": 200, "workers": 2, "samples": 8,
    },
    "paper": {  # about 10 minutes of an H200 for g2p (7 for Multi30k) by `scaling-core cost nmt -p profile paper`
        "dataset": "g2p",
        "data": {"g2p": {"max_verses": None, "val_size": 2000},
                 "multi30k": {"vocab_size": 8000, "val_size": 1014}},
        "shard_sizes": {"min_units": 8_000, "max_units": 1_024_000, "factor": 2},  # 8 shards, 2.1 decades
        "dataset_shard_sizes": {  # Multi30k holds 415k target tokens: 9 shards, 2.4 decades
            "multi30k": {"min_units": 1_500, "max_units": 384_000, "factor": 2}},
        "search": _search((32, 64), (0.0, 0.25), 1, (1e-3, 4e-3), (1024,), 384),
        "fixed_widths": [32, 128],
        # an evaluation at least every 3 steps of 1,024 pairs: about 10 passes over the smallest
        # shard, as at the laptop profile (25 steps of 64 pairs over 4,000 tokens), where the
        # evaluations up to the best were measured; larger shards are evaluated once a pass
        "trainer": {"max_epochs": 400, "max_steps": 200_000, "patience": 4, "min_eval_steps": 3,
                    "grad_clip": 5.0},
        "bootstrap": 2000, "fixed_bootstrap": 1000, "workers": 4, "samples": 10,
    },
}
"""Per-profile settings: smoke (seconds on a CPU), laptop (g2p, the chapter's CPU run), paper
(g2p or Multi30k on one GPU, four trials sharing it). ``model``: :class:`Seq2SeqConfig` fields
of the profile (none: the paper's two layers each side); ``bootstrap`` / ``fixed_bootstrap``:
resamples for the power-law fits / the slower power-law-plus-constant fits."""

EVALUATIONS_TO_BEST = 36
"""Median evaluations up to and including the best one over the 23 trials of the converged laptop
store (one LSTM layer each side; every one stopped early), for the cost model
(:func:`scaling_core.cost.evaluations_to_best`; measured by
:func:`scaling_core.cost.measured_evaluations_to_best`)."""

MODEL_OPTIONS = {"dropout": 0.0}
"""No dropout: the search limits capacity through the width and early stopping alone."""
