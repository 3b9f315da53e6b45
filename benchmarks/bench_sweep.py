"""Benchmark the sweep engine on the methodology chapter's sweep.

Reports trials per hour, the results store's overhead per trial (time the driver
spends in SQLite, measured in the sweep and in a synthetic micro-benchmark), and the
mean GPU utilisation while the sweep runs when a CUDA device is used.

    python benchmarks/bench_sweep.py --profile smoke --workers 1
    python benchmarks/bench_sweep.py --profile laptop --workers 2 --device cuda
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import torch

from scaling_core.experiments import methodology
from scaling_core.experiments.contract import configure
from scaling_core.sweep.executors import LocalExecutor
from scaling_core.sweep.run import run_sweep
from scaling_core.sweep.store import Store

TIMED = ("add", "statuses", "start", "finish", "to_frame", "mark_complete", "completed_spec")


class TimedStore(Store):
    """A store that adds up the wall time spent in each of its methods."""

    def __init__(self, *args, **kwargs):
        self.seconds = 0.0
        super().__init__(*args, **kwargs)

    def __getattribute__(self, name):
        method = super().__getattribute__(name)
        if name not in TIMED:
            return method

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


class GpuSampler(threading.Thread):
    """Samples GPU utilisation (percent) twice a second until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.5):
            value = gpu_utilisation()
            if value is not None:
                self.samples.append(value)


def gpu_utilisation() -> float | None:
    """Current utilisation of GPU 0: ``torch.cuda.utilization`` (pynvml), else nvidia-smi."""
    try:
        return float(torch.cuda.utilization(0))
    except Exception:  # noqa: BLE001 - pynvml missing: fall back to the command line tool
        pass
    if shutil.which("nvidia-smi") is None:
        return None
    out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                          "-i", "0"], capture_output=True, text=True)
    return float(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None


def store_micro_benchmark(folder: Path, trials: int = 500) -> float:
    """Milliseconds of store work per trial (add, start, finish) for synthetic trials."""
    with Store(folder / "micro.sqlite") as store:
        start = time.perf_counter()
        for i in range(trials):
            store.add([{"key": f"k{i}", "sweep": "micro", "shard": 0, "size": 8.0, "config": {"i": i}}])
            store.start(f"k{i}", "cpu")
            store.finish(f"k{i}", {"status": "done", "metrics": {"val_loss": 1.0},
                                   "history": [{"step": s, "val_loss": 1.0} for s in range(20)]})
        return 1000 * (time.perf_counter() - start) / trials


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="smoke", choices=("smoke", "laptop", "paper"))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    sampler = GpuSampler() if args.device.startswith("cuda") else None
    store = TimedStore(folder / "sweep.sqlite")
    if sampler:
        sampler.start()
    start = time.perf_counter()
    with LocalExecutor(args.workers, devices=(args.device,)) as executor:
        spec = methodology.sweep_specs(configure("methodology", args.profile, args.seed))[0]
        frame = run_sweep(spec, store, executor, progress=False)
    elapsed = time.perf_counter() - start
    if sampler:
        sampler.stop.set()
        sampler.join()
    rows = [
        ("profile / workers / device", f"{args.profile} / {args.workers} / {args.device}"),
        ("trials (done)", f"{len(frame)} ({int((frame['status'] == 'done').sum())})"),
        ("wall time (s)", f"{elapsed:.1f}"),
        ("trials per hour", f"{3600 * len(frame) / elapsed:.0f}"),
        ("mean trial time (s)", f"{frame['wall_time'].mean():.2f}"),
        ("store overhead per trial, in the sweep (ms)", f"{1000 * store.seconds / len(frame):.2f}"),
        ("store overhead, share of wall time", f"{100 * store.seconds / elapsed:.2f} %"),
        ("store add+start+finish per trial, micro (ms)", f"{store_micro_benchmark(folder):.2f}"),
        ("mean GPU utilisation", f"{sum(sampler.samples) / len(sampler.samples):.0f} %"
         if sampler and sampler.samples else "n/a (no CUDA device)"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    store.close()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
