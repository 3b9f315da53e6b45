"""Residual networks for small images, scaled in depth and in width.

The family follows the CIFAR-style ResNet (He et al. 2016): a 3x3 stem, three
stages of basic blocks whose widths are ``base_width * (1, 2, 4)``, global average
pooling and a linear classifier. As in Hestness et al. (2017), model size is
scaled two ways: the number of blocks per stage (depth) and a width factor that
multiplies every convolution's channel count. With ``dim=1`` the same network is
built from 1-D convolutions for sequences such as MNIST-1D.

Shapes below use ``B`` (batch), ``C`` (channels) and ``*S`` (one or two spatial
axes: ``L`` for ``dim=1``, ``H, W`` for ``dim=2``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from scaling_core.validation import ParameterError, check_choice

WIDTH_FACTOR_RANGE = (0.0625, 4.0)
"""Allowed width factors (inclusive)."""
PAPER_MAX_WIDTH = 1.5
"""The widest factor of the paper's ImageNet width sweep (searches stop there unless told otherwise)."""

STAGE_MULTIPLIERS = (1, 2, 4)
"""Channel multiplier of each stage relative to ``base_width``."""

KERNEL_SIZE = 3
GROUPS_MAX = 8
"""GroupNorm uses ``gcd(channels, 8)`` groups, so any channel count is allowed."""


# ----------------------------------------------------------------------------- building blocks


def conv(dim: int, c_in: int, c_out: int, kernel_size: int, stride: int = 1) -> nn.Module:
    """A bias-free 1-D or 2-D convolution with 'same' padding (a norm layer follows)."""
    layer = nn.Conv1d if dim == 1 else nn.Conv2d
    return layer(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)


def norm_layer(dim: int, norm: str, channels: int) -> nn.Module:
    """BatchNorm (``"batch"``) or GroupNorm (``"group"``) over ``channels``."""
    if norm == "group":
        return nn.GroupNorm(math.gcd(channels, GROUPS_MAX), channels)
    return nn.BatchNorm1d(channels) if dim == 1 else nn.BatchNorm2d(channels)


class BasicBlock(nn.Module):
    """Two 3x3 conv-norm layers with an identity (or 1x1 projection) shortcut."""

    def __init__(self, dim: int, norm: str, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = conv(dim, c_in, c_out, KERNEL_SIZE, stride)
        self.norm1 = norm_layer(dim, norm, c_out)
        self.conv2 = conv(dim, c_out, c_out, KERNEL_SIZE)
        self.norm2 = norm_layer(dim, norm, c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(conv(dim, c_in, c_out, 1, stride), norm_layer(dim, norm, c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C_in, *S)
        h = torch.relu(self.norm1(self.conv1(x)))  # (B, C_out, *S / stride)
        h = self.norm2(self.conv2(h))  # (B, C_out, *S / stride)
        return torch.relu(h + self.shortcut(x))  # (B, C_out, *S / stride)


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ResNetConfig:
    """Hyperparameters of one ResNet; ``blocks_per_stage`` and ``width_factor`` scale it."""

    dim: int = 2  # 2 for images (B, C, H, W); 1 for sequences (B, C, L)
    in_channels: int = 3  # 3 for RGB images, 1 for MNIST-1D
    num_classes: int = 10  # CIFAR-10 and MNIST-1D both have 10
    blocks_per_stage: int = 1  # depth: 6 * blocks_per_stage + 2 weight layers
    base_width: int = 16  # channels of the first stage at width factor 1 (CIFAR ResNets)
    width_factor: float = 1.0  # multiplies every convolution's width, in WIDTH_FACTOR_RANGE
    norm: str = "batch"  # "batch" (BatchNorm) or "group" (GroupNorm, batch-size independent)

    def __post_init__(self):
        check_choice("dim", self.dim, (1, 2))
        check_choice("norm", self.norm, ("batch", "group"))
        low, high = WIDTH_FACTOR_RANGE
        if not low <= self.width_factor <= high:
            raise ParameterError("width_factor", self.width_factor, f"a number in [{low}, {high}]")
        if isinstance(self.blocks_per_stage, bool) or int(self.blocks_per_stage) != self.blocks_per_stage \
                or self.blocks_per_stage < 1:
            raise ParameterError("blocks_per_stage", self.blocks_per_stage, "an integer >= 1")

    @property
    def stage_widths(self) -> tuple[int, ...]:
        """Channels of each stage: ``max(1, round(base_width * multiplier * width_factor))``."""
        return tuple(max(1, round(self.base_width * m * self.width_factor)) for m in STAGE_MULTIPLIERS)


# ----------------------------------------------------------------------------- model


class ResNet(nn.Module):
    """A CIFAR-style ResNet: stem, three stages of :class:`BasicBlock`, pooled linear head."""

    def __init__(self, config: ResNetConfig):
        super().__init__()
        self.config = config
        dim, norm, widths = config.dim, config.norm, config.stage_widths
        self.stem = nn.Sequential(
            conv(dim, config.in_channels, widths[0], KERNEL_SIZE), norm_layer(dim, norm, widths[0]), nn.ReLU()
        )
        blocks, c_in = [], widths[0]
        for stage, c_out in enumerate(widths):
            for block in range(config.blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                blocks.append(BasicBlock(dim, norm, c_in, c_out, stride))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(widths[-1], config.num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d)):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C_in, *S)
        h = self.stem(x)  # (B, w0, *S)
        h = self.blocks(h)  # (B, w2, *S / 4)
        h = h.flatten(2).mean(dim=2)  # (B, w2): global average pooling
        return self.head(h)  # (B, num_classes) logits

    def num_params(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def expected_num_params(config: ResNetConfig) -> int:
    r"""Closed-form parameter count of :class:`ResNet` for ``config``.

    With kernel volume :math:`k = 3^{d}`, stage widths :math:`w_0, w_1, w_2`, input
    channels :math:`c` and :math:`n` blocks per stage (every norm has 2 parameters
    per channel, convolutions have no bias):

    .. math::

        P = (k c + 2) w_0
            + \sum_{s} \big[ (k w_{s-1} + k w_s + 4) w_s
                        + [s > 0] (w_{s-1} + 2) w_s
                        + (n - 1)(2 k w_s + 4) w_s \big]
            + (w_2 + 1) K

    with :math:`w_{-1} = w_0` and :math:`K` classes; the :math:`[s > 0]` term is the
    1x1 projection shortcut of each downsampling block.
    """
    k = KERNEL_SIZE**config.dim
    widths, n = config.stage_widths, config.blocks_per_stage
    total = (k * config.in_channels + 2) * widths[0]
    for s, w in enumerate(widths):
        w_prev = widths[max(s - 1, 0)]
        total += (k * w_prev + k * w + 4) * w
        total += (w_prev + 2) * w if s > 0 else 0
        total += (n - 1) * (2 * k * w + 4) * w
    return total + (widths[-1] + 1) * config.num_classes
