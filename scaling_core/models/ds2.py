"""A Deep Speech 2 style recognizer: 2-D convolutions, bidirectional LSTMs, CTC.

Amodei et al. 2016 (as used by Hestness et al. 2017): two 2-D convolutions over the
log-spectrogram (frequency x time), then a stack of bidirectional recurrent layers
of equal width, then a per-frame softmax over the characters and the CTC blank,
trained with connectionist temporal classification. Decoding here is greedy (best
class per frame, repeats merged, blanks dropped), with no language model. The
model's size is scaled through the LSTM width ``hidden``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def conv_output_length(length: torch.Tensor | int, kernel: int, stride: int) -> torch.Tensor | int:
    """Output length of a convolution padded by ``kernel // 2`` on both sides."""
    return (length + 2 * (kernel // 2) - kernel) // stride + 1


class ConvBlock(nn.Module):
    """Conv2d over (frequency, time), batch norm, clipped ReLU min(max(x, 0), 20) as in DS2."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int],
                 stride: tuple[int, int]):
        super().__init__()
        padding = (kernel[0] // 2, kernel[1] // 2)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, padding, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hardtanh(self.norm(self.conv(x)), 0.0, 20.0)  # (B, C, F', T')


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``x`` (B, T, F) with each sequence's first ``lengths[b]`` steps in reverse order, padding in place.

    Applied twice it gives ``x`` back: it maps step :math:`t < L_b` to :math:`L_b - 1 - t`.
    """
    steps = torch.arange(x.shape[1], device=x.device)[None]  # (1, T)
    ends = lengths.to(x.device)[:, None]  # (B, 1)
    index = torch.where(steps < ends, ends - 1 - steps, steps)  # (B, T)
    return x.gather(1, index[..., None].expand_as(x))


class BiLSTMStack(nn.Module):
    r"""Bidirectional LSTM layers of equal width over padded sequences (padding ignored).

    Each layer runs two one-directional ``nn.LSTM`` s on the dense padded batch: the
    forward one reads each sequence and then its padding, the backward one reads each
    sequence reversed within its own length (:func:`reverse_within_lengths`), so it
    starts at the sequence's last real frame. Their outputs, the backward one turned
    back, are concatenated to :math:`(B, T, 2h)` and zeroed past each sequence's end.
    This is ``nn.LSTM(bidirectional=True)`` on packed sequences (same parameters per
    direction, same outputs up to rounding) without packing: on a CPU a packed LSTM
    leaves the fused oneDNN kernel and runs step by step, about ten times slower
    (``benchmarks/speech_costs.py``).
    """

    def __init__(self, input_size: int, hidden: int, n_layers: int):
        super().__init__()
        sizes = [input_size] + [2 * hidden] * (n_layers - 1)
        self.forward_lstms = nn.ModuleList(nn.LSTM(size, hidden, batch_first=True) for size in sizes)
        self.backward_lstms = nn.ModuleList(nn.LSTM(size, hidden, batch_first=True) for size in sizes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        valid = (torch.arange(x.shape[1], device=x.device)[None] < lengths.to(x.device)[:, None])[..., None]
        for ahead, behind in zip(self.forward_lstms, self.backward_lstms):
            forward_out, _ = ahead(x)  # (B, T, h); wrong only past each end, zeroed below
            backward_out, _ = behind(reverse_within_lengths(x, lengths))
            x = torch.cat([forward_out, reverse_within_lengths(backward_out, lengths)], -1) * valid
        return x  # (B, T, 2 * hidden)


def greedy_ctc_decode(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best path decoding: argmax per frame, merge repeats, drop blanks.

    ``log_probs`` has shape ``(B, T, classes)``; returns one label list per utterance.
    """
    best = log_probs.argmax(-1).cpu()  # (B, T)
    decoded = []
    for path, length in zip(best, lengths.cpu()):
        path = torch.unique_consecutive(path[: int(length)])
        decoded.append([int(c) for c in path if c != blank])
    return decoded


@dataclass
class DS2Config:
    n_features: int = 161  # spectrogram bins (161 for 20 ms windows at 16 kHz)
    n_classes: int = 29  # CTC blank + 26 letters + space + apostrophe
    conv_channels: int = 32  # channels of both convolutions (DS2: 32)
    conv_kernels: tuple[tuple[int, int], ...] = ((41, 11), (21, 11))  # (freq, time), as DS2
    conv_strides: tuple[tuple[int, int], ...] = ((2, 2), (2, 1))  # time downsampled 2x overall
    hidden: int = 256  # LSTM width per direction: the scaling knob
    n_layers: int = 4  # bidirectional LSTM layers (4 in the paper)


class DS2(nn.Module):
    """Convolutions, then a bidirectional LSTM stack, then per-frame character logits."""

    def __init__(self, config: DS2Config):
        super().__init__()
        self.config = config
        channels = (1,) + (config.conv_channels,) * len(config.conv_kernels)
        self.convs = nn.ModuleList(
            ConvBlock(c_in, c_out, k, s)
            for c_in, c_out, k, s in zip(channels[:-1], channels[1:], config.conv_kernels,
                                         config.conv_strides)
        )
        freq = config.n_features
        for kernel, stride in zip(config.conv_kernels, config.conv_strides):
            freq = conv_output_length(freq, kernel[0], stride[0])
        self.rnn = BiLSTMStack(config.conv_channels * freq, config.hidden, config.n_layers)
        self.head = nn.Linear(2 * config.hidden, config.n_classes)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame log-probabilities ``(B, T', classes)`` and their lengths ``(B,)``."""
        x = features.transpose(1, 2).unsqueeze(1)  # (B, 1, F, T)
        for conv, (kernel, stride) in zip(self.convs, zip(self.config.conv_kernels,
                                                          self.config.conv_strides)):
            x = conv(x)  # (B, C, F', T')
            lengths = conv_output_length(lengths, kernel[1], stride[1])
            valid = torch.arange(x.shape[-1], device=x.device) < lengths.to(x.device)[:, None]
            x = x * valid[:, None, None, :]  # zero frames past each utterance's end
        x = x.flatten(1, 2).transpose(1, 2)  # (B, T', C * F')
        x = self.rnn(x, lengths)  # (B, T', 2 * hidden)
        return self.head(x).float().log_softmax(-1), lengths  # (B, T', classes)

    def loss(self, features, lengths, targets, target_lengths) -> torch.Tensor:
        """CTC loss (per-target-character, averaged over the batch), blank index 0."""
        log_probs, out_lengths = self(features, lengths)
        return F.ctc_loss(log_probs.transpose(0, 1), targets, out_lengths, target_lengths,
                          blank=0, reduction="mean", zero_infinity=True)

    @torch.no_grad()
    def decode(self, features: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """Greedy CTC transcripts (label lists) of a padded batch."""
        log_probs, out_lengths = self(features, lengths)
        return greedy_ctc_decode(log_probs, out_lengths)

    def num_params(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
