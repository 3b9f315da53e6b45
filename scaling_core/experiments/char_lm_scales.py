"""The character-LM chapter's names, units and profiles (shards, model family, searches, trainer).

Kept apart from :mod:`scaling_core.experiments.char_lm` (which re-exports every name) so
that the chapter's code reads without a page of settings first, and so that
:mod:`scaling_core.experiments.char_lm_prose` shares them.
"""

from __future__ import annotations

from scaling_core import formatting
from scaling_core.data.lm_corpora import CHAR_DATASETS
from scaling_core.experiments.lm_scales import lm_scale, span

CHAPTER = "char_lm"
TASK_FACTORY = "scaling_core.tasks.language:make_char_lm_task"
DATASETS = CHAR_DATASETS
"""Datasets the chapter accepts: the KJV (embedded, default) and Tiny Shakespeare (``data_dir``)."""
METRIC = "val_loss"
"""Validation cross-entropy per character in nats (``val_bpc`` is the same in bits)."""
UNIT = "characters"
PAPER_FAMILY = "rhn10"
"""The paper's model: a recurrent highway network of recurrence depth 10."""

OPTIMIZERS = {"sgd": "SGD", "adam": "Adam"}
"""The two model searches and their labels; the SGD one is plain SGD (no momentum)."""

FIT_FROM = 16_000
"""Shards of at least this many characters enter the power-law fits (the smoke and paper profiles;
the laptop profile's smallest shard, 8,000 characters, already lies on its power law)."""

EVALUATIONS_TO_BEST = 24
"""Median evaluations up to and including the best one over the 24 trials of the converged
laptop store (a one-layer LSTM; every trial stopped early; 23.5, rounded up), for the cost model
(:func:`scaling_core.cost.evaluations_to_best`; measured by
:func:`scaling_core.cost.measured_evaluations_to_best`)."""

CHAR_LM_SCALES = dict(
    # seconds on one CPU core: 3 shards of 16k-64k characters, two tiny depth-10 RHNs
    smoke=lm_scale((16_000, 64_000), {"rhn10": [8, 16]}, lr_range=(1e-2, 1e-2), batch_sizes=(8,), samples=1,
                 trainer=dict(max_epochs=2, max_steps=4, patience=1, min_eval_steps=4, grad_clip=1.0),
                 val_units=1_000),
    # about 15 minutes on 2 CPU cores for both optimizers (benchmarks/pilot_char_lm.py lstm1-8k): 6 shards over
    # 1.5 orders of magnitude (8k-256k characters), a 1-layer LSTM of width 64 or 128 on the smallest shard
    # grown by 0 or 0.25 per doubling, V of 20k characters, trained to early stopping (patience 3, caps out of reach)
    laptop=lm_scale((8_000, 256_000), {"lstm1": [64, 128]}, lr_range=(2e-3, 1e-2), batch_sizes=(32,),
                  samples=1, trainer=dict(max_epochs=400, max_steps=100_000, patience=3, min_eval_steps=20,
                                          grad_clip=1.0), val_units=20_000, max_size=512, growth=(0.0, 0.25)),
    # one GPU, the paper's depth-10 RHN trained to early stopping (caps out of reach, patience 3): about 60 H200-minutes
    # for both optimizers by `scaling-core cost char_lm -p profile paper`, far over the 10 of one GPU window (run it as
    # several time-boxed windows; the store resumes). 8 shards over 2.1 orders of magnitude (13k-1.66M of the KJV's
    # 3.46M kept training characters), widths grown by 2^0.25-2^0.5 per doubling up to 256, V of 50k characters. Its
    # floor is the steps to converge: 28 trials x (24 evaluations to the best + 3) x at least 20 steps, at about
    # 0.18 s a step (10 sequential highway layers per character stay launch-bound); widths and batch barely matter
    paper=lm_scale((13_000, 1_664_000), {"rhn10": [32, 64, 128]}, lr_range=(1e-3, 1e-2), batch_sizes=(128,),
                 samples=1, trainer=dict(max_epochs=1000, max_steps=50_000, patience=3, min_eval_steps=20,
                                         grad_clip=1.0),
                 val_units=50_000, max_size=256, growth=(0.25, 0.5)),
)
"""Per-profile settings of the character-LM chapter (KJV by default; Tiny Shakespeare holds
1.06M characters): ``shard_sizes`` in kept characters, the grid of the profile's family (state width),
the Adam searches (``batch_size`` = sentences per batch), the trainer's stopping rules
(gradients clipped to norm 1, which plain SGD needs on an RHN) and ``val_units``.
Calibration (one shared CPU core, 32 verses per batch): a depth-10 RHN trains at about
12k-20k / 7k characters per second at widths 16-32 / 64."""

_CHAPTER = {  # RHN: SGD at 3 measured better than at 1 (2.30 vs 2.72 nats; Adam at 1e-2: 2.09) after 150 steps
    # of 32 verses on 64k characters, width 32, gradients clipped to norm 1; the laptop LSTM's SGD rate of 1 is the
    # pilot's (every SGD winner below the trigram)
    "smoke": {"fit_from": FIT_FROM, "bootstrap": 200, "workers": 1, "sgd_lr_range": (3.0, 3.0),
              "family": PAPER_FAMILY},
    "laptop": {"fit_from": 8_000, "bootstrap": 1000, "workers": 2, "sgd_lr_range": (1.0, 1.0), "family": "lstm1"},
    "paper": {"fit_from": FIT_FROM, "bootstrap": 2000, "workers": 4, "sgd_lr_range": (1.0, 10.0),
              "family": PAPER_FAMILY},
}
SCALES = {profile: {**CHAR_LM_SCALES[profile], **_CHAPTER[profile]} for profile in CHAR_LM_SCALES}
"""Per-profile settings: the sweep engine's settings from
:data:`CHAR_LM_SCALES` (shards, the Adam searches, trainer,
``val_units``) plus the chapter's: ``fit_from`` (characters), bootstrap resamples, local
workers, ``sgd_lr_range`` (the learning rates of the SGD search) and ``family``, the one
model family of both searches."""

MODEL_NAMES = {"lstm": ("LSTM", "layer"), "rhn": ("RHN", "depth")}
"""How a family's kind and its number read in labels (``lstm1``: "LSTM, 1 layer")."""


def family_label(family: str) -> str:
    """A model family's label: ``"lstm1"`` -> ``"LSTM, 1 layer"``, ``"rhn10"`` -> ``"RHN, depth 10"``."""
    kind = family.rstrip("0123456789")
    number = int(family[len(kind):])
    name, counted = MODEL_NAMES[kind]
    if counted == "layer":
        return f"{name}, {formatting.counted(number, 'layer')}"
    return f"{name}, depth {number}"


TABLE1_ROWS = [
    {"domain": "Language modeling (characters)", "model": {p: family_label(s["family"]) for p, s in SCALES.items()},
     "sweep": "char_lm-adam-{profile}-seed{seed}", "family": {p: s["family"] for p, s in SCALES.items()},
     "metric": METRIC, "unit": UNIT, "fit_from_units": {p: s["fit_from"] for p, s in SCALES.items()},
     "paper_beta_g": -0.094, "paper_beta_p": None},
]
"""The paper's Table 1 row this chapter reproduces (from the Adam search); its model and
family are the profile's (:func:`~scaling_core.experiments.contract.profile_row`)."""


def profile_span(profile: str) -> str:
    """The shard span of ``profile``: ``"16,000 to 512,000 characters (1.5 decades, 6 shards)"``."""
    return span(SCALES[profile], UNIT)
