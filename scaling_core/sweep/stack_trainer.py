"""Several trials of one model family and size trained at once, each as it would train alone.

:func:`train_stack` runs the trainer's loop (:func:`~scaling_core.sweep.trainer.run_members`)
over a :class:`~scaling_core.sweep.stacked.ModelStack`: each member keeps its own
learning rate, batch order (its ``seed``), shard, evaluation schedule, early stopping
and stop reason, and is dropped from the stack when it stops. Members are evaluated one
by one with the task's own ``evaluate`` on a copy of their weights, so a member's
metrics come from the same code as a trial trained alone; its training steps differ
from the lone trial's only by rounding (batched matrix products).

A task opts in with ``stackable = True``; its batches must stack: tuples, lists or
registered dataclasses of tensors whose shapes agree across members, or the task
defines ``stack_batches(batches)`` (e.g. padding sentences to one length).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils import _pytree as pytree

from scaling_core.sweep.graphs import CapturedStep
from scaling_core.sweep.stacked import ModelStack, StackedOptimizer, clip_member_grads
from scaling_core.sweep.task import Task
from scaling_core.sweep.trainer import (
    Progress, TrialResult, autocast_factory, batch_generator, endless_batches, evaluate_model, fast_math,
    run_members, steps_per_epoch, use_graphs,
)
from scaling_core.sweep.trial import Trial


def stack_batches(batches: Sequence[Any]) -> Any:
    """Batches of the members as one batch with a leading member axis (``torch.stack`` of each tensor).

    Raises
    ------
    ValueError
        When the batches differ in structure or in a tensor's shape.
    """
    flat = [pytree.tree_flatten(batch) for batch in batches]
    spec = flat[0][1]
    if any(s != spec for _, s in flat):
        raise ValueError("parameter 'batches' got batches of different structure; allowed: one structure")
    leaves = []
    for parts in zip(*(leaves for leaves, _ in flat)):
        if parts[0] is None:
            leaves.append(None)
            continue
        if any(p.shape != parts[0].shape for p in parts):
            raise ValueError(f"parameter 'batches' got tensors of shapes {sorted({tuple(p.shape) for p in parts})}; "
                             "allowed: one shape (or a task with stack_batches)")
        leaves.append(torch.stack(parts))
    return pytree.tree_unflatten(leaves, spec)


def train_stack(
    task: Task,
    models: Sequence[torch.nn.Module],
    shards: Sequence[np.ndarray],
    trials: Sequence[Trial],
    device: str = "cpu",
    graphs: bool | None = None,
) -> list[TrialResult]:
    """Train ``len(models)`` trials together; returns each one's :class:`~scaling_core.sweep.trainer.TrialResult`.

    Parameters
    ----------
    task : Task
        A task with ``stackable = True``.
    models : sequence of nn.Module
        Freshly initialised models of one architecture (each seeded as its lone trial would be).
    shards : sequence of int arrays
        Each member's training examples.
    trials : sequence of Trial
        Each member's ``lr`` and ``trial_seed``; the ``batch_size``, ``optimizer``,
        ``settings`` and ``deadline`` are the first member's (a stack shares them).
    device, graphs
        As in :func:`~scaling_core.sweep.trainer.train_trial`.
    """
    if not (len(models) == len(shards) == len(trials)) or not models:
        raise ValueError("parameters 'models', 'shards', 'trials' got different lengths; allowed: one per member")
    optimizers = {t.optimizer for t in trials}
    batch_sizes = {int(t.batch_size) for t in trials}
    if len(optimizers) > 1 or len(batch_sizes) > 1:
        raise ValueError(f"parameter 'trials' mixes optimizers {sorted(optimizers)} or batch sizes "
                         f"{sorted(batch_sizes)}; allowed: one of each per stack")
    settings, deadline = trials[0].settings, trials[0].deadline
    fast_math(device)
    batch_size = batch_sizes.pop()
    stack = ModelStack([m.to(device) for m in models])
    optimizer = StackedOptimizer(optimizers.pop(), stack.parameters(), [float(t.lr) for t in trials])
    autocast = autocast_factory(device, settings.amp)
    stacker = getattr(task, "stack_batches", stack_batches)
    streams = [endless_batches(task, shard, batch_size, batch_generator(t.trial_seed), device)
               for shard, t in zip(shards, trials)]

    def step(batch) -> torch.Tensor:
        with autocast():
            losses = stack.map(task.train_loss, batch)
        optimizer.zero_grad()
        losses.sum().backward()
        if settings.grad_clip is not None:
            clip_member_grads(stack.parameters(), settings.grad_clip)
        optimizer.step()
        return losses.detach().float()

    captured = use_graphs(task, device, graphs)
    state = {"stepper": CapturedStep(step) if captured else step, "active": list(range(len(models)))}

    def stepped(active: list[int]) -> torch.Tensor:
        state["active"] = active
        return state["stepper"](stacker([next(streams[k]) for k in active]))

    def evaluate(k: int) -> dict[str, float]:
        member = stack.member(state["active"].index(k)).to(device)
        return evaluate_model(task, member, device, autocast)

    def drop(kept: list[int]) -> None:
        stack.keep(kept, optimizer)
        state["stepper"] = CapturedStep(step) if captured else step  # graphs hold the old tensors

    members = [Progress(steps_per_epoch(task, shard, batch_size), settings) for shard in shards]
    run_members(members, stepped, evaluate, task.metrics[0], deadline, drop)
    return [member.result for member in members]
