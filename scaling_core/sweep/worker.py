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
"""

from __future__ import annotations

import os
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scaling_core.sweep.task import TaskSpec, example_order
from scaling_core.sweep.trainer import TrainerSettings, train_trial


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


def execute_trial(job: TrialJob, device: str = "cpu") -> dict[str, Any]:
    """Train one trial and return its outcome (``status``, metrics, timings ...).

    Any exception inside the trial is returned as a ``failed`` outcome with a
    one-line reason, so one broken trial never stops a sweep.
    """
    try:
        return _run(job, device)
    except Exception as error:  # noqa: BLE001 - recorded as the trial's failure reason
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        return {"status": "failed", "reason": reason, "device": device}


def _run(job: TrialJob, device: str) -> dict[str, Any]:
    task = job.task.build()
    indices = example_order(task, job.shard_seed)[: job.shard_length]
    _seed_everything(job.trial_seed)
    model = task.build_model(job.family, job.size)
    config = {"lr": job.lr, "batch_size": job.batch_size, "seed": job.trial_seed,
              "optimizer": job.optimizer}
    result = train_trial(task, model, indices, config, device, job.settings)
    if job.artefact_dir and result.status == "done":
        _atomic_save({"state_dict": model.state_dict(), "history": result.history},
                     Path(job.artefact_dir) / f"{job.key}.pt")
    return {
        "status": result.status, "reason": result.reason, "device": device,
        "num_params": sum(p.numel() for p in model.parameters()),
        "metrics": result.metrics, "train_loss": result.train_loss,
        "best_step": result.best_step, "best_epoch": result.best_epoch,
        "steps": result.steps, "epochs": result.epochs,
        "history": result.history, "wall_time": result.wall_time,
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
