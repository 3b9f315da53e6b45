"""Recurrent Highway Network language model (Zilly et al. 2017).

One recurrent layer whose transition between time steps is a stack of ``depth``
highway micro-layers with a coupled carry gate (:math:`c = 1 - t`). With state
:math:`s^{(0)}_t = s^{(D)}_{t-1}` and input :math:`x_t` entering only the first
micro-layer:

.. math::

    h^{(l)} = \\tanh(W_H x_t [l{=}1] + R_{H,l}\\, s^{(l-1)} + b_{H,l}), \\quad
    \\tau^{(l)} = \\sigma(W_T x_t [l{=}1] + R_{T,l}\\, s^{(l-1)} + b_{T,l}),

.. math::

    s^{(l)} = h^{(l)} \\odot \\tau^{(l)} + s^{(l-1)} \\odot (1 - \\tau^{(l)}), \\qquad l = 1 \\dots D.

The output at step :math:`t` is :math:`s^{(D)}_t`, projected to the vocabulary.
The paper uses depth 5 for word models and 10 for character models; ``width``
(the state size) is the scaling knob.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


def expected_num_params(vocab: int, width: int, depth: int, tie_weights: bool = False) -> int:
    """Closed-form parameter count of :class:`RHNLanguageModel`.

    .. math::

        N = \\underbrace{V H}_{\\text{embedding}}
          + \\underbrace{2H^2}_{W_H, W_T}
          + \\underbrace{D\\,(2H^2 + 2H)}_{R_{H,l}, R_{T,l}, b_{H,l}, b_{T,l}}
          + \\underbrace{V H [\\text{untied}] + V}_{\\text{softmax layer}}

    for vocabulary :math:`V`, width :math:`H` and recurrence depth :math:`D`.
    """
    embedding = vocab * width
    highway = 2 * width * width + depth * (2 * width * width + 2 * width)
    softmax = (0 if tie_weights else vocab * width) + vocab
    return embedding + highway + softmax


class RHNCell(nn.Module):
    """The highway transition: ``depth`` micro-layers per time step, input at the first."""

    def __init__(self, width: int, depth: int, transform_bias: float):
        super().__init__()
        self.width, self.depth = width, depth
        bound = 1.0 / math.sqrt(width)
        self.input_weight = nn.Parameter(torch.empty(width, 2 * width).uniform_(-bound, bound))  # [W_H | W_T]
        self.recurrent_weight = nn.Parameter(torch.empty(depth, width, 2 * width).uniform_(-bound, bound))
        bias = torch.zeros(depth, 2 * width)
        bias[:, width:] = transform_bias  # negative: start by carrying the state through
        self.bias = nn.Parameter(bias)

    def forward(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the sequence ``x`` (B, T, H) from ``state`` (B, H); return outputs (B, T, H) and the last state."""
        driven = x @ self.input_weight  # (B, T, 2H), the input's share of layer 1, for all steps at once
        outputs = []
        for t in range(x.shape[1]):
            for layer in range(self.depth):
                pre = torch.addmm(self.bias[layer], state, self.recurrent_weight[layer])  # (B, 2H)
                if layer == 0:
                    pre = pre + driven[:, t]
                candidate, transform = pre.chunk(2, dim=-1)  # 2 x (B, H)
                gate = torch.sigmoid(transform)
                state = state + gate * (torch.tanh(candidate) - state)  # h*t + s*(1-t)
            outputs.append(state)
        return torch.stack(outputs, dim=1), state


@dataclass(frozen=True)
class RHNConfig:
    vocab_size: int  # number of token ids (output classes too)
    width: int = 64  # state size = embedding size: the scaling knob
    depth: int = 5  # highway micro-layers per time step (paper: 5 for words, 10 for characters)
    transform_bias: float = -2.0  # initial transform-gate bias; negative favours carrying (Zilly et al.)
    dropout: float = 0.0  # on embeddings and before the softmax; off: hyperparameter-reduced search
    tie_weights: bool = False  # share the embedding and softmax matrices


class RHNLanguageModel(nn.Module):
    """Embedding, one RHN layer of recurrence depth ``depth``, and a linear softmax layer."""

    def __init__(self, config: RHNConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.width)
        self.cell = RHNCell(config.width, config.depth, config.transform_bias)
        self.dropout = nn.Dropout(config.dropout)
        self.decoder = nn.Linear(config.width, config.vocab_size)
        if config.tie_weights:
            self.decoder.weight = self.embedding.weight

    def forward(self, tokens: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Next-token logits for ``tokens`` (B, T); ``state`` (B, H) carries over from the previous chunk."""
        x = self.dropout(self.embedding(tokens))  # (B, T, H)
        if state is None:
            state = x.new_zeros(tokens.shape[0], self.config.width)  # (B, H)
        y, state = self.cell(x, state)  # (B, T, H), (B, H)
        logits = self.decoder(self.dropout(y))  # (B, T, V)
        return logits, state

    def num_params(self) -> int:
        """Number of distinct trainable parameters (a tied matrix counts once)."""
        return sum(p.numel() for p in self.parameters())
