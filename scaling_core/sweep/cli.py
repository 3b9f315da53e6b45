"""``scaling-core sweep``: run, resume or inspect a learning-curve sweep.

Examples
--------
Run (or resume) a sweep described by a YAML file::

    scaling-core sweep run sweep.yaml --store results/demo.sqlite --workers 2

Run every sweep of a chapter at a profile, into the chapter's own store (through the chapter
contract, :mod:`scaling_core.experiments.contract`), as many trials at once as the chapter's
profile trains (``--workers`` overrides it); a stale store is read and reported unless
``--rerun-stale``::

    scaling-core sweep run --experiment word_lm --profile smoke --dataset kjv

On a Ray cluster, one quarter GPU per trial::

    scaling-core sweep run sweep.yaml --store s.sqlite --executor ray --ray-address auto \\
        --gpus-per-trial 0.25

Stop cleanly after ten minutes (exit status 3 while trials remain; a rerun resumes)::

    scaling-core sweep run --experiment methodology --profile paper --device cuda --time-budget 600

Show the trials (or each shard's winner) of a store::

    scaling-core sweep show results/demo.sqlite --best val_error

The YAML file holds the fields of :class:`~scaling_core.sweep.spec.SweepSpec`::

    name: demo
    seed: 0
    task: {factory: "scaling_core.tasks.mnist1d:mnist1d_task", kwargs: {n_train: 2000}}
    shard_sizes: {min_units: 64, max_units: 1024, factor: 2}
    searches:
      - {family: mlp, grid: [8, 16, 32, 64], growth: [0.5, 1.0], samples: 2}
    trainer: {max_epochs: 50, patience: 5}
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import yaml

from scaling_core.paths import results_dir
from scaling_core.experiments.contract import SWEEP_CHAPTERS
from scaling_core.profiles import PROFILES

SHOWN_COLUMNS = ["shard", "shard_units", "family", "size", "lr", "batch_size", "status", "stop_reason",
                 "improving", "train_loss", "num_params", "steps", "wall_time"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``sweep`` subcommand (with ``run`` and ``show``) on ``subparsers``."""
    from scaling_core.cli import plain

    parser = subparsers.add_parser("sweep", help="run, resume or inspect a learning-curve sweep",
                                   description=plain(__doc__.split("\n\n")[0]),
                                   epilog=plain(__doc__.split("\n\n", 1)[1]),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="sweep_action", required=True)
    runner = actions.add_parser("run", help="run or resume a sweep")
    runner.add_argument("config", nargs="?", help="YAML file with the sweep spec")
    runner.add_argument("--experiment", help=f"a chapter whose sweeps to run: {', '.join(SWEEP_CHAPTERS)}")
    runner.add_argument("--profile", default="smoke", help=f"with --experiment: {', '.join(PROFILES)}")
    runner.add_argument("--seed", type=int, default=0, help="with --experiment: the chapter seed")
    runner.add_argument("--dataset", default=None, help="with --experiment: one of the chapter's datasets")
    runner.add_argument("--data-dir", default=None, help="with --experiment: folder of real datasets")
    runner.add_argument("--rerun-stale", action="store_true",
                        help="retrain completed sweeps made by code that differs from today's (default: read them)")
    runner.add_argument("--retry-failed", action="store_true",
                        help="train again the trials stored as failed (e.g. after a crash of the machine)")
    runner.add_argument("--store", help="results store (default: the chapter's, or results/sweeps/)")
    runner.add_argument("--workers", type=int, default=None,
                        help="trials at once on a CPU (local executor); default: the chapter's own with "
                             "--experiment, else 1")
    runner.add_argument("--device", action="append", help="torch device; repeat to use several")
    runner.add_argument("--trials-per-device", type=int, default=None,
                        help="processes sharing each GPU (default 2)")
    runner.add_argument("--stack", type=int, default=None,
                        help="most trials trained as one stack (default: 1 on a CPU, 16 on a GPU)")
    runner.add_argument("--threads", type=int, default=1, help="torch threads per trial")
    runner.add_argument("--executor", choices=("local", "ray"), default="local")
    runner.add_argument("--ray-address", default=None, help="'auto', 'ray://host:10001' or none")
    runner.add_argument("--gpus-per-trial", type=float, default=0.0, help="Ray: GPU fraction")
    runner.add_argument("--quiet", action="store_true", help="no progress bar")
    runner.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                        help="stop cleanly after this long; a rerun resumes (exit status 3)")
    show = actions.add_parser("show", help="print the trials of a store")
    show.add_argument("store", help="results store")
    show.add_argument("--sweep", help="only this sweep")
    show.add_argument("--best", metavar="METRIC", help="only each shard's winner by METRIC")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Execute a parsed ``sweep`` command; returns the exit status."""
    try:
        return _run_action(args) if args.sweep_action == "run" else _show(args)
    except (ValueError, TypeError, FileNotFoundError, ImportError, yaml.YAMLError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"scaling-core sweep: error: {message}", file=sys.stderr)
        return 2


def _run_action(args: argparse.Namespace) -> int:
    from scaling_core.sweep.budget import TimeBudgetExceeded, time_budget
    from scaling_core.sweep.records import staleness
    from scaling_core.sweep.run import TrialsUnavailable, run_sweep
    from scaling_core.sweep.store import Store

    specs, store, config = _specs_and_store(args)
    if args.time_budget is not None and not args.time_budget > 0:
        raise ValueError(f"parameter 'time-budget' got {args.time_budget!r}; allowed: a positive number of seconds")
    if not specs:
        print(f"chapter {args.experiment!r} trains nothing: it has no sweeps")
        return 0
    if args.workers is None:
        from scaling_core.experiments.contract import chapter_workers

        args.workers = chapter_workers(config) if config else 1
    executor = _executor(args)
    ran: dict[str, tuple] = {}
    try:
        with time_budget(args.time_budget):
            while specs:  # then a chapter's sweeps that follow from these results (the word-LM re-tuning)
                for spec in specs:
                    ran[spec.name] = spec, run_sweep(spec, store, executor, progress=not args.quiet,
                                                     rerun_stale=args.rerun_stale, retry_failed=args.retry_failed)
                specs = [s for s in _later_specs(config, store) if s.name not in ran] if config else []
    except TimeBudgetExceeded as stopped:
        print(f"{stopped} ({store})")
        return 3
    except TrialsUnavailable as unavailable:
        print(f"scaling-core sweep: error: {unavailable} ({store})", file=sys.stderr)
        return 4
    finally:
        executor.close()
    with Store(store, readonly=True) as opened:
        for spec, frame in ran.values():
            done = int((frame["status"] == "done").sum())
            print(f"{spec.name}: {len(frame)} trials ({done} done, {len(frame) - done} failed) in {store}")
            stale = staleness(opened, spec)
            if stale is not None:
                print(f"  stale: {stale}; read as stored (--rerun-stale retrains)")
    return 0


def _specs_and_store(args: argparse.Namespace):
    from scaling_core.experiments.contract import chapter_module, configure
    from scaling_core.sweep.spec import SweepSpec

    if bool(args.config) == bool(args.experiment):
        raise ValueError("give either a YAML config or --experiment, not both or neither")
    if args.experiment:
        devices = args.device or ["cpu"]
        config = configure(args.experiment, profile=args.profile, seed=args.seed, device=devices[0],
                           dataset=args.dataset, data_dir=args.data_dir)
        module = chapter_module(args.experiment)
        return module.sweep_specs(config), Path(args.store or module.store(config) or "."), config
    with open(args.config) as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{args.config}: expected a mapping of sweep fields")
    spec = SweepSpec.from_dict(data)
    return [spec], Path(args.store or results_dir() / "sweeps" / f"{spec.name}.sqlite"), None


def _later_specs(config, store: Path) -> list:
    from scaling_core.experiments.contract import all_sweep_specs
    from scaling_core.sweep.store import Store

    with Store(store, readonly=True) as opened:
        return all_sweep_specs(config, opened)


def _executor(args: argparse.Namespace):
    from scaling_core.sweep.executors import GPU_STACK, TRIALS_PER_DEVICE, LocalExecutor, RayExecutor

    if args.executor == "ray":
        return RayExecutor(address=args.ray_address, gpus_per_trial=args.gpus_per_trial, stack=args.stack or 1)
    devices = tuple(args.device or ("cpu",))
    gpu = any(d.startswith("cuda") for d in devices)
    workers = (args.trials_per_device or TRIALS_PER_DEVICE) * len(devices) if gpu else args.workers
    return LocalExecutor(workers, devices=devices, threads_per_worker=args.threads,
                         stack=args.stack or (GPU_STACK if gpu else 1))


def _show(args: argparse.Namespace) -> int:
    from scaling_core.sweep.run import best_per_shard
    from scaling_core.sweep.store import Store

    if not Path(args.store).exists():
        raise FileNotFoundError(f"parameter 'store' got {args.store!r}; no such file")
    with Store(args.store, readonly=True) as store:  # a read never writes, not even the schema
        frame = store.to_frame(args.sweep)
    if args.best:
        if args.best not in frame.columns:
            raise ValueError(f"parameter 'best' got {args.best!r}; no such metric in the store")
        frame = best_per_shard(frame, args.best)
    metrics = [c for c in frame.columns if c.startswith("val_")]
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(frame[[c for c in SHOWN_COLUMNS if c in frame.columns] + metrics].to_string())
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m scaling_core.sweep.cli ...``: the sweep command on its own."""
    parser = argparse.ArgumentParser(prog="scaling-core")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sweep", *(sys.argv[1:] if argv is None else argv)])
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
