"""The cost model's estimates beside measured times, on this CPU (and the one GPU run).

Three checks, each printed as a table:

1. ``smoke``: every chapter's smoke sweeps are run afresh into a scratch results folder
   and timed (trials only, one worker); the estimate of ``scaling-core cost`` is printed
   beside the measured minutes.
2. ``laptop``: the committed laptop stores' trials were timed on a shared machine, so their
   wall times overstate; instead, for every chapter, the trials of one mid-size shard are
   trained again here (same configs) and timed, beside the model's estimate for the same
   trials; the model's step counts are compared with the stored steps of every trial.
3. ``paper``: the methodology chapter's paper sweep on one H200 (its store and the run's
   summary) beside the H200 estimate.

A ratio within 0.5-2 is the target. Usage: python benchmarks/bench_cost.py [--skip-smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scaling_core.cost import (  # noqa: E402
    TRIAL_OVERHEAD, PlannedTrial, chapter_shapes, count_step, estimate, evaluation_seconds, evaluations_to_best,
    step_seconds, trial_steps,
)
from scaling_core.pending import chapter_config  # noqa: E402
from scaling_core.paths import store_path  # noqa: E402
from scaling_core.sweep.task import TaskSpec  # noqa: E402
from scaling_core.sweep.trainer import TrainerSettings  # noqa: E402
from scaling_core.sweep.trial import Trial  # noqa: E402
from scaling_core.sweep.worker import execute_trial  # noqa: E402

CHAPTERS = (("methodology", "mnist1d"), ("image", "mnist1d"), ("nmt", "g2p"), ("word_lm", "kjv"),
            ("char_lm", "kjv"), ("speech", "espeak"))


def _row(name, estimated, measured, extra=""):
    ratio = estimated / measured if measured else float("nan")
    ok = "yes" if 0.5 <= ratio <= 2 else "no"
    print(f"{name:<28}{estimated:>12.2f}{measured:>12.2f}{ratio:>8.2f}  {ok:<4}{extra}")


def smoke() -> None:
    print("\nsmoke sweeps, run here with one worker (minutes of training)")
    print(f"{'chapter':<28}{'estimate':>12}{'measured':>12}{'ratio':>8}  2x")
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["SCALING_CORE_RESULTS"] = scratch
        try:
            for chapter, dataset in CHAPTERS:
                module, config = chapter_config(chapter, "smoke", dataset)
                for spec in module.sweep_specs(config):
                    spec.task.build()  # data generation is not part of the estimate
                started = time.perf_counter()
                module.run(config)
                measured = (time.perf_counter() - started) / 60
                _row(chapter, estimate(chapter, "smoke", dataset, workers=1)["cpu_minutes"].sum(), measured)
        finally:
            os.environ.pop("SCALING_CORE_RESULTS", None)


def _stored(chapter, dataset, profile):
    with closing(sqlite3.connect(store_path(chapter, profile, dataset))) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM trials WHERE status = 'done' ORDER BY shard, key")]


def laptop() -> None:
    print("\nlaptop trials of one mid-size shard per chapter, trained again here (minutes)")
    print(f"{'chapter (shard units)':<28}{'estimate':>12}{'measured':>12}{'ratio':>8}  2x  model/stored steps")
    torch.set_num_threads(1)  # as a sweep's worker
    for chapter, dataset in CHAPTERS:
        module, config = chapter_config(chapter, "laptop", dataset)
        to_best = evaluations_to_best(module)
        specs = {spec.name: spec for spec in module.sweep_specs(config)}
        rows = [r for r in _stored(chapter, dataset, "laptop") if r["sweep"] in specs]
        shards = sorted({r["shard"] for r in rows})
        middle = shards[len(shards) // 2]
        chosen = [r for r in rows if r["shard"] == middle][:2]
        estimated = measured = 0.0
        for row in chosen:
            spec = specs[row["sweep"]]
            shapes = chapter_shapes(chapter, config, spec)
            trial = PlannedTrial(spec.name, row["shard"], row["shard_units"], row["family"], row["size"], 1,
                                 (row["batch_size"],))
            steps, evaluations = trial_steps(trial, shapes, spec.trainer, row["batch_size"], to_best)
            count = count_step(shapes, row["family"], row["size"])
            step = step_seconds(count, shapes, row["family"], row["batch_size"], "cpu", "one")
            evaluation = evaluation_seconds(count, shapes, row["family"], "cpu")
            estimated += (TRIAL_OVERHEAD + steps * step + evaluations * evaluation) / 60
            measured += _train_again(row) / 60
        planned = sum(trial_steps(PlannedTrial("", r["shard"], r["shard_units"], r["family"], r["size"], 1,
                                               (r["batch_size"],)),
                                  chapter_shapes(chapter, config, specs[r["sweep"]]), specs[r["sweep"]].trainer,
                                  r["batch_size"], to_best)[0] for r in rows)
        stored = sum(r["steps"] for r in rows)
        _row(f"{chapter} ({chosen[0]['shard_units']:.4g})", estimated, measured, f"{planned / stored:.2f}")


def _train_again(row) -> float:
    config = json.loads(row["config"])
    task = config["task"]
    job = Trial(key=row["key"], task=TaskSpec(task["factory"], task["kwargs"]), family=row["family"],
                   size=row["size"], lr=row["lr"], batch_size=row["batch_size"], trial_seed=row["trial_seed"],
                   shard_seed=config["shard_seed"], shard_length=config["shard_length"],
                   settings=TrainerSettings(**config["trainer"]), optimizer=config.get("optimizer", "adam"))
    job.task.build()  # built (and cached) before the clock starts
    started = time.perf_counter()
    outcome = execute_trial(job, "cpu")
    if outcome["status"] != "done":
        raise RuntimeError(f"trial {row['key'][:8]} failed again: {outcome.get('reason')}")
    return time.perf_counter() - started


def paper() -> None:
    print("\nthe methodology paper sweep on one H200 (minutes; two processes shared the GPU)")
    print(f"{'chapter':<28}{'estimate':>12}{'measured':>12}{'ratio':>8}  2x")
    summary = json.loads((ROOT / "benchmarks" / "results" / "gpu-run-2026-11-30-summary.json").read_text())
    row = summary["rows"][0]
    rows = _stored("methodology", "mnist1d", "paper")
    frame = estimate("methodology", "paper", "mnist1d")
    share = len(rows) / frame["trials"].sum()  # the run finished all but one trial
    _row(f"methodology ({len(rows)} trials)", share * frame["h200_minutes"].sum(), row["seconds"] / 60,
         "  estimate: one trial after another; measured: wall clock")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-smoke", action="store_true")
    parser.add_argument("--skip-laptop", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_smoke:
        smoke()
    if not args.skip_laptop:
        laptop()
    paper()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
