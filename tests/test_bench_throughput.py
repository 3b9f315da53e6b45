"""The throughput benchmark runs in its CI-sized form and prints its table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_throughput.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_throughput", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_quick_benchmark_times_one_at_a_time_and_stacked(tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    assert _bench().main(["--quick", "--families", "mlp,rhn5", "--min-seconds", "0.01", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {(r["family"], r["mode"], r["K"]) for r in rows} >= {("mlp", "one", 1), ("mlp", "stack", 4),
                                                                 ("rhn5", "one", 1), ("rhn5", "stack", 4)}
    assert all(r["status"] == "ok" and r["ms_per_step"] > 0 for r in rows)
    stacked = next(r for r in rows if r["family"] == "mlp" and r["mode"] == "stack" and r["K"] == 4)
    assert stacked["member_steps_per_s"] == pytest.approx(stacked["K"] * 1000 / stacked["ms_per_step"])
    table = capsys.readouterr().out
    assert "x one" in table and "rhn5" in table and "stack" in table
