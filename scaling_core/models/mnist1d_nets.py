"""The two MNIST-1D model families of the methodology chapter, each scaled by one knob.

``MLP(width)``: two hidden ReLU layers of ``width`` units. ``ConvNet(channels)``: three
1-D convolutions of ``channels`` channels (the last two halve the length), then a linear
read-out. Both map a batch of 40-sample signals ``(B, 40)`` to ten logits ``(B, 10)``.
"""

from __future__ import annotations

import torch
from torch import nn

from scaling_core.data.mnist1d import NUM_CLASSES, SIGNAL_LENGTH


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
