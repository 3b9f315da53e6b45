"""Pilot runs that size the word-LM chapter's laptop profile.

Each variant is a full settings dict of :data:`scaling_core.experiments.word_lm.SCALES` whose
model search (every family in it, on one set of shards; no re-tuning sweep) runs through the
chapter's own sweep into a scratch store (``results/scratch/pilot-word_lm-<variant>.sqlite``,
ignored by git), so a pilot costs what the chapter's search would. It prints each family's
winners (how they stopped) and one summary row per variant and family: wall time, trials, the
verdict of the composite curve against the shards' unigram and bigram (power-law span in
decades, capped winners) and pinned winners (the largest of the sizes tried on their shard).
Usage::

    python benchmarks/pilot_word_lm.py lstm2
"""

from __future__ import annotations

import copy
import dataclasses
import time

from pilots import parser, print_summary, scratch_store, verdict_cells

from scaling_core.experiments import curves, verdicts, word_lm
from scaling_core.experiments.contract import configure
from scaling_core.experiments.lm_scales import lm_scale
from scaling_core.sweep.shard_baselines import shard_baselines

LAPTOP = word_lm.SCALES["laptop"]
CONVERGE = dict(max_epochs=400, max_steps=100_000, patience=3, min_eval_steps=50)
"""Early stopping with the caps out of reach. At least 50 steps between evaluations: a first try
with 20 stopped most small-shard trials on the unigram plateau (5.4 nats at 8k-16k words, best
after 2-12 epochs) that a trial with a higher learning rate left after 40 epochs (4.63 nats)."""


def variant(families: dict, shards=(8_000, 512_000), growth=(0.0, 0.25, 0.5), lr_range=(4e-3, 1.2e-2),
            val_units=20_000, **changes) -> dict:
    """The laptop settings with the search of ``families`` trained to early stopping."""
    settings = copy.deepcopy(LAPTOP)
    settings.update(lm_scale(shards, families, lr_range=lr_range, batch_sizes=(20,), samples=1, trainer=CONVERGE,
                             val_units=val_units, vocab_size=2_000, max_size=512, growth=growth))
    settings.update(changes)
    return settings


VARIANTS = {
    "current": copy.deepcopy(LAPTOP),
    "lstm2": variant({"lstm2": [32, 64]}),
}


def main() -> None:
    command = parser(__doc__, VARIANTS)
    command.add_argument("--workers", type=int, default=None, help="local workers (default: the profile's)")
    args = command.parse_args()
    summary = []
    for name in args.variants:
        settings = VARIANTS[name]
        config = dataclasses.replace(configure("word_lm", "laptop", args.seed), settings=settings)
        spec = word_lm.search_spec(config)
        store = scratch_store("word_lm", name)
        start = time.time()
        trials = curves.run(spec, store, workers=args.workers or settings["workers"], progress=True)
        seconds = time.time() - start
        baselines = shard_baselines(spec, store)
        for family in settings["families"]:
            rows = trials[trials["family"] == family]
            best = curves.winners(rows, word_lm.METRIC, family, fit_from=settings["fit_from"])
            best, verdict = curves.judge_metric(best, word_lm.METRIC, baselines)
            pinned = int(verdicts.pinned_winners(best, rows).sum())
            print(f"\n## {name}, {family}: {len(rows)} trials")
            columns = ["shard_units", "size", "lr", word_lm.METRIC, "stop_reason", "epochs", "best_epoch",
                       "wall_time", "region"]
            print(best[[c for c in columns if c in best]].to_string(index=False))
            summary.append((name, family, seconds, len(rows), verdict, pinned, len(best)))
    print_summary(["variant", "family", "wall s (all families)", "trials", "verdict", "decades", "capped winners",
                   "pinned winners"],
                  [[name, family, f"{seconds:.0f}", n, *verdict_cells(v), f"{pinned}/{shards}"]
                   for name, family, seconds, n, v, pinned, shards in summary])

if __name__ == "__main__":
    main()
