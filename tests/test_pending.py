"""Pending sweeps: listed in queue order, run within a time budget into an output folder, resumed."""

from __future__ import annotations

import json

import pytest

from scaling_core.pending import pending, run_pending, status
from scaling_core.sweep.run import run_sweep
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.task import TaskSpec

QUEUE = (("methodology", "mnist1d"),)


def test_run_pending_fills_an_output_folder_that_chapters_then_only_read(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALING_CORE_RESULTS", str(tmp_path / "results"))  # nothing stored yet
    assert [s.chapter for s in pending("smoke", QUEUE)] == ["methodology"]
    rows = run_pending("smoke", "cpu", 600, tmp_path / "out", QUEUE, results=tmp_path / "results")
    assert [(r["chapter"], r["outcome"]) for r in rows] == [("methodology", "complete")]
    assert rows[0]["trials_after"] > 0 and rows[0]["pending_after"] == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["rows"] == rows
    stores = sorted(p.name for p in (tmp_path / "out" / "results" / "methodology").iterdir())
    assert stores == ["mnist1d-smoke.sqlite"]  # one file: no write-ahead log left beside it

    monkeypatch.setenv("SCALING_CORE_RESULTS", str(tmp_path / "out" / "results"))
    assert pending("smoke", QUEUE) == []
    assert status("methodology", "mnist1d", "smoke").complete == 1

    def no_training(self):
        raise AssertionError("the task was built: the chapter trained instead of reading")

    monkeypatch.setattr(TaskSpec, "build", no_training)
    from scaling_core.experiments import methodology
    from scaling_core.experiments.contract import configure
    config = configure("methodology", "smoke")
    frame = run_sweep(methodology.sweep_specs(config)[0], methodology.store(config), progress=False)
    assert len(frame) == rows[0]["trials_after"]


def test_a_budget_cut_run_resumes_from_the_stores_it_left(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALING_CORE_RESULTS", str(tmp_path / "results"))
    first = run_pending("smoke", "cpu", 0.5, tmp_path / "out", QUEUE, results=tmp_path / "results")
    assert [r["outcome"] for r in first] == ["cut by the time budget"]
    again = run_pending("smoke", "cpu", 600, tmp_path / "again", QUEUE, results=tmp_path / "out" / "results")
    assert again[0]["trials_before"] == first[0]["trials_after"] and again[0]["outcome"] == "complete"


def test_run_pending_checks_its_profile(tmp_path):
    with pytest.raises(ValueError, match="parameter 'profile'"):
        run_pending("huge", "cpu", 10, tmp_path, QUEUE)
