"""Pilot runs that size the translation chapter's laptop profile.

Each variant is a full settings dict of :data:`scaling_core.experiments.nmt.SCALES` run
through the chapter's own sweeps (the model search, then the fixed widths) into a scratch
store (``results/scratch/pilot-nmt-<variant>.sqlite``, ignored by git), so a pilot costs
what the chapter would. It prints each shard's search winner (how it stopped, its epochs)
and one summary row per variant: wall time, trials, the composite curve's verdict (power-law
span in decades, capped winners) and its fitted winners that are the
largest width their shard tried (the model-size verdict's *pinned*). Usage::

    python benchmarks/pilot_nmt.py current all-verses --search-only
    python benchmarks/pilot_nmt.py multi30k --search-only --dataset multi30k --data-dir ../shared/data
"""

from __future__ import annotations

import dataclasses
import time

from pilots import converging_trainer, parser, print_summary, scratch_store, variant_of, verdict_cells

from scaling_core.experiments import curves, nmt, verdicts
from scaling_core.experiments.contract import configure
from scaling_core.sweep.shard_baselines import shard_baselines

LAPTOP = nmt.SCALES["laptop"]


def variant(**changes) -> dict:
    return variant_of(LAPTOP, **changes)


TWO_LAYER = {"model": {}}
"""The paper's two LSTM layers each side (the profile before `one-layer`; the recorded pilots ran it)."""

VARIANTS = {
    "current": variant(),
    # the previous laptop profile: two layers each side (about 85 minutes to retrain)
    "two-layer": variant(**TWO_LAYER, fixed_widths=[16, 32, 64]),
    # the pilot that sized the two-layer profile: every verse, shards of 4k-256k target tokens,
    # early stopping with the caps out of reach; widths capped at 128 (the profile raised it)
    "all-verses": variant(
        **TWO_LAYER,
        data={"g2p": {"max_verses": None, "val_size": 2000}, "multi30k": {"vocab_size": 4000, "val_size": 1014}},
        shard_sizes={"min_units": 4_000, "max_units": 256_000, "factor": 2},
        search=nmt._search((32, 64), (0.0, 0.25), 1, (2e-3, 6e-3), (64,), 128),
        fixed_widths=[16, 32, 64], trainer=converging_trainer(4, 400, 100_000)),
    # one LSTM layer each side (a step about half as long), with the fixed width 16 of the
    # two-layer profile: the pilot that became the profile (`current` less the width 16)
    "one-layer": variant(fixed_widths=[16, 32, 64]),
    # the profile with a third, larger growth step per shard, for the best-fit width
    "grow3": variant(search=nmt._search((32, 64), (0.0, 0.25, 0.5), 1, (2e-3, 6e-3), (64,), 192)),
    # the profile with twice the patience (8 one-epoch evaluations): at patience 4 a wider
    # candidate could stop on a noisy evaluation long before the narrower one (the committed
    # store's 128,010-token shard: width 107 stopped after 25 epochs, width 90 after 49)
    "patience8": variant(trainer={**LAPTOP["trainer"], "patience": 8}),
    # the profile with the search bracketing each winner: while a shard's winner is the widest
    # width it tried, the next wider one (the spacing of its two widest) is tried there, up to
    # three times a shard
    "bracket": variant(search={**LAPTOP["search"], "bracket": 3}),
    # the two-layer profile on real German-English pairs (run with --dataset multi30k): Multi30k
    # holds 415k target tokens; shards of 2k-128k keep a laptop pilot to about 20 minutes
    "multi30k": variant(**TWO_LAYER, shard_sizes={"min_units": 2_000, "max_units": 128_000, "factor": 2}),
}


def main() -> None:
    command = parser(__doc__, VARIANTS)
    command.add_argument("--search-only", action="store_true", help="skip the fixed-width sweeps")
    command.add_argument("--dataset", default=None, help="g2p (the profile's) or multi30k")
    command.add_argument("--data-dir", default=None, help="folder of real datasets (Multi30k)")
    args = command.parse_args()
    summary = []
    for name in args.variants:
        settings = VARIANTS[name]
        config = configure("nmt", "laptop", args.seed, dataset=args.dataset, data_dir=args.data_dir)
        config = dataclasses.replace(config, settings=settings)
        specs = nmt.sweep_specs(config)[:1 if args.search_only else None]
        store = scratch_store("nmt", name if args.dataset is None else f"{name}-{args.dataset}")
        start = time.time()
        frames = curves.run_all(specs, store, workers=settings["workers"], progress=True)
        seconds = time.time() - start
        baselines = shard_baselines(specs[0], store)
        best, verdict = curves.judge_metric(
            curves.winners(frames[0], nmt.METRIC, nmt.FAMILY, fit_from=nmt.FIT_FROM_UNITS),
            nmt.METRIC, baselines)
        print(f"\n## {name}: {sum(len(f) for f in frames)} trials in {seconds:.0f} s")
        columns = ["shard_units", "size", "lr", nmt.METRIC, "val_bits_per_token", "stop_reason",
                   "epochs", "best_epoch", "wall_time", "region"]
        print(best[[c for c in columns if c in best]].to_string(index=False))
        for spec, frame in zip(specs[1:], frames[1:]):
            print(f"\n{spec.name}")
            print(frame.sort_values("shard_units")[[c for c in columns if c in frame]].to_string(index=False))
        judged = best[best["in_fit"]]  # the winners the model-size verdict judges
        pinned = int(verdicts.pinned_winners(judged, frames[0]).sum())
        summary.append((name, seconds, sum(len(f) for f in frames), verdict, pinned, len(judged)))
    print_summary(["variant", "wall s", "trials", "verdict", "decades", "capped winners", "pinned winners"],
                  [[name, f"{seconds:.0f}", n, *verdict_cells(v), f"{pinned}/{shards}"]
                   for name, seconds, n, v, pinned, shards in summary])

if __name__ == "__main__":
    main()
