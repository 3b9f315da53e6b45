"""Per-profile settings of the word and character language-model sweeps.

Each profile is written in the sweep engine's vocabulary (``SweepSpec`` shard sizes,
``SearchSpec`` searches, ``TrainerSettings``) plus what the task factories read: the model
grid, ``val_units`` (the units of V scored per evaluation), the word vocabulary size and
the rows V's stream is read in (``eval_rows``).
"""

from __future__ import annotations


def _scale(shard_units, families, lr_range, batch_sizes, samples, trainer, val_units, vocab_size=None,
           max_size=4096, growth=(0.5, 1.0), eval_rows=10) -> dict:
    """One profile in the sweep engine's vocabulary (``SweepSpec`` / ``SearchSpec`` / ``TrainerSettings``)."""
    low, high = shard_units
    searches = [dict(family=family, grid=list(grid), growth=tuple(growth), samples=samples, lr_range=lr_range,
                     batch_sizes=batch_sizes, min_size=4, max_size=max_size, integer_sizes=True)
                for family, grid in families.items()]
    return dict(shard_sizes=dict(min_units=low, max_units=high, factor=2), families=families,
                searches=searches, trainer=trainer, val_units=val_units, vocab_size=vocab_size, eval_rows=eval_rows)


WORD_LM_SCALES = dict(
    # seconds on one CPU core: 3 shards of 8k-32k KJV words, tiny models of all three families
    smoke=_scale((8_000, 32_000), {"lstm2": [8, 16], "lstm4": [8], "rhn5": [8]}, lr_range=(1e-2, 1e-2),
                 batch_sizes=(8,), samples=1,
                 trainer=dict(max_epochs=2, max_steps=4, patience=1, min_eval_steps=4), val_units=1_000,
                 vocab_size=2_000),
    # about 15 minutes on 2 CPU cores: 6 shards over 1.5 orders of magnitude (4k-128k words),
    # three families on the same shards, a 2k-word vocabulary, widths up to 128; at most 15 epochs and 100 steps of
    # 20 x 80 words per trial; lr 3e-3 measured better than 1e-2 (5.68 vs 5.73 nats after 150 steps
    # on 64k words, 2-layer LSTM of width 32, 5k words)
    laptop=_scale((4_000, 128_000), {"lstm2": [16, 32], "lstm4": [16, 32], "rhn5": [16, 32]},
                  lr_range=(3e-3, 3e-3), batch_sizes=(20,), samples=1,
                  trainer=dict(max_epochs=15, max_steps=100, patience=2, min_eval_steps=10), val_units=5_000,
                  vocab_size=2_000, max_size=128),
    # one GPU, about 10 minutes of an H200 by `scaling-core cost word_lm -p profile paper`: 8 shards over
    # 2.1 orders of magnitude (7k-896k of the KJV's 0.90M training words); widths grow as m^0.25-m^0.5 (the
    # paper's beta_p of 0.69-0.78 in parameters), capped at 256 where the 2x steps stop paying on this corpus;
    # V of 20k words read in 40 rows (evaluations of a depth-5 RHN are launch-bound)
    paper=_scale((7_000, 896_000), {"lstm2": [32, 64, 128], "lstm4": [32, 64, 128], "rhn5": [32, 64, 128]},
                 lr_range=(1e-3, 5e-3), batch_sizes=(32,), samples=2,
                 trainer=dict(max_epochs=30, max_steps=50_000, patience=4), val_units=20_000, max_size=256,
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

CHAR_LM_SCALES = dict(
    # seconds on one CPU core: 3 shards of 16k-64k characters, two tiny depth-10 RHNs
    smoke=_scale((16_000, 64_000), {"rhn10": [8, 16]}, lr_range=(1e-2, 1e-2), batch_sizes=(8,), samples=1,
                 trainer=dict(max_epochs=2, max_steps=4, patience=1, min_eval_steps=4, grad_clip=1.0),
                 val_units=1_000),
    # about 15 minutes on 2 CPU cores for two optimizers: 6 shards over 1.5 orders of magnitude
    # (8k-256k characters), widths up to 128, at most 15 epochs and 100 steps of 32 verses per trial
    laptop=_scale((8_000, 256_000), {"rhn10": [16, 32]}, lr_range=(1e-2, 1e-2), batch_sizes=(32,),
                  samples=1, trainer=dict(max_epochs=15, max_steps=100, patience=2, min_eval_steps=10,
                                          grad_clip=1.0), val_units=5_000, max_size=128),
    # one GPU, about 10 minutes of an H200 for both optimizers by `scaling-core cost char_lm -p profile paper`:
    # 8 shards over 2.1 orders of magnitude (13k-1.66M of the KJV's 3.46M kept training characters), widths
    # growing as m^0.25-m^0.5 up to 256, V of 50k characters; trials of one width train stacked, from CUDA graphs
    paper=_scale((13_000, 1_664_000), {"rhn10": [32, 64, 128]}, lr_range=(1e-3, 1e-2), batch_sizes=(128,),
                 samples=2, trainer=dict(max_epochs=20, max_steps=50_000, patience=4, grad_clip=1.0),
                 val_units=50_000, max_size=256, growth=(0.25, 0.5)),
)
"""Per-profile settings of the character-LM chapter (KJV by default; Tiny Shakespeare holds
1.06M characters): ``shard_sizes`` in kept characters, the depth-10 RHN grid (state width),
the Adam searches (``batch_size`` = sentences per batch), the trainer's stopping rules
(gradients clipped to norm 1, which plain SGD needs on an RHN) and ``val_units``.
Calibration (one shared CPU core, 32 verses per batch): a depth-10 RHN trains at about
12k-20k / 7k characters per second at widths 16-32 / 64."""
