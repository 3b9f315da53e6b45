"""Running one trial, in whatever process or machine an executor chose.

A :class:`TrialJob` is small and picklable: the task is rebuilt from its
:class:`~scaling_core.sweep.task.TaskSpec` (cached per process) and the shard from
its seed and prefix length. The worker never touches the results store; it
returns an outcome dictionary that the driver records. On the CPU a trial is
repeatable bit for bit: its seed comes from its key, and torch's CPU kernels are
deterministic for a fixed thread count (``torch.use_deterministic_algorithms`` is
not needed there, and importing its machinery costs seconds per process). Artefacts (the trained
weights, when asked for) are written to a temporary file and renamed into place,
so a killed trial never leaves a half-written file behind.

Trials that differ only in their learning rate and seed (same task, family, size,
batch size, optimizer and shard) can run as one stack (:func:`stack_groups`,
:func:`execute_unit`); each member's outcome is the one its lone trial would have had,
up to rounding.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from scaling_core.sweep.stack_trainer import train_stack
from scaling_core.sweep.task import TaskSpec, example_order
from scaling_core.sweep.trainer import TrainerSettings, TrialResult, train_trial


@dataclass(frozen=True)
class TrialJob:
    """Everything a worker needs to run one trial."""

    key: str  # the trial key (store primary key)
    task: TaskSpec  # how to build the task
    family: str  # model family
    size: float  # the family's size knob
    lr: float  # learning rate
    batch_size: int  # examples per step
    trial_seed: int  # seeds model initialisation and batch order
    shard_seed: int  # seed of the ordering the shards are prefixes of
    shard_length: int  # examples in the shard
    settings: TrainerSettings = field(default_factory=TrainerSettings)
    artefact_dir: str | None = None  # where to save trained weights, if anywhere
    optimizer: str = "adam"  # see scaling_core.sweep.trainer.OPTIMIZERS
    deadline: float | None = None  # time.time() at which the sweep's time budget ends (not part of the key)


def execute_trial(job: TrialJob, device: str = "cpu") -> dict[str, Any]:
    """Train one trial and return its outcome (``status``, metrics, timings ...).

    Any exception inside the trial is returned as a ``failed`` outcome with a
    one-line reason, so one broken trial never stops a sweep.
    """
    return execute_unit((job,), device)[0]


def execute_unit(jobs: Sequence[TrialJob], device: str = "cpu") -> list[dict[str, Any]]:
    """Train ``jobs`` (one trial, or a stack of trials from :func:`stack_groups`); one outcome each.

    A stack trains its members together (:func:`~scaling_core.sweep.stack_trainer.train_stack`);
    an exception fails every member with the same one-line reason. A trial that the sweep's
    time budget cuts (or that would start after it) comes back with status ``"cut"``: it is no
    result, and the driver runs it again next time.
    """
    if jobs[0].deadline is not None and time.time() >= jobs[0].deadline:
        return [{"status": "cut", "stop_reason": "time_budget", "device": device} for _ in jobs]
    try:
        return _run(jobs[0], device) if len(jobs) == 1 else _run_stack(jobs, device)
    except Exception as error:  # noqa: BLE001 - recorded as the trial's failure reason
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        return [{"status": "failed", "reason": reason, "stop_reason": "error", "device": device} for _ in jobs]


def stack_key(job: TrialJob) -> tuple:
    """What trials of one stack share: task, family, size, batch size, optimizer, shard length, trainer."""
    return (job.task.factory, repr(sorted(job.task.kwargs.items())), job.family, float(job.size), job.batch_size,
            job.optimizer, job.shard_seed, job.shard_length, job.settings)


def stack_groups(jobs: Sequence[TrialJob], max_members: int) -> list[tuple[TrialJob, ...]]:
    """``jobs`` cut into stacks of at most ``max_members`` trials with the same :func:`stack_key` (order kept)."""
    groups: dict[tuple, list[list[TrialJob]]] = {}
    order: list[tuple[tuple, int]] = []
    for job in jobs:
        stacks = groups.setdefault(stack_key(job), [])
        if not stacks or len(stacks[-1]) >= max(1, max_members):
            stacks.append([])
            order.append((stack_key(job), len(stacks) - 1))
        stacks[-1].append(job)
    return [tuple(groups[key][i]) for key, i in order]


def _run(job: TrialJob, device: str) -> list[dict[str, Any]]:
    task = job.task.build()
    indices = example_order(task, job.shard_seed)[: job.shard_length]
    _seed_everything(job.trial_seed)
    model = task.build_model(job.family, job.size)
    result = train_trial(task, model, indices, _config(job), device, job.settings, deadline=job.deadline)
    _save(job, model, result)
    return [_outcome(result, model, device)]


def _run_stack(jobs: Sequence[TrialJob], device: str) -> list[dict[str, Any]]:
    task = jobs[0].task.build()
    models, shards = [], []
    for job in jobs:
        shards.append(example_order(task, job.shard_seed)[: job.shard_length])
        _seed_everything(job.trial_seed)  # each member starts where its lone trial would
        models.append(task.build_model(job.family, job.size))
    results = train_stack(task, models, shards, [_config(job) for job in jobs], device, jobs[0].settings,
                          deadline=jobs[0].deadline)
    return [_outcome(result, model, device, len(jobs)) for result, model in zip(results, models)]


def _config(job: TrialJob) -> dict[str, Any]:
    return {"lr": job.lr, "batch_size": job.batch_size, "seed": job.trial_seed, "optimizer": job.optimizer}


def _save(job: TrialJob, model: torch.nn.Module, result: TrialResult) -> None:
    if job.artefact_dir and result.status == "done" and result.stop_reason != "time_budget":
        _atomic_save({"state_dict": model.state_dict(), "history": result.history},
                     Path(job.artefact_dir) / f"{job.key}.pt")


def _outcome(result: TrialResult, model: torch.nn.Module, device: str, stacked: int = 1) -> dict[str, Any]:
    cut = result.stop_reason == "time_budget"
    return {
        "status": "cut" if cut else result.status, "reason": result.reason, "device": device if stacked == 1 else f"{device} x{stacked}",
        "num_params": sum(p.numel() for p in model.parameters()),
        "metrics": result.metrics, "train_loss": result.train_loss,
        "best_step": result.best_step, "best_epoch": result.best_epoch,
        "steps": result.steps, "epochs": result.epochs,
        "history": result.history, "wall_time": result.wall_time,
        "stop_reason": result.stop_reason, "improving": result.improving,
    }


def _seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices) for one trial."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
