"""Pilot runs that size the methodology chapter's laptop profile.

Each variant is a full settings dict of :data:`scaling_core.experiments.methodology.SCALES`
run through the chapter's own sweep, search and verdicts into a scratch store
(``results/scratch/pilot-methodology-<variant>.sqlite``, ignored by git), so a pilot costs
what the chapter would. It prints one table per variant (each shard's winner, how it
stopped) and one summary row: wall time, trials, the verdicts of cross-entropy and error
(power-law span in decades, capped winners) and whether the winner is pinned at the grid's
largest width. Usage::

    python benchmarks/pilot_methodology.py current wide
"""

from __future__ import annotations

import dataclasses
import time

from pilots import parser, print_summary, scratch_store, variant_of, verdict_cells, with_searches

from scaling_core.experiments import curves, methodology
from scaling_core.experiments.contract import configure
from scaling_core.sweep.shard_baselines import shard_baselines

LAPTOP = methodology.SCALES["laptop"]


def variant(**changes) -> dict:
    return variant_of(LAPTOP, **changes)


def search(grid, samples=2, growth=(0.0, 0.5, 1.0), family="mlp"):
    return [{"family": family, "grid": list(grid), "growth": list(growth), "samples": samples,
             "lr_range": [1e-3, 1e-2], "batch_sizes": [32, 64]}]


TO_262K = {"n_train": 262_144, "shard_sizes": {"min_units": 256, "max_units": 262_144, "factor": 2}}
"""Four times the profile's training set, in shards of 256 to 262,144 samples."""
NO_STEP_CAP = {"trainer": {**LAPTOP["trainer"], "max_steps": 400_000}}
"""The profile's trainer with its step cap (the trainer's default, 20,000) out of reach."""


VARIANTS = {
    "current": variant(),
    "wide": variant(n_train=65536, n_val=4000,
                    shard_sizes={"min_units": 256, "max_units": 65536, "factor": 2},
                    searches=search((16, 32, 64, 128, 256, 512)),
                    trainer={"max_epochs": 400, "patience": 6, "min_eval_steps": 20}, fit_from=256),
    "wide-1": variant(n_train=65536, n_val=4000,
                      shard_sizes={"min_units": 256, "max_units": 65536, "factor": 2},
                      searches=search((16, 32, 64, 128, 256, 512), samples=1),
                      trainer={"max_epochs": 400, "patience": 6, "min_eval_steps": 20}, fit_from=256),
    "cnn-1": variant(n_train=65536, n_val=4000,
                     shard_sizes={"min_units": 128, "max_units": 65536, "factor": 2},
                     searches=search((4, 8, 16, 32, 64), samples=1, family="cnn"),
                     trainer={"max_epochs": 400, "patience": 6, "min_eval_steps": 20}, fit_from=128),
    # the profile with one draw per width and four times the data: can the straight stretch of the
    # cross-entropy (2,048 to 65,536 samples in the profile) reach two decades?
    "to-262k-1": {**with_searches(LAPTOP, samples=1), **TO_262K},
    # that variant with batches of 128 or 256 (1.4-1.7x the samples a second of batches of 64-128 for a
    # 1,024-wide MLP on one core) and the step cap out of reach
    "to-262k-b256": {**with_searches(LAPTOP, samples=1, batch_sizes=[128, 256]), **TO_262K, **NO_STEP_CAP},
    # `to-262k-1` with the step cap out of reach: what two converged decades cost
    "to-262k-1-long": {**with_searches(LAPTOP, samples=1), **TO_262K, **NO_STEP_CAP},
}


def main() -> None:
    args = parser(__doc__, VARIANTS).parse_args()
    summary = []
    for name in args.variants:
        settings = VARIANTS[name]
        config = dataclasses.replace(configure("methodology", "laptop", args.seed), settings=settings)
        spec = methodology.sweep_specs(config)[0]
        store = scratch_store("methodology", name)
        start = time.time()
        trials = curves.run(spec, store, workers=settings["workers"], progress=True)
        seconds = time.time() - start
        baselines = shard_baselines(spec, store)
        grid_top = max(max(s["grid"]) for s in settings["searches"])
        print(f"\n## {name}: {len(trials)} trials in {seconds:.0f} s")
        winners = curves.winners(trials, "val_loss", family=settings["searches"][0]["family"],
                                 fit_from=settings["fit_from"])
        loss_best, loss_verdict = curves.judge_metric(winners, "val_loss", baselines)
        error_best, error_verdict = curves.judge_metric(winners, "val_error", baselines)
        columns = ["shard_units", "size", "num_params", "val_loss", "val_error", "stop_reason", "best_epoch"]
        print(loss_best[[c for c in columns if c in loss_best]].to_string(index=False))
        pinned = int((loss_best["size"] >= grid_top).sum())
        summary.append((name, seconds, len(trials), loss_verdict, error_verdict, pinned, len(loss_best)))
    print_summary(["variant", "wall s", "trials", "loss verdict", "loss decades", "capped (loss)", "error verdict",
                   "error decades", "pinned winners"],
                  [[name, f"{seconds:.0f}", n, *verdict_cells(lv), ev.kind, f"{ev.decades:.2f}", f"{pinned}/{shards}"]
                   for name, seconds, n, lv, ev, pinned, shards in summary])

if __name__ == "__main__":
    main()
