"""One generic trainer for every domain.

:func:`train_trial` trains a model on a shard with Adam, plain SGD or Nesterov
momentum (no weight decay or other capacity-limiting regularisation, as in the
paper's model search), evaluates on
the validation set V every ``eval_interval`` steps, stops early when the search
metric ``task.metrics[0]`` has not improved for ``patience`` evaluations, and keeps
the validation metrics of the best evaluation together with the mean training
loss of the steps before it (their gap shows over- or under-fitting).

A non-finite training loss or search metric ends the trial as ``failed`` with its
reason: divergence is a result of the sampled learning rate, not an error.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch

from scaling_core.sweep.task import Task


OPTIMIZERS = ("adam", "sgd", "nesterov")
"""Optimizers a trial may use: Adam, plain SGD, SGD with Nesterov momentum 0.9."""


def make_optimizer(name: str, parameters, lr: float) -> torch.optim.Optimizer:
    """The optimizer ``name`` (one of :data:`OPTIMIZERS`) with no weight decay."""
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=0.0)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, weight_decay=0.0)
    if name == "nesterov":
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9, nesterov=True, weight_decay=0.0)
    raise ValueError(f"parameter 'optimizer' got {name!r}; allowed: {', '.join(OPTIMIZERS)}")


def steps_per_epoch(task: Task, indices: np.ndarray, batch_size: int) -> int:
    """Optimizer steps in one pass over ``indices``.

    ``task.steps_per_epoch(indices, batch_size)`` when the task defines it (e.g. a
    language model whose batches cut one continuous stream), else
    ``ceil(len(indices) / batch_size)``.
    """
    custom = getattr(task, "steps_per_epoch", None)
    if custom is not None:
        return max(1, int(custom(indices, batch_size)))
    return math.ceil(len(indices) / batch_size)


@dataclass(frozen=True)
class TrainerSettings:
    """How long and how carefully each trial trains."""

    max_epochs: float = 100.0  # hard cap on passes over the shard
    max_steps: int = 20_000  # hard cap on optimizer steps
    eval_every_epochs: float = 1.0  # evaluate on V about once per pass ...
    min_eval_steps: int = 20  # ... but never more often than every this many steps
    patience: int = 5  # evaluations without improvement before stopping
    grad_clip: float | None = None  # max gradient norm; None leaves gradients alone
    amp: bool = True  # bfloat16 autocast on CUDA devices (ignored on CPU)

    def __post_init__(self):
        for name in ("max_epochs", "max_steps", "eval_every_epochs", "min_eval_steps", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"parameter {name!r} got {value!r}; allowed: a positive number")

    def eval_interval(self, epoch_steps: int) -> int:
        """Optimizer steps between evaluations when one pass takes ``epoch_steps`` steps."""
        return max(self.min_eval_steps, math.ceil(self.eval_every_epochs * epoch_steps))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrialResult:
    """What one training run produced.

    ``metrics`` are the validation metrics at the best evaluation (by
    ``task.metrics[0]``), ``train_loss`` the mean training loss over the steps
    before that evaluation; ``history`` lists every evaluation.
    """

    status: str  # "done" or "failed"
    reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    train_loss: float | None = None
    best_step: int = 0
    best_epoch: float = 0.0
    steps: int = 0
    epochs: float = 0.0
    wall_time: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


Callback = Callable[[dict[str, float]], None]
"""Called after every evaluation with that history row."""


def train_trial(
    task: Task,
    model: torch.nn.Module,
    shard_indices: np.ndarray,
    config: dict[str, Any],
    device: str = "cpu",
    settings: TrainerSettings = TrainerSettings(),
    callbacks: tuple[Callback, ...] = (),
) -> TrialResult:
    """Train ``model`` on the examples ``shard_indices`` of ``task`` and evaluate on V.

    Parameters
    ----------
    task : Task
        The domain: batches, loss and validation metrics.
    model : torch.nn.Module
        A freshly initialised model (moved to ``device`` here).
    shard_indices : array of int
        Training examples of the shard.
    config : dict
        ``lr`` (learning rate), ``batch_size``, ``seed`` (batch order) and optionally
        ``optimizer`` (one of :data:`OPTIMIZERS`, default Adam).
    device : str
        Torch device; CUDA devices train under bfloat16 autocast when ``settings.amp``.
    settings : TrainerSettings
    callbacks : tuple of callables
        Each gets every evaluation's history row.

    Returns
    -------
    TrialResult
    """
    start = time.perf_counter()
    model.to(device)
    optimizer = make_optimizer(config.get("optimizer", "adam"), model.parameters(), config["lr"])
    generator = torch.Generator().manual_seed(int(config["seed"]))
    batch_size = int(config["batch_size"])
    epoch_steps = steps_per_epoch(task, shard_indices, batch_size)
    interval = settings.eval_interval(epoch_steps)
    result = TrialResult(status="done")
    batches = _endless(task, shard_indices, batch_size, generator, device)
    best, stale, losses = math.inf, 0, []
    autocast = _autocast(device, settings.amp)
    while stale < settings.patience and result.steps < settings.max_steps:
        loss = _step(task, model, optimizer, next(batches), autocast, settings.grad_clip)
        result.steps += 1
        result.epochs = result.steps / epoch_steps
        if not math.isfinite(loss):
            return _failed(result, f"non-finite training loss {loss} at step {result.steps}", start)
        losses.append(loss)
        at_end = result.epochs >= settings.max_epochs or result.steps >= settings.max_steps
        if result.steps % interval and not at_end:
            continue
        row = _evaluate(task, model, device, autocast, result, float(np.mean(losses)))
        losses = []
        for callback in callbacks:
            callback(row)
        score = row[task.metrics[0]]
        if not math.isfinite(score):
            return _failed(result, f"non-finite {task.metrics[0]} {score} at step {result.steps}", start)
        if score < best:
            best, stale = score, 0
            _keep_best(result, row)
        else:
            stale += 1
        if at_end:
            break
    result.wall_time = time.perf_counter() - start
    return result


def _endless(task, indices, batch_size, generator, device) -> Iterator[Any]:
    """Batches of shuffled epochs, one after another, without end."""
    while True:
        yield from task.train_batches(indices, batch_size, generator, device)


def _autocast(device: str, amp: bool):
    """A fresh-per-use autocast context factory: bfloat16 on CUDA, nothing elsewhere."""
    if amp and device.startswith("cuda"):
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def _step(task, model, optimizer, batch, autocast, grad_clip) -> float:
    """One optimizer step; returns the batch's training loss."""
    model.train()
    with autocast():
        loss = task.train_loss(model, batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return float(loss.detach())


def _evaluate(task, model, device, autocast, result, train_loss) -> dict[str, float]:
    """Validation metrics now, as one history row (also appended to ``result``)."""
    model.eval()
    with torch.no_grad(), autocast():
        metrics = task.evaluate(model, device)
    row = {"step": result.steps, "epoch": result.epochs, "train_loss": train_loss}
    row.update({name: float(value) for name, value in metrics.items()})
    result.history.append(row)
    return row


def _keep_best(result: TrialResult, row: dict[str, float]) -> None:
    """Record ``row`` as the best evaluation so far."""
    result.metrics = {k: v for k, v in row.items() if k not in ("step", "epoch", "train_loss")}
    result.train_loss = row["train_loss"]
    result.best_step, result.best_epoch = int(row["step"]), float(row["epoch"])


def _failed(result: TrialResult, reason: str, start: float) -> TrialResult:
    result.status, result.reason = "failed", reason
    result.wall_time = time.perf_counter() - start
    return result
