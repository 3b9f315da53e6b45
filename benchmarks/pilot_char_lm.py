"""Pilot runs that size the character-LM chapter's laptop profile.

Each variant is a full settings dict of :data:`scaling_core.experiments.char_lm.SCALES` run
through the chapter's own sweeps (one model search per optimizer) into a scratch store
(``results/scratch/pilot-char_lm-<variant>.sqlite``, ignored by git), so a pilot costs what
the chapter would. It prints each optimizer's winners (how they stopped) and one summary row
per variant and optimizer: wall time, trials, the verdict of the composite curve (power-law
span in decades, capped winners) and winners that are the largest model their shard tried
(the model-size verdict's *pinned*, :func:`~scaling_core.experiments.verdicts.pinned_winners`). Usage::

    python benchmarks/pilot_char_lm.py lstm1 --optimizers adam
"""

from __future__ import annotations

import copy
import dataclasses
import time

from pilots import parser, print_summary, scratch_store, verdict_cells, with_searches

from scaling_core.experiments import char_lm, curves, verdicts
from scaling_core.experiments.contract import configure
from scaling_core.experiments.lm_scales import lm_scale
from scaling_core.sweep.shard_baselines import shard_baselines

LAPTOP = char_lm.SCALES["laptop"]
CONVERGE = dict(max_epochs=400, max_steps=100_000, patience=3, min_eval_steps=20, grad_clip=1.0)


def variant(family: str, grid, shards=(16_000, 1_024_000), sgd_lr=(1.0, 1.0), growth=(0.0, 0.25), **changes) -> dict:
    settings = copy.deepcopy(LAPTOP)
    settings.update(lm_scale(shards, {family: list(grid)}, lr_range=(2e-3, 1e-2), batch_sizes=(32,), samples=1,
                             trainer=CONVERGE, val_units=20_000, max_size=512, growth=growth))
    settings.update(sgd_lr_range=sgd_lr, family=family, **changes)
    return settings


VARIANTS = {
    "current": copy.deepcopy(LAPTOP),
    "lstm1": variant("lstm1", (64, 128)),
    "rhn2": variant("rhn2", (64, 128)),
    # the laptop profile with a third growth step, so that a winner can lie inside the widths tried (beta_p);
    # seeded with the laptop store's trials, it trains only the new candidates
    "lstm1-grow3": variant("lstm1", (64, 128), shards=(16_000, 512_000), growth=(0.0, 0.25, 0.5)),
    # the laptop profile since 2026-12-02: the previous one (16k-512k) one doubling smaller, 8k-256k characters,
    # 1.5 decades; its 512k shard took 66 of its 119 trial-minutes, and the 8k shard lies on the power law
    "lstm1-8k": variant("lstm1", (64, 128), shards=(8_000, 256_000), fit_from=8_000),
    # that profile with a third growth step (2^0.5), so that a winner can lie inside the widths tried (beta_p);
    # seeded with a copy of the laptop store, it trains only the trials the laptop run did not
    "lstm1-8k-grow3": variant("lstm1", (64, 128), shards=(8_000, 256_000), growth=(0.0, 0.25, 0.5), fit_from=8_000),
    # that profile with twice the patience (6 evaluations): at patience 3 a trial could stop on a noisy
    # evaluation long before its neighbour (SGD at 256k characters: width 152 stopped after 26 passes at
    # 1.438 nats, no better than on 128k, while width 181 went on to 29 passes and 1.392)
    "lstm1-8k-patience6": variant("lstm1", (64, 128), shards=(8_000, 256_000), fit_from=8_000,
                                  trainer={**CONVERGE, "patience": 6}),
}
# the profile with the search bracketing each winner: while a shard's winner is the widest state it tried, the
# next wider one (the spacing of its two widest) is tried there, up to three times a shard; one worker, so that
# it can run beside another pilot (its results do not depend on the workers)
VARIANTS["lstm1-8k-bracket"] = {**with_searches(VARIANTS["lstm1-8k"], bracket=3), "workers": 1}


def main() -> None:
    command = parser(__doc__, VARIANTS)
    command.add_argument("--optimizers", nargs="*", default=list(char_lm.OPTIMIZERS), choices=list(char_lm.OPTIMIZERS))
    args = command.parse_args()
    summary = []
    for name in args.variants:
        settings = VARIANTS[name]
        config = dataclasses.replace(configure("char_lm", "laptop", args.seed), settings=settings)
        specs = [char_lm.optimizer_spec(config, o) for o in args.optimizers]
        store = scratch_store("char_lm", name)
        start = time.time()
        frames = curves.run_all(specs, store, workers=settings["workers"], progress=True)
        seconds = time.time() - start
        for optimizer, spec, trials in zip(args.optimizers, specs, frames):
            best = curves.winners(trials, char_lm.METRIC, settings["family"], fit_from=settings["fit_from"])
            best, verdict = curves.judge_metric(best, char_lm.METRIC, shard_baselines(spec, store))
            fitted = best[best["in_fit"]]  # the winners the model-size verdict judges
            pinned = int(verdicts.pinned_winners(fitted, trials).sum())
            print(f"\n## {name}, {optimizer}: {len(trials)} trials")
            columns = ["shard_units", "size", "lr", char_lm.METRIC, "stop_reason", "epochs", "best_epoch",
                       "wall_time", "region"]
            print(best[[c for c in columns if c in best]].to_string(index=False))
            summary.append((name, optimizer, seconds, len(trials), verdict, pinned, len(fitted)))
    print_summary(["variant", "optimizer", "wall s (all optimizers)", "trials", "verdict", "decades", "capped winners",
                   "winners the largest model their shard tried"],
                  [[name, optimizer, f"{seconds:.0f}", n, *verdict_cells(v), f"{pinned}/{shards}"]
                   for name, optimizer, seconds, n, v, pinned, shards in summary])

if __name__ == "__main__":
    main()
