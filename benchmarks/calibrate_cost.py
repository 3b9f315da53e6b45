"""Fit the cost model's step-time constants to the throughput benchmark's measurements.

For every measured row of ``benchmarks/results/throughput-*.jsonl`` (the H200 rows at the
paper shapes, the CPU rows at the laptop shapes), one training step of the row's model is
counted on this CPU (kernels and FLOPs, :func:`scaling_core.cost.count_step`'s way), and
per device and mode the constants of

    t_step = c_op[family] * kernels + K * FLOPs / rate

are fitted by non-negative least squares on relative errors, with ``c_op`` per model family
(an LSTM's fused kernels, a convolution and an element-wise kernel cost very different
times) and ``c0`` folded into it. The constants go to
``scaling_core/assets/cost_calibration.json`` with each fit's median and worst relative
error; the table printed last shows them.

Usage: python benchmarks/calibrate_cost.py
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import nnls
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scaling_core.cost import CALIBRATION  # noqa: E402
from scaling_core.step_counts import COUNT_BATCH, KernelCounter  # noqa: E402
from scaling_core.models.loop_lstm import with_loop_lstms  # noqa: E402

SOURCES = {"h200": ("throughput-h200.jsonl", "paper"), "cpu": ("throughput-cpu-laptop.jsonl", "laptop")}
"""Device -> (rows file, the benchmark shape set they were measured at)."""
MODES = {"one-async": "one", "one-graph": "graph", "stack": "stack", "stack-graph": "stack-graph"}
"""Benchmark modes -> the cost model's modes (the trainer no longer reads the loss back every step)."""
MEASURED_WITH = {("h200", "attention"): {"input_feed": True}}
"""Config fields of a model as a device's rows timed it, where the default changed since: the
H200 attention rows timed its decoder with input feeding (step by step), so they are counted
with it, and the per-kernel time fitted there prices today's model (one decoder call)."""


def _bench():
    spec = importlib.util.spec_from_file_location("bench_throughput", ROOT / "benchmarks" / "bench_throughput.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_COUNTS: dict[tuple, tuple[int, float]] = {}


def _counted(recipe, as_loop: bool, options: dict) -> tuple[int, float]:
    key = (recipe.family, recipe.size, recipe.units, as_loop, tuple(sorted(options.items())))
    if key not in _COUNTS:
        _COUNTS[key] = _count(recipe, as_loop, options)
    return _COUNTS[key]


def _count(recipe, as_loop: bool, options: dict) -> tuple[int, float]:
    torch.manual_seed(0)
    model = recipe.build()
    if options:  # the model as it was timed: its config with the fields of MEASURED_WITH
        torch.manual_seed(0)
        model = type(model)(dataclasses.replace(model.config, **options))
    model = with_loop_lstms(model) if as_loop else model
    batch = tuple(t[:COUNT_BATCH] for t in recipe.batch(torch.Generator().manual_seed(0), ()))
    with FlopCounterMode(display=False) as flops, KernelCounter() as kernels:
        recipe.loss(model, *batch).backward()
    return kernels.count, float(flops.get_total_flops())


def count(recipe, loop: bool, options: dict | None = None) -> tuple[int, float]:
    """Kernels (of the fused or the loop LSTMs) and FLOPs (counted on the loop ones) of one step at :data:`COUNT_BATCH`.

    ``options``: config fields the timed model had (:data:`MEASURED_WITH`).
    """
    options = options or {}
    return _counted(recipe, loop, options)[0], _counted(recipe, True, options)[1]


def main() -> int:
    bench = _bench()
    fits = {}
    for device, (name, shapes) in SOURCES.items():
        path = ROOT / "benchmarks" / "results" / name
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        recipes = {(r.family, float(r.size)): r for r in bench.recipes(shapes)}
        batch_of = {key: _batch_size(recipe) for key, recipe in recipes.items()}
        by_mode: dict[str, list] = {}
        for row in rows:
            mode = MODES.get(row["mode"]) or ("one" if device == "cpu" and row["mode"] == "one" else None)
            recipe = recipes.get((row["family"], float(row["size"])))
            if mode is None or recipe is None or row["status"] != "ok":
                continue
            options = MEASURED_WITH.get((device, row["family"]))
            kernels, flops = count(recipe, loop=mode.startswith("stack"), options=options)
            scaled = flops * batch_of[(row["family"], float(row["size"]))] / COUNT_BATCH * row["K"]
            by_mode.setdefault(mode, []).append((kernels, scaled, row["ms_per_step"] / 1000, row["family"]))
        fits[device] = {mode: _fit(points) for mode, points in by_mode.items()}
    CALIBRATION.parent.mkdir(parents=True, exist_ok=True)
    CALIBRATION.write_text(json.dumps({"devices": fits, "sources": {d: s[0] for d, s in SOURCES.items()}}, indent=1))
    print(f"{'device':<7}{'mode':<13}{'rows':>5}{'rate TFLOP/s':>14}{'median err':>12}{'worst err':>11}  "
          "us per kernel, by family")
    for device, modes in fits.items():
        for mode, c in modes.items():
            per_kernel = ", ".join(f"{f} {1e6 * v:.1f}" for f, v in c["c_op"].items())
            print(f"{device:<7}{mode:<13}{c['rows']:>5}{c['rate'] / 1e12:>14.3g}{c['median_error']:>12.0%}"
                  f"{c['worst_error']:>11.0%}  {per_kernel}")
    print(f"-> {CALIBRATION}")
    return 0


def _batch_size(recipe) -> int:
    return int(recipe.batch(torch.Generator().manual_seed(0), ())[0].shape[0])


def _fit(points) -> dict:
    """Non-negative least squares on relative errors: one kernels column per family, and FLOPs."""
    families = sorted({p[3] for p in points})
    kernels, flops, seconds = (np.array([p[i] for p in points], dtype=float) for i in range(3))
    own = np.array([[p[0] if p[3] == family else 0.0 for family in families] for p in points])
    design = np.concatenate([own, flops[:, None]], axis=1) / seconds[:, None]
    solution, _ = nnls(design, np.ones_like(seconds))
    predicted = design @ solution * seconds
    errors = np.abs(predicted / seconds - 1)
    inverse_rate = solution[-1]
    return {"c_op": {f: float(v) for f, v in zip(families, solution[:-1])},
            "rate": float(1 / inverse_rate) if inverse_rate > 0 else 1e18,
            "rows": len(points), "median_error": float(np.median(errors)), "worst_error": float(errors.max())}


if __name__ == "__main__":
    raise SystemExit(main())
