"""A machine that cannot run a trial (no device, out of memory, a missing file) records no result."""

from __future__ import annotations

import pytest
import torch

from scaling_core.sweep import worker
from scaling_core.sweep.cli import main
from scaling_core.sweep.executors import LocalExecutor
from scaling_core.sweep.run import TrialsUnavailable, run_sweep
from scaling_core.sweep.search import SearchSpec
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.store import Store
from scaling_core.sweep.task import TaskSpec
from scaling_core.sweep.trainer import TrainerSettings
from scaling_core.validation import ParameterError

MNIST1D = TaskSpec("scaling_core.tasks.mnist1d:mnist1d_task", {"n_train": 400, "n_val": 200})
TRAINER = TrainerSettings(max_epochs=2, patience=1, min_eval_steps=2)


def _spec(*searches, name="env"):
    return SweepSpec(name=name, task=MNIST1D, shard_sizes=(50, 100), trainer=TRAINER,
                     searches=searches or (SearchSpec("mlp", grid=(4, 8), growth=(0.0,), samples=1),))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_missing_device_is_refused_before_any_trial(tmp_path):
    path = tmp_path / "s.sqlite"
    with pytest.raises(ParameterError, match=r"parameter 'device' got 'cuda'; allowed: a device this machine has: cpu"):
        run_sweep(_spec(), path, LocalExecutor(devices=("cuda",)), progress=False)
    frame = run_sweep(_spec(), path, progress=False)  # the right device afterwards: nothing to undo
    assert (frame["status"] == "done").all() and (frame["starts"] == 1).all()


def test_an_unknown_device_on_the_command_line_is_one_line(tmp_path, capsys):
    config = tmp_path / "sweep.yaml"
    config.write_text(
        "name: env\ntask: {factory: 'scaling_core.tasks.mnist1d:mnist1d_task', kwargs: {n_train: 400, n_val: 200}}\n"
        "shard_sizes: [50]\nsearches: [{family: mlp, grid: [4], samples: 1}]\n")
    assert main(["run", str(config), "--store", str(tmp_path / "s.sqlite"), "--device", "tpu", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "parameter 'device' got 'tpu'" in err[0]


def test_a_trial_the_machine_cannot_run_is_left_unfinished_and_the_sweep_incomplete(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    spec, path = _spec(), tmp_path / "s.sqlite"
    real_run = worker._run

    def out_of_memory_on_the_second_shard(trial, device):
        if trial.shard == 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_run(trial, device)

    monkeypatch.setattr(worker, "_run", out_of_memory_on_the_second_shard)
    with pytest.raises(TrialsUnavailable, match="1 trial\\(s\\) could not run on this machine .*CUDA out of memory"):
        run_sweep(spec, path, progress=False)
    with Store(path, readonly=True) as store:
        frame = store.to_frame(spec.name)
        assert store.completed_record(spec.name) is None  # never marked complete
    assert "failed" not in set(frame["status"])
    kept = frame[frame["status"] == "done"]
    assert len(kept) == 2  # what finished is kept
    monkeypatch.setattr(worker, "_run", real_run)
    resumed = run_sweep(spec, path, progress=False)
    assert (resumed["status"] == "done").all() and len(resumed) == 3
    assert set(kept["key"]) <= set(resumed["key"])
    assert resumed.set_index("key").loc[kept["key"], "starts"].eq(1).all()  # nothing trained twice


def test_divergence_stays_a_result_and_retry_failed_trains_it_again(tmp_path):
    torch.set_num_threads(1)
    spec = _spec(SearchSpec("mlp", grid=(4,), growth=(0.0,), samples=1),
                 SearchSpec("cnn", grid=(4,), growth=(0.0,), samples=1, lr_range=(1e35, 1e36)), name="div")
    path = tmp_path / "s.sqlite"
    first = run_sweep(spec, path, progress=False)
    assert (first.loc[first["family"] == "cnn", "status"] == "failed").all()  # a diverged trial is a result
    again = run_sweep(spec, path, progress=False)  # complete: read, nothing retrained
    assert (again["starts"] == 1).all()
    retried = run_sweep(spec, path, progress=False, retry_failed=True).set_index("family")
    assert (retried.loc["cnn", "starts"] == 2).all() and (retried.loc["mlp", "starts"] == 1).all()


def test_environment_errors_are_told_from_results():
    assert worker.from_environment(AssertionError("Torch not compiled with CUDA enabled"))
    assert worker.from_environment(FileNotFoundError("no such file: data.tar"))
    assert worker.from_environment(MemoryError())
    assert not worker.from_environment(ValueError("non-finite loss at step 3"))
    assert not worker.from_environment(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
