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

from scaling_core.data.mnist1d import NUM_CLASSES, SIGNAL_LENGTH, mnist1d_pool
from scaling_core.profiles import check_choice

# ----------------------------------------------------------------------------- models


class MLP(nn.Module):
    """Two hidden ReLU layers of ``width`` units."""

    def __init__(self, width: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(SIGNAL_LENGTH, width), nn.ReLU(),  # (B, 40) -> (B, W)
            nn.Linear(width, width), nn.ReLU(),  # (B, W) -> (B, W)
            nn.Linear(width, NUM_CLASSES),  # (B, W) -> (B, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, 40) -> (B, 10) logits


class ConvNet(nn.Module):
    """Three 1-D convolutions of ``channels`` channels, then a linear read-out."""

    def __init__(self, channels: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, 5, padding=2), nn.ReLU(),  # (B, 1, 40) -> (B, C, 40)
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),  # -> (B, C, 20)
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),  # -> (B, C, 10)
        )
        self.head = nn.Linear(channels * SIGNAL_LENGTH // 4, NUM_CLASSES)  # (B, 10C) -> (B, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x.unsqueeze(1))  # (B, 40) -> (B, C, 10)
        return self.head(h.flatten(1))  # (B, 10) logits


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

    def __init__(self, n_train: int = 4000, n_val: int = 1000, seed: int = 0,
                 search_metric: str = "val_error"):
        check_choice("search_metric", search_metric, METRICS)
        x, y, x_val, y_val = mnist1d_pool(n_train, n_val, seed)
        self.name = "mnist1d"
        self.metrics = (search_metric, *(m for m in METRICS if m != search_metric))
        self.families = {"mlp": [8, 16, 32, 64, 128, 256], "cnn": [4, 8, 16, 32, 64]}
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.x_val, self.y_val = torch.from_numpy(x_val), torch.from_numpy(y_val)
        digest = hashlib.sha256()
        for array in (x, y, x_val, y_val):
            digest.update(np.ascontiguousarray(array).tobytes())
        self.fingerprint = digest.hexdigest()[:16]

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
        indices = torch.as_tensor(indices)
        shuffled = indices[torch.randperm(len(indices), generator=generator)]
        for start in range(0, len(shuffled), batch_size):
            batch = shuffled[start : start + batch_size]
            yield self.x[batch].to(device), self.y[batch].to(device)

    def train_loss(self, model: nn.Module, batch) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x), y)

    def evaluate(self, model: nn.Module, device: str) -> dict[str, float]:
        errors, loss = 0, 0.0
        for start in range(0, len(self.y_val), 4096):
            x = self.x_val[start : start + 4096].to(device)
            y = self.y_val[start : start + 4096].to(device)
            logits = model(x).float()
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            errors += int((logits.argmax(1) != y).sum())
        n = len(self.y_val)
        return {"val_error": errors / n, "val_loss": loss / n}


def mnist1d_task(n_train: int = 4000, n_val: int = 1000, seed: int = 0,
                 search_metric: str = "val_error") -> MNIST1DTask:
    """Factory for :class:`~scaling_core.sweep.task.TaskSpec`: ``"scaling_core.tasks.mnist1d:mnist1d_task"``."""
    return MNIST1DTask(n_train, n_val, seed, search_metric)
