"""An encoder-decoder with Luong global attention, the paper's translation model.

Hestness et al. (2017) grow an attention encoder-decoder (Luong et al., 2015): a
2-layer bidirectional LSTM encoder, an LSTM decoder stack and a global attention
layer, with the embedding (input) and LSTM hidden widths tied and scaled together.
Here that one width ``d`` is the model size:

* the encoder reads ``d``-wide embeddings with ``d/2`` units per direction, so each
  source position is summarised by a ``d``-wide vector ``h_s``;
* the decoder LSTM starts from the encoder's final states and emits ``h_t``;
* the "general" score ``score(h_t, h_s) = h_t^T W_a h_s`` gives attention weights
  ``a_t = softmax_s(score)`` over the non-padded source positions, the context
  ``c_t = sum_s a_ts h_s`` and the attentional state ``h~_t = tanh(W_c [c_t; h_t])``;
* ``softmax(W_o h~_t + b_o)`` predicts the next target token.

With ``input_feed`` the previous ``h~_{t-1}`` is fed into the decoder beside the
embedding (Luong's input feeding); without it the whole target is decoded in one
LSTM call, which is much faster on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from scaling_core.models.loop_lstm import run_padded

# ----------------------------------------------------------------------------- blocks


class Encoder(nn.Module):
    """Embedding and a bidirectional LSTM; returns memory and the decoder's initial state."""

    def __init__(self, vocab_size: int, width: int, layers: int, dropout: float, pad_id: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, width, padding_idx=pad_id)
        self.drop = nn.Dropout(dropout)
        self.lstm = nn.LSTM(
            width, width // 2, num_layers=layers, bidirectional=True, batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )

    def forward(self, src: torch.Tensor, src_lens: torch.Tensor):
        x = self.drop(self.embed(src))  # (B, S, d)
        memory, (h, c) = run_padded(self.lstm, x, src_lens)  # h, c: (layers * 2, B, d/2)
        return memory, (_join_directions(h), _join_directions(c))  # (B, S, d), (layers, B, d)


def _join_directions(state: torch.Tensor) -> torch.Tensor:
    """(layers * 2, B, d/2) forward/backward states -> (layers, B, d) concatenated."""
    layers2, batch, half = state.shape
    state = state.view(layers2 // 2, 2, batch, half)
    return torch.cat([state[:, 0], state[:, 1]], dim=-1)


class LuongAttention(nn.Module):
    """Global attention with the "general" score and the attentional hidden state."""

    def __init__(self, width: int):
        super().__init__()
        self.score = nn.Linear(width, width, bias=False)  # W_a
        self.combine = nn.Linear(2 * width, width, bias=False)  # W_c

    def forward(self, query: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor):
        # query: (B, T, d) decoder states h_t; memory: (B, S, d); src_mask: (B, S) True = real token
        scores = torch.bmm(query, self.score(memory).transpose(1, 2))  # (B, T, S)
        scores = scores.masked_fill(~src_mask[:, None, :], float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, T, S), rows sum to one
        context = torch.bmm(weights, memory)  # (B, T, d)
        attentional = torch.tanh(self.combine(torch.cat([context, query], dim=-1)))  # (B, T, d)
        return attentional, weights


class Decoder(nn.Module):
    """Target embedding, an LSTM stack, Luong attention and the output projection."""

    def __init__(self, vocab_size: int, width: int, layers: int, dropout: float,
                 pad_id: int, input_feed: bool):
        super().__init__()
        self.input_feed = input_feed
        self.embed = nn.Embedding(vocab_size, width, padding_idx=pad_id)
        self.drop = nn.Dropout(dropout)
        in_width = 2 * width if input_feed else width
        self.lstm = nn.LSTM(in_width, width, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.attention = LuongAttention(width)
        self.out = nn.Linear(width, vocab_size)

    def forward(self, tgt_in, state, memory, src_mask, feed=None):
        """Decode ``tgt_in`` (B, T) from ``state``; returns logits, weights, state, last feed."""
        x = self.drop(self.embed(tgt_in))  # (B, T, d)
        if not self.input_feed:
            query, state = self.lstm(x, state)  # (B, T, d)
            attentional, weights = self.attention(query, memory, src_mask)
            return self.out(self.drop(attentional)), weights, state, None
        feed = x.new_zeros(x.shape[0], 1, x.shape[2]) if feed is None else feed  # (B, 1, d)
        steps = []
        for t in range(x.shape[1]):
            query, state = self.lstm(torch.cat([x[:, t : t + 1], feed], dim=-1), state)
            feed, weights_t = self.attention(query, memory, src_mask)  # (B, 1, d), (B, 1, S)
            steps.append((feed, weights_t))
        attentional = torch.cat([s[0] for s in steps], dim=1)  # (B, T, d)
        weights = torch.cat([s[1] for s in steps], dim=1)  # (B, T, S)
        return self.out(self.drop(attentional)), weights, state, feed


# ----------------------------------------------------------------------------- model


@dataclass
class Seq2SeqConfig:
    """Hyperparameters of :class:`Seq2Seq`; ``width`` is the one scaling knob."""

    src_vocab_size: int = 8000  # source tokens, specials included
    tgt_vocab_size: int = 8000  # target tokens, specials included
    width: int = 256  # embedding = LSTM hidden width d (even: d/2 per encoder direction)
    encoder_layers: int = 2  # bidirectional LSTM layers, as in the paper
    decoder_layers: int = 2  # decoder LSTM layers
    dropout: float = 0.2  # on embeddings, between LSTM layers and before the softmax
    input_feed: bool = False  # Luong input feeding (step-by-step decoding, slower)
    pad_id: int = 0  # padding token, shared by both vocabularies
    bos_id: int = 2  # start-of-sentence token that opens every decoder input
    eos_id: int = 3  # end-of-sentence token that closes every target

    def __post_init__(self):
        if not isinstance(self.width, int) or self.width < 2 or self.width % 2:
            raise ValueError(f"parameter 'width' got {self.width!r}; allowed: an even integer >= 2")
        for name in ("encoder_layers", "decoder_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"parameter {name!r} got {getattr(self, name)!r}; allowed: >= 1")


class Seq2Seq(nn.Module):
    """Attention encoder-decoder: ``forward(src, src_lens, tgt_in) -> logits``."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = config
        c = config
        self.encoder = Encoder(c.src_vocab_size, c.width, c.encoder_layers, c.dropout, c.pad_id)
        self.decoder = Decoder(c.tgt_vocab_size, c.width, c.decoder_layers, c.dropout,
                               c.pad_id, c.input_feed)

    def _start(self, src: torch.Tensor, src_lens: torch.Tensor):
        """Encode; returns memory (B, S, d), source mask (B, S) and the decoder's state."""
        memory, (h, c) = self.encoder(src, src_lens)
        state = _bridge(h, self.config.decoder_layers), _bridge(c, self.config.decoder_layers)
        mask = torch.arange(src.shape[1], device=src.device)[None, :] < src_lens.to(src.device)[:, None]
        return memory, mask, state

    def forward(self, src, src_lens, tgt_in, return_attention: bool = False):
        """Teacher-forced logits.

        Parameters
        ----------
        src : LongTensor (B, S)
            Source token ids, padded with ``pad_id``.
        src_lens : LongTensor (B,)
            Source lengths (at least 1).
        tgt_in : LongTensor (B, T)
            Decoder input: ``bos_id`` followed by the target tokens.
        return_attention : bool
            Also return the attention weights ``a`` (B, T, S).

        Returns
        -------
        logits : Tensor (B, T, V_tgt)
            Scores for the next target token at every position.
        """
        memory, mask, state = self._start(src, src_lens)
        logits, weights, _, _ = self.decoder(tgt_in, state, memory, mask)
        return (logits, weights) if return_attention else logits

    @torch.no_grad()
    def greedy_translate(self, src: torch.Tensor, src_lens: torch.Tensor, max_len: int = 100):
        """Greedy decoding: the arg-max token at each step, until ``eos_id`` or ``max_len``.

        Returns
        -------
        LongTensor (B, L)
            Output ids without ``bos_id``; ``pad_id`` after each sequence's ``eos_id``.
        """
        c = self.config
        memory, mask, state = self._start(src, src_lens)
        token = torch.full((src.shape[0], 1), c.bos_id, dtype=torch.long, device=src.device)
        feed, outputs = None, []
        done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits, _, state, feed = self.decoder(token, state, memory, mask, feed)
            token = logits.argmax(-1)  # (B, 1)
            outputs.append(token.masked_fill(done[:, None], c.pad_id))
            done |= token[:, 0] == c.eos_id
            if done.all():
                break
        return torch.cat(outputs, dim=1)

    def num_params(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def _bridge(state: torch.Tensor, decoder_layers: int) -> torch.Tensor:
    """Encoder final states (enc_layers, B, d) -> decoder initial states (dec_layers, B, d).

    The top encoder layers initialise the decoder layers one to one; a deeper decoder
    repeats the top encoder state.
    """
    if state.shape[0] >= decoder_layers:
        return state[-decoder_layers:].contiguous()
    extra = state[-1:].expand(decoder_layers - state.shape[0], -1, -1)
    return torch.cat([state, extra], dim=0).contiguous()


def expected_num_params(config: Seq2SeqConfig) -> int:
    r"""Closed-form parameter count of :class:`Seq2Seq`.

    With width :math:`d`, half width :math:`h = d/2`, vocabularies :math:`V_s, V_t`,
    :math:`L_e` encoder and :math:`L_d` decoder layers, and an LSTM layer of input
    :math:`n` and hidden :math:`k` holding :math:`4k(n + k) + 8k` weights (PyTorch keeps
    two bias vectors):

    .. math::

        N = (V_s + V_t) d + 2 L_e [4h(d + h) + 8h]
            + [4d(n_0 + d) + 8d] + (L_d - 1)[8d^2 + 8d]
            + 3 d^2 + (d + 1) V_t,

    where :math:`n_0 = 2d` with input feeding and :math:`d` without; :math:`3d^2` is the
    attention's :math:`W_a` and :math:`W_c`, and :math:`(d + 1) V_t` the output layer.
    """
    d, h = config.width, config.width // 2
    lstm = lambda n, k: 4 * k * (n + k) + 8 * k  # noqa: E731 (one LSTM layer)
    first_input = 2 * d if config.input_feed else d
    return (
        (config.src_vocab_size + config.tgt_vocab_size) * d
        + 2 * config.encoder_layers * lstm(d, h)
        + lstm(first_input, d) + (config.decoder_layers - 1) * lstm(d, d)
        + 3 * d * d + (d + 1) * config.tgt_vocab_size
    )
