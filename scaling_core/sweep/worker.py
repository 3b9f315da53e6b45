"""Running one trial, in whatever process or machine an executor chose.

A :class:`~scaling_core.sweep.trial.Trial` is small and picklable: the task is rebuilt from its
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
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from scaling_core.sweep.stack_trainer import train_stack
from scaling_core.sweep.task import example_order
from scaling_core.sweep.trainer import TrialResult, train_trial
from scaling_core.sweep.trial import Trial


def execute_trial(trial: Trial, device: str = "cpu") -> dict[str, Any]:
    """Train one trial and return its outcome (``status``, metrics, timings ...).

    Any exception inside the trial is returned as a ``failed`` outcome with a
    one-line reason, so one broken trial never stops a sweep.
    """
    return execute_unit((trial,), device)[0]


def execute_unit(trials: Sequence[Trial], device: str = "cpu") -> list[dict[str, Any]]:
    """Train ``trials`` (one trial, or a stack of trials from :func:`stack_groups`); one outcome each.

    A stack trains its members together (:func:`~scaling_core.sweep.stack_trainer.train_stack`);
    an exception fails every member with the same one-line reason, except one that comes from the
    machine (:func:`from_environment`): those come back ``"unavailable"``, with the reason, and are
    not results (the driver records nothing and never marks the sweep complete). A trial that the sweep's
    time budget cuts (or that would start after it) comes back with status ``"cut"``: it is no
    result, and the driver runs it again next time.
    """
    if trials[0].deadline is not None and time.time() >= trials[0].deadline:
        return [{"status": "cut", "stop_reason": "time_budget", "device": device} for _ in trials]
    try:
        return _run(trials[0], device) if len(trials) == 1 else _run_stack(trials, device)
    except Exception as error:  # noqa: BLE001 - recorded as the trial's failure reason
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        if from_environment(error):  # no result: the driver leaves the trial unfinished
            return [{"status": "unavailable", "reason": reason, "device": device} for _ in trials]
        return [{"status": "failed", "reason": reason, "stop_reason": "error", "device": device} for _ in trials]


ENVIRONMENT_MESSAGES = re.compile(r"CUDA|cuDNN|out of memory|not compiled with|MPS backend|No such file|"
                                  r"device-side|NCCL", re.IGNORECASE)
"""Failure messages that come from the machine (device, memory, files), not from the trial's settings."""


def from_environment(error: BaseException) -> bool:
    """Whether ``error`` says the machine could not run the trial (no device, out of memory, a missing
    file), as opposed to a result of its settings (e.g. divergence): such a trial is not recorded as failed."""
    if isinstance(error, (MemoryError, OSError, ImportError)):
        return True
    return ENVIRONMENT_MESSAGES.search(f"{type(error).__name__}: {error}") is not None


def stack_key(trial: Trial) -> tuple:
    """What trials of one stack share: task, family, size, batch size, optimizer, shard length, trainer."""
    return (trial.task.factory, repr(sorted(trial.task.kwargs.items())), trial.family, float(trial.size), trial.batch_size,
            trial.optimizer, trial.shard_seed, trial.shard_length, trial.settings)


def stack_groups(trials: Sequence[Trial], max_members: int) -> list[tuple[Trial, ...]]:
    """``trials`` cut into stacks of at most ``max_members`` trials with the same :func:`stack_key` (order kept)."""
    groups: dict[tuple, list[list[Trial]]] = {}
    order: list[tuple[tuple, int]] = []
    for trial in trials:
        stacks = groups.setdefault(stack_key(trial), [])
        if not stacks or len(stacks[-1]) >= max(1, max_members):
            stacks.append([])
            order.append((stack_key(trial), len(stacks) - 1))
        stacks[-1].append(trial)
    return [tuple(groups[key][i]) for key, i in order]


def _run(trial: Trial, device: str) -> list[dict[str, Any]]:
    task = trial.task.build()
    indices = example_order(task, trial.shard_seed)[: trial.shard_length]
    _seed_everything(trial.trial_seed)
    model = task.build_model(trial.family, trial.size)
    result = train_trial(task, model, indices, trial, device)
    _save(trial, model, result)
    return [_outcome(result, model, device)]


def _run_stack(trials: Sequence[Trial], device: str) -> list[dict[str, Any]]:
    task = trials[0].task.build()
    models, shards = [], []
    for trial in trials:
        shards.append(example_order(task, trial.shard_seed)[: trial.shard_length])
        _seed_everything(trial.trial_seed)  # each member starts where its lone trial would
        models.append(task.build_model(trial.family, trial.size))
    results = train_stack(task, models, shards, trials, device)
    return [_outcome(result, model, device, len(trials)) for result, model in zip(results, models)]


def _save(trial: Trial, model: torch.nn.Module, result: TrialResult) -> None:
    if trial.artefact_dir and result.status == "done" and result.stop_reason != "time_budget":
        _atomic_save({"state_dict": model.state_dict(), "history": result.history},
                     Path(trial.artefact_dir) / f"{trial.key}.pt")


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
