r"""An LSTM written as a loop of matrix products, a drop-in for ``nn.LSTM`` that stacks.

``nn.LSTM`` runs one fused cuDNN (or MKL) kernel per layer, which ``torch.func.vmap``
cannot batch over stacked weights. :class:`LoopLSTM` holds exactly ``nn.LSTM``'s
parameters (same names, shapes and gate order ``i, f, g, o``) and computes, per
layer, direction and time step :math:`t`,

.. math::

    (i, f, g, o) = W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}, \qquad
    c_t = \sigma(f) \odot c_{t-1} + \sigma(i) \odot \tanh(g), \qquad
    h_t = \sigma(o) \odot \tanh(c_t),

the input products of all steps in one matrix product before the loop. Under ``vmap``
each product becomes one batched matrix product over the stacked members.

Padded batches take ``lengths`` instead of packed sequences: a step past a sequence's
end leaves its state unchanged and outputs zeros, so the final states and outputs
equal those of ``nn.LSTM`` on the packed sequence (the backward direction starts at
each sequence's own last step).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class LoopLSTM(nn.Module):
    """``nn.LSTM(input_size, hidden_size, num_layers, batch_first=True, bidirectional=...)`` as a loop.

    ``forward(x, state=None, lengths=None)`` takes ``x`` of shape ``(B, T, input_size)`` and
    returns ``(out, (h_n, c_n))`` like ``nn.LSTM``: ``out`` is ``(B, T, D * hidden_size)``,
    ``h_n`` and ``c_n`` are ``(num_layers * D, B, hidden_size)`` with ``D`` directions.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional = bidirectional
        directions = 2 if bidirectional else 1
        bound = hidden_size ** -0.5
        for layer in range(num_layers):
            width = input_size if layer == 0 else directions * hidden_size
            for suffix in self._suffixes(layer):
                for name, shape in (("weight_ih", (4 * hidden_size, width)), ("weight_hh", (4 * hidden_size, hidden_size)),
                                    ("bias_ih", (4 * hidden_size,)), ("bias_hh", (4 * hidden_size,))):
                    self.register_parameter(name + suffix, nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if self.bidirectional else [])

    def forward(self, x: torch.Tensor, state=None, lengths: torch.Tensor | None = None):
        batch, steps = x.shape[0], x.shape[1]
        directions = 2 if self.bidirectional else 1
        if state is None:
            zeros = x.new_zeros(self.num_layers * directions, batch, self.hidden_size)
            state = (zeros, zeros)
        valid = None
        if lengths is not None:  # (B, T, 1): True where a step is inside its sequence
            valid = (torch.arange(steps, device=x.device)[None] < lengths.to(x.device)[:, None])[..., None]
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outputs = []
            for d, suffix in enumerate(self._suffixes(layer)):
                index = layer * directions + d
                out, h, c = _run_direction(x, getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix),
                                           getattr(self, "bias_ih" + suffix), getattr(self, "bias_hh" + suffix),
                                           state[0][index], state[1][index], reverse=d == 1, valid=valid)
                outputs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = torch.cat(outputs, dim=-1) if directions == 2 else outputs[0]  # (B, T, D * H)
        return x, (torch.stack(h_n), torch.stack(c_n))


def _run_direction(x, w_ih, w_hh, b_ih, b_hh, h, c, reverse: bool, valid):
    """One layer, one direction: outputs ``(B, T, H)`` and the final ``h``, ``c`` ``(B, H)``."""
    driven = F.linear(x, w_ih, b_ih + b_hh)  # (B, T, 4H): every step's input share at once
    recurrent = w_hh.t()
    steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    outputs = [None] * x.shape[1]
    for t in steps:
        gates = torch.addmm(driven[:, t], h, recurrent)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)  # 4 x (B, H)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        if valid is None:
            h, c = h_new, c_new
            outputs[t] = h
        else:  # past a sequence's end: keep the state, output zeros
            keep = valid[:, t]
            h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
            outputs[t] = h_new * keep
    return torch.stack(outputs, dim=1), h, c


class LoopLSTMCell(nn.Module):
    """``nn.LSTMCell`` with the same parameters, written with plain tensor operations (it stacks)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        bound = hidden_size ** -0.5
        for name, shape in (("weight_ih", (4 * hidden_size, input_size)), ("weight_hh", (4 * hidden_size, hidden_size)),
                            ("bias_ih", (4 * hidden_size,)), ("bias_hh", (4 * hidden_size,))):
            self.register_parameter(name, nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        h, c = state
        gates = F.linear(x, self.weight_ih, self.bias_ih + self.bias_hh) + h @ self.weight_hh.t()  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


def loop_lstm_from(lstm: nn.LSTM) -> LoopLSTM:
    """A :class:`LoopLSTM` with ``lstm``'s weights (``batch_first`` LSTMs without dropout or projections)."""
    if not lstm.batch_first or lstm.proj_size or (lstm.dropout and lstm.num_layers > 1):
        raise ValueError("parameter 'lstm' got an nn.LSTM with batch_first=False, proj_size or dropout; "
                         "allowed: batch_first=True, proj_size=0, dropout=0")
    loop = LoopLSTM(lstm.input_size, lstm.hidden_size, lstm.num_layers, lstm.bidirectional)
    loop.load_state_dict(lstm.state_dict())
    return loop.to(next(lstm.parameters()).device)


def loop_cell_from(cell: nn.LSTMCell) -> LoopLSTMCell:
    """A :class:`LoopLSTMCell` with ``cell``'s weights."""
    loop = LoopLSTMCell(cell.input_size, cell.hidden_size)
    loop.load_state_dict(cell.state_dict())
    return loop.to(cell.weight_ih.device)


def with_loop_lstms(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose ``nn.LSTM`` (``nn.LSTMCell``) modules are :class:`LoopLSTM` s
    (:class:`LoopLSTMCell` s) with the same weights.

    The copy computes the same function (up to rounding) and can be stacked with
    ``torch.func``; modules that call ``nn.LSTM`` on packed sequences must pass
    ``lengths`` instead (see :class:`LoopLSTM`).
    """
    model = copy.deepcopy(model)
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.LSTM):
                setattr(module, child_name, loop_lstm_from(child))
            elif isinstance(child, nn.LSTMCell):
                setattr(module, child_name, loop_cell_from(child))
    return model


def run_padded(lstm: nn.Module, x: torch.Tensor, lengths: torch.Tensor, state=None):
    """Run ``lstm`` over a padded batch ``x`` (B, T, F) whose sequences have ``lengths``.

    An ``nn.LSTM`` runs on the packed sequences (padding skipped, fused kernel); a
    :class:`LoopLSTM` masks the padding itself. Both return ``(out, (h_n, c_n))`` with
    ``out`` zero past each sequence's end and the states taken at each sequence's end.
    """
    if isinstance(lstm, LoopLSTM):
        return lstm(x, state, lengths=lengths)
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, final = lstm(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, final
