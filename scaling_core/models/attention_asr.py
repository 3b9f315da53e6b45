"""An attention-based recognizer: pyramidal BiLSTM encoder, attention LSTM decoder.

As in Hestness et al. 2017 (after Chan et al. 2016, "Listen, Attend and Spell"):
three bidirectional LSTM encoder layers with a max-pooling step over time between
consecutive layers (two steps, 4x fewer frames), and an LSTM decoder that attends
over the encoder states to emit one character at a time, trained with
cross-entropy on the output sequence (teacher forcing). Decoding is greedy. The
model's size is scaled through ``hidden``, the width of the encoder layers (per
direction) and of the decoder.

The decoder LSTM reads the previous character; its state :math:`s_u` attends over
the encoder states for the context :math:`c_u`, and :math:`[s_u; c_u]` predicts the
next character (Luong et al. 2015's global attention). With ``input_feed`` the
previous context is also fed into the decoder LSTM, as in Listen, Attend and Spell;
that makes teacher-forced training run step by step (one small kernel sequence per
character), while without it the whole target runs through one fused LSTM call and
one batched attention: a training step 1.5 to 1.8 times faster on one CPU core at the
laptop's widths, and a few kernels instead of a few per character on a GPU.

Index 0 (the CTC blank of the shared alphabet, never a character) serves as the
end-of-sentence token; the start-of-sentence token has its own embedding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from scaling_core.models.ds2 import BiLSTMStack

END = 0
"""End-of-sentence token (shares index 0 with the CTC blank)."""
IGNORE = -100
"""Target value of padding positions (ignored by the cross-entropy)."""


class PyramidEncoder(nn.Module):
    """BiLSTM layers with max-pooling over time (factor ``pool``) between consecutive layers."""

    def __init__(self, n_features: int, hidden: int, n_layers: int, pool: int):
        super().__init__()
        sizes = [n_features] + [2 * hidden] * (n_layers - 1)
        self.layers = nn.ModuleList(BiLSTMStack(size, hidden, 1) for size in sizes)
        self.pool = pool

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for i, layer in enumerate(self.layers):
            if i > 0:  # (B, T, 2h) -> (B, ceil(T / pool), 2h)
                x = F.max_pool1d(x.transpose(1, 2), self.pool, ceil_mode=True).transpose(1, 2)
                lengths = torch.div(lengths + self.pool - 1, self.pool, rounding_mode="floor")
            x = layer(x, lengths)  # (B, T, 2h)
        return x, lengths


class Attention(nn.Module):
    r"""Scaled dot-product attention of decoder states over encoder states.

    :math:`e_{ut} = s_u^\top W_k h_t / \sqrt{d}`, :math:`\alpha_u = \mathrm{softmax}_t(e_u)`
    over the unpadded frames, context :math:`c_u = \sum_t \alpha_{ut} h_t`.
    """

    def __init__(self, query_size: int, key_size: int):
        super().__init__()
        self.key = nn.Linear(key_size, query_size, bias=False)

    def forward(self, query, keys, values, mask) -> torch.Tensor:
        # query (B, U, h), keys (B, T, h), values (B, T, 2h), mask (B, T): True on real frames
        scores = torch.bmm(query, keys.transpose(1, 2)) / math.sqrt(query.shape[-1])  # (B, U, T)
        weights = scores.masked_fill(~mask[:, None], float("-inf")).softmax(-1)  # (B, U, T)
        return torch.bmm(weights, values)  # (B, U, 2h)


@dataclass
class AttentionASRConfig:
    n_features: int = 161  # spectrogram bins (161 for 20 ms windows at 16 kHz)
    n_classes: int = 29  # end-of-sentence (index 0) + 26 letters + space + apostrophe
    hidden: int = 256  # encoder width per direction and decoder width: the scaling knob
    n_encoder_layers: int = 3  # BiLSTM encoder layers (3 in the paper)
    pool: int = 2  # max-pooling factor over time between encoder layers
    embedding: int = 64  # character embedding size of the decoder input
    max_output_length: int = 200  # cap on greedy decoding steps
    input_feed: bool = False  # feed the previous context into the decoder (step-by-step training, slower)


class AttentionASR(nn.Module):
    """Encoder, then a decoder LSTM fed the previous character (and, with ``input_feed``, context)."""

    def __init__(self, config: AttentionASRConfig):
        super().__init__()
        self.config = config
        h = config.hidden
        self.encoder = PyramidEncoder(config.n_features, h, config.n_encoder_layers, config.pool)
        self.embed = nn.Embedding(config.n_classes + 1, config.embedding)  # + start token
        decoder_inputs = config.embedding + (2 * h if config.input_feed else 0)
        self.decoder = nn.LSTM(decoder_inputs, h, batch_first=True)
        self.attention = Attention(h, 2 * h)
        self.head = nn.Linear(h + 2 * h, config.n_classes)

    @property
    def start_token(self) -> int:
        return self.config.n_classes

    def encode(self, features, lengths):
        """Encoder states ``(B, T/4, 2h)``, their attention keys ``(B, T/4, h)`` and mask."""
        states, lengths = self.encoder(features, lengths)
        mask = torch.arange(states.shape[1], device=states.device)[None] < lengths[:, None].to(states.device)
        return states, self.attention.key(states), mask

    def step(self, tokens, carry, memory):
        """Decode ``tokens`` ``(B, U)``: logits ``(B, U, classes)`` and the new carry ``((h, c), context)``.

        Without input feeding all ``U`` positions run in one LSTM call and one attention;
        with it, one position at a time.
        """
        states, keys, mask = memory
        state, context = carry  # (1, B, h) pair, (B, 1, 2h)
        inputs = self.embed(tokens)  # (B, U, e)
        if not self.config.input_feed:
            queries, state = self.decoder(inputs, state)  # (B, U, h)
            contexts = self.attention(queries, keys, states, mask)  # (B, U, 2h)
            return self.head(torch.cat([queries, contexts], -1)), (state, contexts[:, -1:])
        outputs = []
        for u in range(inputs.shape[1]):
            query, state = self.decoder(torch.cat([inputs[:, u : u + 1], context], -1), state)  # (B, 1, h)
            context = self.attention(query, keys, states, mask)  # (B, 1, 2h)
            outputs.append(torch.cat([query, context], -1))
        return self.head(torch.cat(outputs, 1)), (state, context)

    def initial_carry(self, batch: int, device) -> tuple:
        """Zero decoder state and zero context."""
        h = self.config.hidden
        zeros = torch.zeros(1, batch, h, device=device)
        return (zeros, zeros), torch.zeros(batch, 1, 2 * h, device=device)

    def forward(self, features, lengths, targets, target_lengths) -> torch.Tensor:
        """Teacher-forced logits ``(B, U + 1, classes)`` for targets followed by END."""
        memory = self.encode(features, lengths)
        batch = features.shape[0]
        inputs = torch.cat([torch.full((batch, 1), self.start_token, device=targets.device),
                            targets], 1)  # (B, U + 1)
        logits, _ = self.step(inputs, self.initial_carry(batch, features.device), memory)
        return logits  # (B, U + 1, classes)

    def loss(self, features, lengths, targets, target_lengths) -> torch.Tensor:
        """Mean cross-entropy per output token (characters and the final END)."""
        logits = self(features, lengths, targets, target_lengths)
        outputs = output_targets(targets, target_lengths)  # (B, U + 1)
        return F.cross_entropy(logits.flatten(0, 1), outputs.flatten(), ignore_index=IGNORE)

    @torch.no_grad()
    def decode(self, features: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """Greedy transcripts: feed back the most likely character until END.

        An utterance also stops after as many characters as it has encoder frames (40 ms
        each, faster than any speaking rate) or ``max_output_length``.
        """
        memory = self.encode(features, lengths)
        batch, device = features.shape[0], features.device
        token = torch.full((batch,), self.start_token, device=device)
        carry, outputs = self.initial_carry(batch, device), []
        frames = memory[2].sum(1)  # (B,) encoder frames per utterance
        finished = torch.zeros(batch, dtype=torch.bool, device=device)
        for position in range(self.config.max_output_length):
            logits, carry = self.step(token[:, None], carry, memory)
            token = logits[:, -1].argmax(-1)  # (B,)
            finished |= frames <= position
            outputs.append(token.masked_fill(finished, END))
            finished |= token == END
            if finished.all():
                break
        return [_until_end(row) for row in torch.stack(outputs, 1).cpu().tolist()]

    def num_params(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def output_targets(targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
    """Targets shifted into the output frame: characters, then END, then IGNORE padding."""
    batch, width = targets.shape
    positions = torch.arange(width + 1, device=targets.device)[None]  # (1, U + 1)
    lengths = target_lengths.to(targets.device)[:, None]
    padded = torch.cat([targets, torch.zeros(batch, 1, dtype=targets.dtype, device=targets.device)], 1)
    padded = padded.masked_fill(positions == lengths, END)
    return padded.masked_fill(positions > lengths, IGNORE)  # (B, U + 1)


def _until_end(tokens: list[int]) -> list[int]:
    return tokens[: tokens.index(END)] if END in tokens else tokens
