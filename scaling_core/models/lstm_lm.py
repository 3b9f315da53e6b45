"""LSTM language model (the paper's word-LM family: 2 or 4 layers of one width).

Tokens are embedded at the layer width, run through ``num_layers`` stacked LSTM
layers of that width, and projected back to the vocabulary:

.. math::

    x_t = E[w_t], \\quad h^{(l)}_t = \\mathrm{LSTM}_l(h^{(l-1)}_t, h^{(l)}_{t-1}),
    \\quad p(w_{t+1} \\mid w_{\\le t}) = \\mathrm{softmax}(W h^{(L)}_t + b).

The model's one scaling knob is ``width`` (hidden units per layer).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

LSTMState = tuple[torch.Tensor, torch.Tensor]


def expected_num_params(vocab: int, width: int, layers: int, tie_weights: bool = False) -> int:
    """Closed-form parameter count of :class:`LSTMLanguageModel`.

    .. math::

        N = \\underbrace{V H}_{\\text{embedding}}
          + \\underbrace{L\\,(8H^2 + 8H)}_{\\text{LSTM: 4 gates} \\times (W_{ih}, W_{hh}, b_{ih}, b_{hh})}
          + \\underbrace{V H [\\text{untied}] + V}_{\\text{softmax layer}}

    for vocabulary :math:`V`, width :math:`H` and :math:`L` layers.
    """
    embedding = vocab * width
    recurrent = layers * (8 * width * width + 8 * width)
    softmax = (0 if tie_weights else vocab * width) + vocab
    return embedding + recurrent + softmax


@dataclass(frozen=True)
class LSTMConfig:
    vocab_size: int  # number of token ids (output classes too)
    width: int = 64  # hidden units per layer = embedding size: the scaling knob
    num_layers: int = 2  # stacked LSTM layers (the paper: 2 or 4)
    dropout: float = 0.0  # on embeddings, between layers and before the softmax; off: hyperparameter-reduced search
    tie_weights: bool = False  # share the embedding and softmax matrices (Press & Wolf 2017)


class LSTMLanguageModel(nn.Module):
    """Embedding, stacked ``nn.LSTM`` and a linear softmax layer."""

    def __init__(self, config: LSTMConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.width)
        self.lstm = nn.LSTM(
            config.width,
            config.width,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.decoder = nn.Linear(config.width, config.vocab_size)
        if config.tie_weights:
            self.decoder.weight = self.embedding.weight

    def forward(self, tokens: torch.Tensor, state: LSTMState | None = None) -> tuple[torch.Tensor, LSTMState]:
        """Next-token logits for ``tokens`` (B, T); ``state`` carries over from the previous chunk."""
        x = self.dropout(self.embedding(tokens))  # (B, T, H)
        y, state = self.lstm(x, state)  # (B, T, H); state: 2 x (L, B, H)
        logits = self.decoder(self.dropout(y))  # (B, T, V)
        return logits, state

    def num_params(self) -> int:
        """Number of distinct trainable parameters (a tied matrix counts once)."""
        return sum(p.numel() for p in self.parameters())
