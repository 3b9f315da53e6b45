"""Finding things from the command line: --version, list, python -m, chapter help, progress."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from scaling_core.catalog import catalog, store_status
from scaling_core.cli import build_parser, main, plain
from scaling_core.experiments.contract import CHAPTER_PARAMETERS, CHAPTERS

REPO = Path(__file__).resolve().parent.parent


def test_version_and_python_dash_m(capsys):
    done = subprocess.run([sys.executable, "-m", "scaling_core", "--version"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("scaling-core 0.")


def test_list_names_every_chapter_its_datasets_and_its_stores(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SCALING_CORE_RESULTS", str(tmp_path / "results"))
    assert main(["list", "--profiles", "smoke"]) == 0
    out = capsys.readouterr().out
    for chapter in CHAPTERS:
        assert chapter in out
    assert "g2p, multi30k" in out and "trains nothing" in out and "no store" in out
    assert not list((tmp_path / "results").rglob("*.sqlite*"))  # listing never creates a store
    monkeypatch.delenv("SCALING_CORE_RESULTS")
    frame = catalog(("laptop",))
    assert store_status("methodology", "laptop", "mnist1d") == "complete"  # the committed store
    assert list(frame.columns) == ["chapter", "datasets", "laptop"]


def test_chapter_help_lists_chapters_and_parameters_and_no_help_has_rst_markup(capsys):
    parser = build_parser()
    chapter = next(a for a in parser._subparsers._group_actions if a.dest == "command").choices["chapter"]
    text = chapter.format_help()
    assert all(name in text for name in CHAPTERS) and all(name in text for name in CHAPTER_PARAMETERS)
    for sub in next(a for a in parser._subparsers._group_actions if a.dest == "command").choices.values():
        assert "``" not in sub.format_help() and ":func:" not in sub.format_help()
    assert "``" not in parser.format_help()
    assert plain("see :func:`~scaling_core.fit.PowerLawFit` and ``x``") == "see scaling_core.fit.PowerLawFit and x"


def test_a_chapter_run_shows_its_sweep_progress_on_the_terminal(tmp_path):
    env = {**os.environ, "SCALING_CORE_RESULTS": str(tmp_path / "results")}
    done = subprocess.run([sys.executable, "-m", "scaling_core", "chapter", "methodology", "-p", "profile", "smoke",
                           "--output-dir", str(tmp_path / "book")], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "methodology-smoke-seed0" in done.stderr and "trial" in done.stderr  # tqdm: trials done of total, ETA
    assert "Kernel is running over TCP" not in done.stderr
