"""The contract between a domain and the sweep engine.

A :class:`Task` is everything domain-specific about a learning-curve sweep: the
training examples and what each one counts for, the validation set V, the model
families and their size grids, batching, the loss and the validation metrics.
The trainer and the model search are generic and only talk to a task through
this protocol.

Tasks are built in worker processes from a :class:`TaskSpec` (an import path and
keyword arguments), so they never need to be pickled.

Optionally a task may define ``example_order(seed) -> ndarray``: the order in which
nested shards take training examples (e.g. class-balanced); without it shards take
a seeded random permutation (see :func:`example_order`). Two optional flags speed
training on a GPU: ``stackable = True`` lets trials that differ only in learning rate
and seed train as one stack (:mod:`scaling_core.sweep.stack_trainer`; batches that may
differ in shape need ``stack_batches(batches)``), and ``graph_safe = True`` says a
training step reads nothing back to the host and keeps its shapes, so it can be replayed
from a CUDA graph (:mod:`scaling_core.sweep.graphs`).

Optionally a task may define ``baselines(indices) -> {name: {metric: value}}``: trivial
predictors estimated from the training examples ``indices`` (a unigram, the class prior, an
empty transcript ...) scored on V with :meth:`Task.evaluate`'s definitions. Every shard of
a finished sweep gets them (:mod:`scaling_core.sweep.shard_baselines`), and a learning curve
is read as learning only where it is clearly below them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
import re
from typing import Any, Container, Iterator, Mapping, Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class Task(Protocol):
    """A domain problem the sweep engine can train on.

    Attributes
    ----------
    name : str
        Short identifier, part of every trial key (e.g. ``"nmt-multi30k"``).
    unit : str
        What data size counts, in the paper's sense: ``"tokens"``, ``"characters"``,
        ``"images"``, ``"seconds"`` ... (truncated text counts only the kept part).
    metrics : tuple of str
        Names of the validation metrics :meth:`evaluate` returns. ``metrics[0]`` is
        the one the model search minimises (e.g. ``"val_error"`` or ``"val_loss"``).
    families : container of str
        The model families the task can build (a tuple of names, or a
        :class:`FamilyPattern`). The grid of sizes is not the task's: it lives in the
        sweep's search spec. ``size`` is a family's one scaling knob (a hidden width,
        a width factor ...).
    fingerprint : str
        A short hash of the data (and its preprocessing) so a changed dataset makes
        new trials rather than stale cache hits.
    """

    name: str
    unit: str
    metrics: tuple[str, ...]
    families: Container[str]
    fingerprint: str

    def example_units(self) -> np.ndarray:
        """Units each training example contributes, in the task's fixed example order."""

    def build_model(self, family: str, size: float) -> torch.nn.Module:
        """A freshly initialised model of ``family`` at ``size`` (seed set by the caller)."""

    def train_batches(
        self, indices: np.ndarray, batch_size: int, generator: torch.Generator, device: str
    ) -> Iterator[Any]:
        """One shuffled epoch over the training examples ``indices``, as device batches."""

    def train_loss(self, model: torch.nn.Module, batch: Any) -> torch.Tensor:
        """The scalar training loss of ``model`` on ``batch`` (to back-propagate)."""

    def evaluate(self, model: torch.nn.Module, device: str) -> dict[str, float]:
        """Validation metrics on V, keyed by the names in :attr:`metrics` (and more).

        Called by the trainer in eval mode, without gradients and under its autocast
        (:func:`~scaling_core.sweep.trainer.evaluate`): a task sets none of these itself.
        """


@dataclass(frozen=True)
class FamilyPattern:
    """Family names matching ``regex`` (e.g. ``lstm<layers>``), described by ``allowed``."""

    regex: str
    allowed: str

    def __contains__(self, family: object) -> bool:
        return isinstance(family, str) and re.fullmatch(self.regex, family) is not None

    def __str__(self) -> str:
        return self.allowed


def allowed_families(task: Task) -> str:
    """The task's family names for an error message."""
    families = task.families
    return str(families) if isinstance(families, FamilyPattern) else ", ".join(repr(f) for f in families)


@dataclass(frozen=True)
class TaskSpec:
    """How to build a task in any process: ``factory`` is ``"package.module:function"``.

    ``build()`` imports the factory and calls it with ``kwargs``; results are cached
    per process so a worker loads its data once.
    """

    factory: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> Task:
        key = (self.factory, tuple(sorted((k, repr(v)) for k, v in self.kwargs.items())))
        if key not in _TASK_CACHE:
            module_name, _, attr = self.factory.partition(":")
            factory = getattr(importlib.import_module(module_name), attr)
            _TASK_CACHE[key] = factory(**dict(self.kwargs))
        return _TASK_CACHE[key]


_TASK_CACHE: dict[tuple, Task] = {}


def example_order(task: Task, seed: int) -> np.ndarray:
    """The order in which nested shards take ``task``'s training examples.

    ``task.example_order(seed)`` when the task defines it, else the permutation
    ``numpy.random.default_rng(seed).permutation(N)`` of its ``N`` examples.
    """
    custom = getattr(task, "example_order", None)
    if custom is not None:
        return np.asarray(custom(seed), dtype=np.int64)
    return np.random.default_rng(seed).permutation(len(task.example_units()))
