"""MNIST-1D classification as a sweep task: the methodology chapter's fast problem.

Each example is one 40-sample signal, so data size counts examples (unit
``"samples"``). Two model families scale by one knob each: ``mlp`` (two hidden
layers of ``size`` units) and ``cnn`` (three 1-D convolutions of ``size``
channels). Validation metrics: classification error and cross-entropy on V.
"""

from __future__ import annotations

import hashlib
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scaling_core.baselines import class_prior_metrics
from scaling_core.data.mnist1d import NUM_CLASSES, mnist1d_pool
from scaling_core.models.mnist1d_nets import MLP, ConvNet
from scaling_core.validation import check_choice

FAMILIES = {"mlp": MLP, "cnn": ConvNet}
"""Model family name -> constructor taking the family's size."""

METRICS = ("val_error", "val_loss")
"""Validation metrics: classification error and cross-entropy (nats) on V."""

# ----------------------------------------------------------------------------- task


class MNIST1DTask:
    """MNIST-1D with ``n_train`` training and ``n_val`` validation signals.

    Parameters
    ----------
    n_train, n_val : int
        Sizes of the training set T and of the validation set V.
    seed : int
        Seed of the data generator.
    search_metric : {"val_error", "val_loss"}
        ``metrics[0]``: what early stopping and the model search minimise.
    """

    unit = "samples"
    stackable = True  # batches are equal-shape (x, y) tensors: trials of one size can train stacked
    graph_safe = True  # the step reads nothing back to the host

    def __init__(self, n_train: int = 4000, n_val: int = 1000, seed: int = 0,
                 search_metric: str = "val_error"):
        check_choice("search_metric", search_metric, METRICS)
        x, y, x_val, y_val = mnist1d_pool(n_train, n_val, seed)
        self.name = "mnist1d"
        self.metrics = (search_metric, *(m for m in METRICS if m != search_metric))
        self.families = ("mlp", "cnn")
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.x_val, self.y_val = torch.from_numpy(x_val), torch.from_numpy(y_val)
        digest = hashlib.sha256()
        for array in (x, y, x_val, y_val):
            digest.update(np.ascontiguousarray(array).tobytes())
        self.fingerprint = digest.hexdigest()[:16]
        self._on_device: dict[str, tuple[torch.Tensor, ...]] = {}

    def _on(self, device: str) -> tuple[torch.Tensor, ...]:
        """Training and validation tensors held on ``device`` (moved once)."""
        if device not in self._on_device:
            self._on_device[device] = tuple(t.to(device) for t in (self.x, self.y, self.x_val, self.y_val))
        return self._on_device[device]

    def example_units(self) -> np.ndarray:
        return np.ones(len(self.y))

    def example_order(self, seed: int) -> np.ndarray:
        """A class-balanced order: a seeded permutation re-sorted so classes take turns.

        Every prefix then holds each digit about equally often, which keeps the
        smallest shards from missing a class by chance.
        """
        permutation = np.random.default_rng(seed).permutation(len(self.y))
        labels = self.y.numpy()[permutation]
        rank_in_class = np.zeros(len(labels), dtype=np.int64)
        for label in range(NUM_CLASSES):
            members = labels == label
            rank_in_class[members] = np.arange(members.sum())
        return permutation[np.lexsort((labels, rank_in_class))]

    def build_model(self, family: str, size: float) -> nn.Module:
        if family not in FAMILIES:
            raise ValueError(f"parameter 'family' got {family!r}; allowed: {', '.join(FAMILIES)}")
        return FAMILIES[family](int(size))

    def train_batches(
        self, indices: np.ndarray, batch_size: int, generator: torch.Generator, device: str
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        x, y, _, _ = self._on(device)
        indices = torch.as_tensor(indices)
        shuffled = indices[torch.randperm(len(indices), generator=generator)].to(device)
        for start in range(0, len(shuffled), batch_size):
            batch = shuffled[start : start + batch_size]  # gathered on the device
            yield x[batch], y[batch]

    def train_loss(self, model: nn.Module, batch) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x), y)

    def evaluate(self, model: nn.Module, device: str) -> dict[str, float]:
        _, _, x_val, y_val = self._on(device)
        errors, loss = 0, 0.0
        for start in range(0, len(y_val), 4096):
            x, y = x_val[start : start + 4096], y_val[start : start + 4096]
            logits = model(x).float()
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            errors += int((logits.argmax(1) != y).sum())
        n = len(y_val)
        return {"val_error": errors / n, "val_loss": loss / n}

    def baselines(self, indices: np.ndarray) -> dict[str, dict[str, float]]:
        """The shard's ``"class prior"`` scored on V (:func:`~scaling_core.baselines.class_prior_metrics`)."""
        prior = class_prior_metrics(self.y.numpy()[np.asarray(indices)], self.y_val.numpy(), NUM_CLASSES)
        return {"class prior": {"val_error": prior["top1_error"], "val_loss": prior["cross_entropy"]}}


def mnist1d_task(n_train: int = 4000, n_val: int = 1000, seed: int = 0,
                 search_metric: str = "val_error") -> MNIST1DTask:
    """Factory for :class:`~scaling_core.sweep.task.TaskSpec`: ``"scaling_core.tasks.mnist1d:mnist1d_task"``."""
    return MNIST1DTask(n_train, n_val, seed, search_metric)
