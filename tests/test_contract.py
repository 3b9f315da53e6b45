"""One contract for every chapter module, and the sweep command that runs any chapter through it."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from scaling_core.experiments import contract, nmt, table1
from scaling_core.paths import REPO_ROOT
from scaling_core.profiles import PROFILES, ParameterError
from scaling_core.sweep.cli import main as sweep_main
from scaling_core.sweep.records import completed_record
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.store import Store

TASK_ARGUMENTS_NEVER_TAKEN = {"profile", "families", "widths", "grid"}
"""A task knows nothing of profiles or model grids: the chapter's search spec holds them."""


@pytest.mark.parametrize("chapter", contract.CHAPTERS)
def test_every_chapter_keeps_the_contract(chapter):
    module = contract.chapter_module(chapter)
    assert contract.missing_names(module) == []
    assert set(module.SCALES) == set(PROFILES) and len(module.DATASETS) >= 1
    for row in module.TABLE1_ROWS:
        assert set(table1.ROW_KEYS) <= set(row)
    for profile in PROFILES:
        config = contract.configure(chapter, profile)
        specs = module.sweep_specs(config)
        assert all(isinstance(spec, SweepSpec) for spec in specs)
        assert bool(specs) == (chapter in contract.SWEEP_CHAPTERS)
        store = module.store(config)
        if specs:
            assert store.parent.name == chapter and store.name == f"{config.dataset}-{profile}.sqlite"
            assert {row["sweep"].format(profile=profile, seed=0) for row in module.TABLE1_ROWS} <= \
                {spec.name for spec in specs}
            for spec in specs:
                assert not TASK_ARGUMENTS_NEVER_TAKEN & set(spec.task.kwargs), spec.task.kwargs
        else:
            assert store is None


def test_configure_is_the_one_check_of_the_chapter_parameters(monkeypatch):
    monkeypatch.setitem(nmt.SCALES, "paper", {**nmt.SCALES["paper"], "dataset": "multi30k"})
    assert contract.configure("nmt", "paper").dataset == "multi30k"  # the profile's default dataset
    assert contract.configure("nmt", "laptop").dataset == "g2p"
    for bad, name in ((dict(profile="huge"), "profile"), (dict(seed=-1), "seed"), (dict(device="tpu"), "device"),
                      (dict(dataset="wmt"), "dataset")):
        with pytest.raises(ParameterError, match=f"parameter '{name}'"):
            contract.configure("nmt", **{"profile": "smoke", **bad})
    with pytest.raises(ParameterError, match="parameter 'chapter' got 'optics'"):
        contract.configure("optics")


@pytest.mark.slow
@pytest.mark.parametrize("chapter", contract.SWEEP_CHAPTERS)
def test_sweep_run_works_for_every_chapter_at_smoke(chapter, tmp_path, monkeypatch, capsys):
    """Through the contract: the chapter's sweeps, into its own store (read when the smoke book made it)."""
    results = tmp_path / "results"
    monkeypatch.setenv("SCALING_CORE_RESULTS", str(results))
    config = contract.configure(chapter, "smoke")
    module = contract.chapter_module(chapter)
    built = REPO_ROOT / "results" / chapter / f"{config.dataset}-smoke.sqlite"
    store = module.store(config)
    if built.exists():  # made by this checkout's smoke book: the command only reads what is current
        shutil.copy(built, store)
    assert sweep_main(["run", "--experiment", chapter, "--profile", "smoke", "--quiet"]) == 0
    out = capsys.readouterr().out
    with Store(store) as opened:
        specs = contract.all_sweep_specs(config, opened)  # the word-LM re-tuning sweep included
        for spec in specs:
            assert completed_record(opened, spec) is not None
            assert f"{spec.name}: " in out
    assert len(specs) >= len(module.sweep_specs(config)) + (chapter == "word_lm")


def test_sweep_run_of_a_chapter_without_sweeps_says_so(capsys):
    assert sweep_main(["run", "--experiment", "counting", "--profile", "smoke"]) == 0
    assert "trains nothing" in capsys.readouterr().out
    assert sweep_main(["run", "--experiment", "optics"]) == 2
    assert "parameter 'chapter' got 'optics'" in capsys.readouterr().err


def test_a_stale_chapter_store_is_reported_by_the_sweep_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SCALING_CORE_RESULTS", str(tmp_path / "results"))
    assert sweep_main(["run", "--experiment", "methodology", "--profile", "smoke", "--quiet"]) == 0
    capsys.readouterr()
    files = {"scaling_core/sweep/trainer.py": "0" * 16}
    monkeypatch.setattr(SweepSpec, "code_files", lambda self: files)
    assert sweep_main(["run", "--experiment", "methodology", "--profile", "smoke", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "stale: sweep 'methodology-smoke-seed0' was made by code version" in out
    assert "--rerun-stale retrains" in out
    assert Path(tmp_path / "results" / "methodology" / "mnist1d-smoke.sqlite").exists()


def test_the_chapter_says_whether_its_store_is_current(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALING_CORE_RESULTS", str(tmp_path / "results"))
    config = contract.configure("methodology", "smoke")
    assert contract.code_note(config) == ""  # no store yet
    assert sweep_main(["run", "--experiment", "methodology", "--profile", "smoke", "--quiet"]) == 0
    assert contract.code_note(config) == "Every stored trial of this run was made by today's code."
    store = tmp_path / "results" / "methodology" / "mnist1d-smoke.sqlite"
    with sqlite3.connect(store) as db:  # as a store is committed: its log in the file, rollback journal
        db.execute("PRAGMA journal_mode = DELETE")
    db.close()
    committed = store.read_bytes()
    contract.code_note(config)
    assert store.read_bytes() == committed  # reading rewrites nothing (a writer would turn on its log)
    monkeypatch.setattr(SweepSpec, "code_files", lambda self: {"scaling_core/sweep/trainer.py": "0" * 16})
    note = contract.code_note(config)
    assert note.startswith("Made by earlier code: 1 of the chapter's 1 sweeps") and "`scaling_core/sweep/trainer.py`" in note
    assert "--rerun-stale" in note
