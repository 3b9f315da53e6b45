"""The ``sweep`` command line: run, resume, show, and one-line errors."""

from __future__ import annotations

import argparse

import pytest
import torch
import yaml

from scaling_core.sweep import cli
from scaling_core.sweep.store import Store

CONFIG = {
    "name": "cli",
    "task": {"factory": "scaling_core.tasks.mnist1d:mnist1d_task",
             "kwargs": {"n_train": 300, "n_val": 100}},
    "shard_sizes": [50, 100],
    "searches": [{"family": "mlp", "grid": [4, 8], "samples": 1}],
    "trainer": {"max_epochs": 2, "min_eval_steps": 2},
}


def _config(tmp_path, **changes):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, **changes}))
    return path


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    return err[0]


def test_run_then_resume_then_show(tmp_path, capsys):
    torch.set_num_threads(1)
    store = tmp_path / "s.sqlite"
    args = ["run", str(_config(tmp_path)), "--store", str(store), "--quiet"]
    assert cli.main(args) == 0
    assert "cli: 4 trials (4 done, 0 failed)" in capsys.readouterr().out
    assert cli.main(args) == 0  # a finished sweep is read, not rerun
    with Store(store) as opened:
        assert (opened.to_frame()["starts"] == 1).all()
    capsys.readouterr()
    assert cli.main(["show", str(store), "--best", "val_error"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "val_error" in lines[0] and len(lines) == 3  # header and one winner per shard


def test_add_parser_registers_the_sweep_subcommand():
    parser = argparse.ArgumentParser(prog="scaling-core")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sweep", "run", "x.yaml", "--workers", "2"])
    assert args.command == "sweep" and args.workers == 2 and args.handler is cli.run


@pytest.mark.parametrize("changes, message", [
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"searches": [{"family": "rnn", "grid": [4]}]}, "'family' got 'rnn'; allowed: 'mlp', 'cnn'"),
    ({"searches": [{"family": "mlp", "grid": [4], "samples": 0}]}, "'samples' got 0"),
    ({"shard_sizes": [50, 5000]}, "allowed: at most 300"),
    ({"task": {"factory": "scaling_core.tasks.nothing:task"}}, "scaling_core.tasks.nothing"),
])
def test_bad_configs_are_one_line_errors(tmp_path, capsys, changes, message):
    path = _config(tmp_path, **changes)
    assert cli.main(["run", str(path), "--store", str(tmp_path / "s.sqlite"), "--quiet"]) == 2
    assert message in _error_line(capsys)


def test_missing_files_and_conflicting_arguments_are_one_line_errors(tmp_path, capsys):
    assert cli.main(["run", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml" in _error_line(capsys)
    assert cli.main(["run", str(_config(tmp_path)), "--experiment", "methodology"]) == 2
    assert "either a YAML config or --experiment" in _error_line(capsys)
    assert cli.main(["show", str(tmp_path / "none.sqlite")]) == 2
    assert "'store'" in _error_line(capsys)


def test_a_chapter_sweep_runs_by_experiment_name(tmp_path, capsys):
    torch.set_num_threads(1)
    store = tmp_path / "methodology.sqlite"
    assert cli.main(["run", "--experiment", "methodology", "--profile", "smoke", "--store", str(store),
                     "--quiet"]) == 0
    assert "methodology-smoke-seed0: 12 trials (12 done, 0 failed)" in capsys.readouterr().out
    assert cli.main(["run", "--experiment", "methodology", "--profile", "huge"]) == 2
    assert "parameter 'profile' got 'huge'" in _error_line(capsys)


def _stop_at_the_executor(monkeypatch) -> list:
    """Make ``sweep run`` record its ``--workers`` and stop before it trains anything."""
    seen = []

    def stop(args):
        seen.append(args.workers)
        raise ValueError("stopped before training")

    monkeypatch.setattr(cli, "_executor", stop)
    return seen


@pytest.mark.parametrize("argv, workers", [
    (["--experiment", "methodology", "--profile", "laptop"], 2),  # the chapter's own settings
    (["--experiment", "image", "--profile", "laptop"], 2),  # read through its per-dataset settings
    (["--experiment", "methodology", "--profile", "smoke"], 1),
    (["--experiment", "methodology", "--profile", "laptop", "--workers", "3"], 3),
])
def test_a_chapters_sweeps_run_with_its_own_workers_unless_told(tmp_path, monkeypatch, argv, workers):
    seen = _stop_at_the_executor(monkeypatch)
    assert cli.main(["run", *argv, "--store", str(tmp_path / "s.sqlite"), "--quiet"]) == 2
    assert seen == [workers]


def test_a_yaml_sweep_runs_one_trial_at_a_time_unless_told(tmp_path, monkeypatch):
    seen = _stop_at_the_executor(monkeypatch)
    assert cli.main(["run", str(_config(tmp_path)), "--store", str(tmp_path / "s.sqlite"), "--quiet"]) == 2
    assert seen == [1]
