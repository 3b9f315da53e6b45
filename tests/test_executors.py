"""Executors: in-process, a process pool and Ray give the same trials."""

from __future__ import annotations

import pytest
import torch

from scaling_core.sweep.executors import LocalExecutor
from scaling_core.sweep.run import run_sweep
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.task import TaskSpec
from scaling_core.sweep.trainer import TrainerSettings
from scaling_core.sweep.trial import Trial
from scaling_core.sweep.worker import execute_trial

TASK = TaskSpec("scaling_core.tasks.mnist1d:mnist1d_task", {"n_train": 300, "n_val": 100})
SETTINGS = TrainerSettings(max_epochs=3, patience=2, min_eval_steps=2)


def _jobs(count=3, **extra):
    return [Trial(key=f"k{i}", task=TASK, family="mlp", size=8 + 8 * i, lr=3e-3, batch_size=32,
                     trial_seed=i, shard_seed=0, shard_length=100, settings=SETTINGS, **extra)
            for i in range(count)]


def _results(pairs):
    return {job.key: (outcome["status"], outcome["metrics"], outcome["history"]) for job, outcome in pairs}


@pytest.fixture(scope="module")
def in_process():
    torch.set_num_threads(1)
    return _results((job, execute_trial(job)) for job in _jobs())


def test_in_process_executor_announces_each_start_before_running_it():
    events = []
    executor = LocalExecutor(workers=1)
    for job, outcome in executor.run(_jobs(2), on_start=lambda job, d: events.append(("start", job.key, d))):
        events.append(("done", job.key, outcome["status"]))
    assert events == [("start", "k0", "cpu"), ("done", "k0", "done"),
                      ("start", "k1", "cpu"), ("done", "k1", "done")]


@pytest.fixture(scope="module")
def pool():
    """Two spawned workers, kept across runs (and across the tests of this module)."""
    with LocalExecutor(workers=2, threads_per_worker=1) as executor:
        yield executor


def test_process_pool_gives_the_in_process_results(in_process, pool):
    started = []
    pairs = list(pool.run(_jobs(), on_start=lambda job, d: started.append(job.key)))
    assert sorted(started) == ["k0", "k1", "k2"]
    assert _results(pairs) == in_process


@pytest.mark.slow
def test_ray_executor_gives_the_in_process_results(in_process):
    pytest.importorskip("ray")
    from scaling_core.sweep.executors import RayExecutor

    # Ray's local mode is gone (2.60): a private one-CPU local instance stands in for a cluster.
    with RayExecutor(num_cpus=1, num_gpus=0, log_to_driver=False) as executor:
        pairs = list(executor.run(_jobs()))
    assert _results(pairs) == in_process
    assert {outcome["device"] for _, outcome in pairs} == {"cpu"}


def test_artefacts_are_renamed_into_place(tmp_path):
    job = _jobs(1, artefact_dir=str(tmp_path))[0]
    outcome = execute_trial(job)
    assert outcome["status"] == "done"
    saved = torch.load(tmp_path / "k0.pt")
    assert saved["history"] == outcome["history"] and "net.0.weight" in saved["state_dict"]
    assert [p.name for p in tmp_path.iterdir()] == ["k0.pt"]  # no temporary file left


def test_a_broken_trial_fails_with_a_reason_and_others_run():
    jobs = [*_jobs(1), Trial(key="bad", task=TASK, family="rnn", size=8, lr=1e-3, batch_size=8,
                                trial_seed=0, shard_seed=0, shard_length=50, settings=SETTINGS)]
    outcomes = dict((job.key, outcome) for job, outcome in LocalExecutor().run(jobs))
    assert outcomes["k0"]["status"] == "done"
    assert outcomes["bad"]["status"] == "failed" and outcomes["bad"]["reason"]


def test_sweep_with_two_workers_matches_one(tmp_path, pool):
    spec = SweepSpec.from_dict({
        "name": "pool", "task": {"factory": TASK.factory, "kwargs": dict(TASK.kwargs)},
        "shard_sizes": [50, 100], "searches": [{"family": "mlp", "grid": [4, 8], "samples": 1}],
        "trainer": {"max_epochs": 2, "min_eval_steps": 2},
    })
    torch.set_num_threads(1)
    one = run_sweep(spec, tmp_path / "one.sqlite", progress=False)
    two = run_sweep(spec, tmp_path / "two.sqlite", pool, progress=False)
    columns = ["key", "size", "lr", "val_error", "val_loss", "train_loss", "steps"]
    assert one[columns].equals(two[columns])


def test_bad_worker_count_is_a_one_line_error():
    with pytest.raises(ValueError, match="'workers' got 0"):
        LocalExecutor(workers=0)


def test_workers_end_when_their_driver_is_killed(tmp_path):
    """SIGKILL of the driver leaves no orphaned worker processes (each watches its parent)."""
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent("""
        import time
        from scaling_core.sweep.executors import LocalExecutor
        executor = LocalExecutor(workers=2)
        pool = executor._ensure_pool()
        futures = [pool.submit(time.sleep, 120) for _ in range(2)]
        while len(pool._processes) < 2:
            time.sleep(0.1)
        print(" ".join(str(pid) for pid in pool._processes), flush=True)
        time.sleep(120)
    """))
    driver = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    workers = [int(pid) for pid in driver.stdout.readline().split()]
    assert len(workers) == 2
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=10)

    def alive(pid):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().split()[2] != "Z"  # a zombie has ended
        except FileNotFoundError:
            return False

    deadline = time.time() + 15
    while any(alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in workers)
