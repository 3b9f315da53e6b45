"""The speech chapter's names and profiles (corpus, shards, searches, trainer) and its sweep names.

Kept apart from :mod:`scaling_core.experiments.speech` (which re-exports every name) so that
the chapter's code reads without a page of settings first, and so that
:mod:`scaling_core.experiments.speech_fixed` shares them.
"""

from __future__ import annotations

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

EVALUATIONS_TO_BEST = 14
"""Median evaluations up to and including the best one over the 37 trials of the converged laptop
store (every one stopped early; quartiles 9.5 and 20), for the cost model's step counts
(:func:`scaling_core.cost.evaluations_to_best`; measured by
:func:`scaling_core.cost.measured_evaluations_to_best`)."""


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
    # one GPU: 90 s to 3.2 hours of audio (2.1 orders of magnitude), 2-layer DS2 on 40 mel bands
    # and the attention model, trained to early stopping (caps out of reach), batches of 64; sized
    # with the cost model (`scaling-core cost speech -p profile paper`) to about 10.0 H200-minutes:
    # the DS2 search 3.2 (widths up to 384), the attention search 2.7 (up to 256), the fixed
    # widths 4.0; with both searches up to 512 it would be 13.6 (see the README)
    "paper": {
        "data": {"espeak": {"n_train": 8800, "n_val": 300, "shard_seconds": (90, 11520)},
                 "fsdd": {"n_train": 2700, "n_val": 300, "shard_seconds": (22.5, 720)}},
        "sample_rate": 8000, "n_mels": 40, "ds2_layers": 2, "conv_channels": 16, "stop_on": "val_loss",
        "searches": [_search("ds2", [64, 128], [0.0, 0.5], 2e-3, [64], max_size=384),
                     _search("attention", [64, 128], [0.0, 0.5], 2e-3, [64], max_size=256)],
        "fixed_sizes": [32, 64, 128], "fixed_lr": 2e-3, "fixed_batch": 64,
        "trainer": {"max_epochs": 1000, "max_steps": 10_000_000, "min_eval_steps": 25, "patience": 3,
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


def search_sweep_name(profile: str, seed: int) -> str:
    """Name of the model-search sweep (both families) in the chapter's store."""
    return f"speech-{profile}-seed{seed}"


def fixed_sweep_name(size: int, profile: str, seed: int) -> str:
    """Name of the fixed-width DS2 sweep of ``size`` in the chapter's store."""
    return f"speech-ds2-{size}-{profile}-seed{seed}"
