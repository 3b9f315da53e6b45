"""One language-model profile in the sweep engine's vocabulary, shared by the word and character chapters.

A profile holds ``SweepSpec`` shard sizes, one ``SearchSpec`` per model family (the grid
lives there only), ``TrainerSettings``, and what the task factories take: ``val_units``
(the units of V scored per evaluation), the word vocabulary size and the rows V's stream is
read in (``eval_rows``).
"""

from __future__ import annotations


def lm_scale(shard_units, families, lr_range, batch_sizes, samples, trainer, val_units, vocab_size=None,
           max_size=4096, growth=(0.5, 1.0), eval_rows=10) -> dict:
    """One profile in the sweep engine's vocabulary (``SweepSpec`` / ``SearchSpec`` / ``TrainerSettings``)."""
    low, high = shard_units
    searches = [dict(family=family, grid=list(grid), growth=tuple(growth), samples=samples, lr_range=lr_range,
                     batch_sizes=batch_sizes, min_size=4, max_size=max_size, integer_sizes=True)
                for family, grid in families.items()]
    return dict(shard_sizes=dict(min_units=low, max_units=high, factor=2), families=families,
                searches=searches, trainer=trainer, val_units=val_units, vocab_size=vocab_size, eval_rows=eval_rows)
