"""One generic trainer for every domain.

:func:`train_trial` trains a model on a shard with Adam, plain SGD or Nesterov
momentum (no weight decay or other capacity-limiting regularisation, as in the
paper's model search), evaluates on the validation set V every ``eval_interval``
steps, stops early when the search metric ``task.metrics[0]`` has not improved for
``patience`` evaluations, and keeps the validation metrics of the best evaluation
together with the mean training loss of the steps before it (their gap shows over-
or under-fitting). Every trial records why it stopped (:data:`STOP_REASONS`) and
whether its last evaluation was still its best (``improving``): a trial stopped by a
cap while still improving did not converge.

A non-finite training loss or search metric ends the trial as ``failed``
(``diverged``): divergence is a result of the sampled learning rate, not an error.

The hot path reads nothing back to the host between evaluations: the training loss is
summed on the device and read at evaluations only. On CUDA the trainer turns on TF32,
trains under bfloat16 autocast (``settings.amp``), uses fused Adam, and replays the
step from CUDA graphs when the task is ``graph_safe`` (:mod:`scaling_core.sweep.graphs`).
:func:`scaling_core.sweep.stack_trainer.train_stack` runs the same loop for several
trials at once.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
import torch

from scaling_core.sweep.graphs import CapturedStep
from scaling_core.sweep.task import Task

if TYPE_CHECKING:  # the trial module imports this one (for TrainerSettings)
    from scaling_core.sweep.trial import Trial


OPTIMIZERS = ("adam", "sgd", "nesterov")
"""Optimizers a trial may use: Adam, plain SGD, SGD with Nesterov momentum 0.9."""

STOP_REASONS = ("early_stop", "max_steps", "max_epochs", "time_budget", "diverged", "error")
"""Why a trial stopped: no improvement for ``patience`` evaluations, a budget cap, the
sweep's time budget, a non-finite loss, or an exception."""


def make_optimizer(name: str, parameters, lr: float, device: str = "cpu") -> torch.optim.Optimizer:
    """The optimizer ``name`` (one of :data:`OPTIMIZERS`) with no weight decay (fused Adam on CUDA)."""
    if name == "adam":
        cuda = str(device).startswith("cuda")
        options = {"fused": True, "capturable": True} if cuda else {}
        return torch.optim.Adam(parameters, lr=lr, weight_decay=0.0, **options)
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
    before that evaluation; ``history`` lists every evaluation; ``stop_reason`` is one
    of :data:`STOP_REASONS` and ``improving`` says whether the last evaluation was the
    best so far.
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
    stop_reason: str | None = None
    improving: bool | None = None


Callback = Callable[[dict[str, float]], None]
"""Called after every evaluation with that history row."""


def train_trial(
    task: Task,
    model: torch.nn.Module,
    shard_indices: np.ndarray,
    trial: Trial,
    device: str = "cpu",
    callbacks: tuple[Callback, ...] = (),
    graphs: bool | None = None,
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
    trial : Trial
        Read for its ``lr``, ``batch_size``, ``trial_seed`` (batch order), ``optimizer`` (one
        of :data:`OPTIMIZERS`), ``settings`` (:class:`TrainerSettings`) and ``deadline``: a
        ``time.time()`` value where the trial stops with ``stop_reason`` ``"time_budget"``
        (the sweep reruns it later; it is not a result).
    device : str
        Torch device; CUDA devices train under bfloat16 autocast when ``trial.settings.amp``.
    callbacks : tuple of callables
        Each gets every evaluation's history row.
    graphs : bool or None
        Replay the step from CUDA graphs; ``None``: on CUDA when ``task.graph_safe``.

    Returns
    -------
    TrialResult
    """
    fast_math(device)
    model.to(device)
    settings = trial.settings
    optimizer = make_optimizer(trial.optimizer, model.parameters(), trial.lr, device)
    autocast = autocast_factory(device, settings.amp)
    batches = endless_batches(task, shard_indices, int(trial.batch_size), batch_generator(trial.trial_seed), device)

    def step(batch) -> torch.Tensor:
        model.train()
        with autocast():
            loss = task.train_loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if settings.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        return loss.detach().float().reshape(1)

    captured = use_graphs(task, device, graphs)
    stepper = CapturedStep(step) if captured else step
    members = [Progress(steps_per_epoch(task, shard_indices, int(trial.batch_size)), settings, callbacks)]
    run_members(members, lambda active: stepper(next(batches)),
                lambda k: evaluate_model(task, model, device, autocast), task.metrics[0], trial.deadline)
    return members[0].result


class Progress:
    """The bookkeeping of one trial: steps, epochs, evaluations, the best one, why it stopped."""

    def __init__(self, epoch_steps: int, settings: TrainerSettings, callbacks: Sequence[Callback] = ()):
        self.epoch_steps, self.settings, self.callbacks = epoch_steps, settings, tuple(callbacks)
        self.interval = settings.eval_interval(epoch_steps)
        self.result = TrialResult(status="done")
        self.best, self.stale, self.since_eval = math.inf, 0, 0
        self.started = time.perf_counter()

    def stepped(self) -> bool:
        """Count one step; ``True`` when an evaluation is due (every ``interval`` steps, and at a cap)."""
        result = self.result
        result.steps += 1
        result.epochs = result.steps / self.epoch_steps
        self.since_eval += 1
        return result.steps % self.interval == 0 or self._cap() is not None

    def _cap(self) -> str | None:
        if self.result.steps >= self.settings.max_steps:
            return "max_steps"
        if self.result.epochs >= self.settings.max_epochs:
            return "max_epochs"
        return None

    def evaluated(self, metric: str, loss_sum: float, metrics: dict[str, float]) -> bool:
        """Record one evaluation after ``since_eval`` steps whose losses sum to ``loss_sum``; ``True`` when done."""
        result = self.result
        train_loss = loss_sum / max(self.since_eval, 1)
        self.since_eval = 0
        if not math.isfinite(train_loss):
            return self.failed(f"non-finite training loss {train_loss} before step {result.steps}")
        row = {"step": result.steps, "epoch": result.epochs, "train_loss": train_loss}
        row.update({name: float(value) for name, value in metrics.items()})
        result.history.append(row)
        for callback in self.callbacks:
            callback(row)
        score = row[metric]
        if not math.isfinite(score):
            return self.failed(f"non-finite {metric} {score} at step {result.steps}")
        if score < self.best:
            self.best, self.stale = score, 0
            result.metrics = {k: v for k, v in row.items() if k not in ("step", "epoch", "train_loss")}
            result.train_loss, result.best_step, result.best_epoch = train_loss, result.steps, result.epochs
        else:
            self.stale += 1
        result.improving = self.stale == 0
        stop = "early_stop" if self.stale >= self.settings.patience else self._cap()
        if stop is not None:
            self.stopped(stop)
        return stop is not None

    def failed(self, reason: str, stop_reason: str = "diverged") -> bool:
        self.result.status, self.result.reason = "failed", reason
        self.stopped(stop_reason)
        return True

    def stopped(self, reason: str) -> None:
        """Record why and when the trial stopped."""
        self.result.stop_reason = reason
        self.result.wall_time = time.perf_counter() - self.started


def run_members(members: list[Progress], step: Callable[[list[int]], torch.Tensor],
                evaluate: Callable[[int], dict[str, float]], metric: str, deadline: float | None = None,
                drop: Callable[[list[int]], None] | None = None) -> None:
    """The training loop of one or several trials stepping together.

    ``step(active)`` makes one optimizer step of the members ``active`` (indices into
    ``members``) and returns their training losses, shape ``(len(active),)``, on the
    device; ``evaluate(k)`` returns member ``k``'s validation metrics, of which ``metric``
    decides early stopping; ``drop(kept)`` is told which positions of the active members
    go on after some stopped. The losses are read back to the host at evaluations only.
    """
    active = list(range(len(members)))
    running = None
    while active:
        if deadline is not None and time.time() >= deadline:
            for k in active:
                members[k].stopped("time_budget")
            return
        losses = step(active)
        running = losses.clone() if running is None else running.add_(losses)
        due = [i for i, k in enumerate(active) if members[k].stepped()]
        if not due:
            continue
        sums = running.tolist()  # the one read-back, at evaluations only
        stopped = []
        for i in due:
            if members[active[i]].evaluated(metric, sums[i], evaluate(active[i])):
                stopped.append(i)
            running[i] = 0.0
        if stopped:
            kept = [i for i in range(len(active)) if i not in stopped]
            active = [active[i] for i in kept]
            running = running[kept] if kept else None
            if drop is not None and active:
                drop(kept)


def evaluate(task: Task, model: torch.nn.Module, device: str = "cpu", amp: bool = True) -> dict[str, float]:
    """``task``'s validation metrics of ``model`` as the trainer computes them: in eval mode,
    without gradients, under bf16 autocast on CUDA when ``amp`` (a task's ``evaluate`` does
    none of these itself); the model is left in training mode."""
    return evaluate_model(task, model, device, autocast_factory(device, amp))


def evaluate_model(task, model, device, autocast) -> dict[str, float]:
    model.eval()
    with torch.no_grad(), autocast():
        metrics = task.evaluate(model, device)
    model.train()
    return metrics


def endless_batches(task, indices, batch_size, generator, device) -> Iterator[Any]:
    """Batches of shuffled epochs, one after another, without end."""
    while True:
        yield from task.train_batches(indices, batch_size, generator, device)


def batch_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def autocast_factory(device: str, amp: bool):
    """A fresh-per-use autocast context factory: bfloat16 on CUDA, nothing elsewhere.

    The weight cast cache is off: a cached cast would be baked into a CUDA graph.
    """
    if amp and str(device).startswith("cuda"):
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)
    return contextlib.nullcontext


GRAPHS_ENV = "SCALING_CORE_CUDA_GRAPHS"
"""Set to ``0`` to train every step eagerly (no CUDA graphs), e.g. to compare or debug."""


def use_graphs(task, device: str, graphs: bool | None) -> bool:
    """Whether to replay steps from CUDA graphs: asked for, or a graph-safe task on CUDA (unless ``$SCALING_CORE_CUDA_GRAPHS=0``)."""
    if graphs is None:
        graphs = bool(getattr(task, "graph_safe", False)) and os.environ.get(GRAPHS_ENV, "1") != "0"
    return graphs and str(device).startswith("cuda")


def fast_math(device: str) -> None:
    """TF32 matrix products and convolutions on CUDA (float32 work outside autocast)."""
    if str(device).startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
