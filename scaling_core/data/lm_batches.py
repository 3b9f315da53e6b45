"""Minibatches for language models: continuous streams (words) and padded sentences (characters).

*Continuous minibatching* (word LMs): sentences, each ending in ``<eos>``, are joined
into one stream of :math:`n` ids, laid out as ``rows`` contiguous rows of
:math:`c = \\lfloor (n-1)/\\text{rows} \\rfloor` steps, and read in chunks of
``unroll`` steps; the target of every id is the next id of the stream. Row
``r`` continues in chunk ``k + 1`` where it stopped in chunk ``k``, so a model may
carry its state across chunks (:class:`CarriedState`).

*Non-continuous minibatching* (character LMs): every sentence is its own sequence,
fed from an ``<eos>`` start symbol, and a batch pads its sequences to the longest
one; padded targets are :data:`IGNORE` and count for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch.utils import _pytree as pytree

IGNORE = -100
"""Target id of padding (``ignore_index`` of :func:`torch.nn.functional.cross_entropy`)."""


@dataclass(frozen=True)
class PackedSequences:
    """Variable-length id sequences stored end to end: sequence ``i`` is ``ids[offsets[i]:offsets[i+1]]``."""

    ids: np.ndarray  # (total,) int64
    offsets: np.ndarray  # (n + 1,) int64, offsets[0] == 0

    @classmethod
    def pack(cls, sequences: list[np.ndarray]) -> "PackedSequences":
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        ids = np.concatenate(sequences).astype(np.int64) if sequences else np.zeros(0, dtype=np.int64)
        return cls(ids, np.concatenate([[0], np.cumsum(lengths)]))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        """Ids per sequence, shape (n,)."""
        return np.diff(self.offsets)

    def take(self, indices: np.ndarray) -> list[np.ndarray]:
        """The sequences at ``indices``, in that order."""
        return [self.ids[self.offsets[i] : self.offsets[i + 1]] for i in indices]

    def stream(self, indices: np.ndarray) -> np.ndarray:
        """The sequences at ``indices`` joined into one array."""
        parts = self.take(indices)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


@dataclass
class CarriedState:
    """The recurrent state handed from one chunk of a stream to the next.

    The state (a tensor or a tuple of tensors) lives in buffers written in place
    (:meth:`keep`) and zeroed in place when a stream starts (:meth:`reset`; a zero state is
    what a model starts from anyway), so the same tensors carry it through a whole
    trial and a training step replayed from a CUDA graph reads and writes them where
    they are.
    """

    state: object = None

    def current(self):
        """A copy of the state to start the next chunk from (the buffers are overwritten before backward)."""
        copies = tuple(t.clone() for t in _tensors(self.state))
        if not copies:
            return None
        return copies if isinstance(self.state, tuple) else copies[0]

    def reset(self) -> None:
        """Zero the state in place (the start of a stream)."""
        for tensor in _tensors(self.state):
            tensor.zero_()

    def keep(self, state) -> None:
        """Copy ``state`` (detached: truncated back-propagation) into the buffers, made on first use."""
        new = _tensors(state)
        old = _tensors(self.state)
        if len(old) == len(new) and all(a.shape == b.shape and a.dtype == b.dtype for a, b in zip(old, new)):
            for buffer, tensor in zip(old, new):
                buffer.copy_(tensor.detach())
        else:
            copies = tuple(t.detach().clone() for t in new)
            self.state = copies if isinstance(state, tuple) else copies[0]


def _tensors(state) -> tuple:
    if state is None:
        return ()
    return tuple(state) if isinstance(state, tuple) else (state,)


@dataclass(frozen=True)
class LMBatch:
    """One minibatch: ``inputs`` and ``targets`` of shape (B, T)."""

    inputs: torch.Tensor  # (B, T) token ids
    targets: torch.Tensor  # (B, T) next-token ids, IGNORE where padded
    carried: CarriedState | None = None  # shared by the chunks of one stream


pytree.register_pytree_node(  # tensors as leaves, so batches stack (vmap) and replay (CUDA graphs)
    LMBatch, lambda b: ([b.inputs, b.targets], b.carried), lambda leaves, carried: LMBatch(*leaves, carried),
    serialized_type_name="scaling_core.LMBatch")


def stream_batches(stream: np.ndarray, rows: int, unroll: int, device: str,
                   carried: CarriedState | None = None) -> Iterator[LMBatch]:
    """Chunks of ``unroll`` steps over ``stream`` laid out in ``rows`` rows (fewer if it is short).

    Every chunk shares one :class:`CarriedState`: ``carried`` (reset to zeros, so one trial's
    epochs share its buffers) or a new, empty one.
    """
    rows = max(1, min(rows, len(stream) - 1))
    steps = (len(stream) - 1) // rows
    if steps < 1:
        return
    data = torch.from_numpy(np.ascontiguousarray(stream[: rows * steps + 1])).to(device)  # one copy per stream
    inputs = data[:-1].view(rows, steps)  # (rows, steps)
    targets = data[1:].view(rows, steps)  # (rows, steps): the next id of the stream
    if carried is None:
        carried = CarriedState()
    carried.reset()
    for start in range(0, steps, unroll):
        chunk = slice(start, start + unroll)
        yield LMBatch(inputs[:, chunk], targets[:, chunk], carried)


def padded_batch(sequences: list[np.ndarray], start_id: int, pad_id: int, device: str,
                 width: int | None = None) -> LMBatch:
    """Sequences as one batch: inputs ``[start, s_0 .. s_{n-2}]``, targets ``[s_0 .. s_{n-1}]``, padded.

    The batch is as wide as its longest sequence, or ``width`` when given (a fixed shape).
    """
    width = max(width or 0, max(len(s) for s in sequences))
    inputs = np.full((len(sequences), width), pad_id, dtype=np.int64)
    targets = np.full((len(sequences), width), IGNORE, dtype=np.int64)
    for row, sequence in enumerate(sequences):
        inputs[row, 0] = start_id
        inputs[row, 1 : len(sequence)] = sequence[:-1]
        targets[row, : len(sequence)] = sequence
    return LMBatch(torch.from_numpy(inputs).to(device), torch.from_numpy(targets).to(device))


def pad_to(batch: LMBatch, width: int, pad_id: int) -> LMBatch:
    """``batch`` padded on the right to ``width`` steps (inputs with ``pad_id``, targets with :data:`IGNORE`)."""
    extra = width - batch.inputs.shape[1]
    if extra <= 0:
        return batch
    pad = torch.nn.functional.pad
    return LMBatch(pad(batch.inputs, (0, extra), value=pad_id), pad(batch.targets, (0, extra), value=IGNORE),
                   batch.carried)
