r"""Model search as in the paper's Section 3.

For the smallest shard T_0 every size of a hyperparameter-reduced grid is tried.
For each next shard T_k the candidate sizes are projected forward from the best
size on T_{k-1}: with :math:`m_k` the shard sizes and :math:`s^*_{k-1}` the
previous winner,

.. math:: s = s^*_{k-1} \, (m_k / m_{k-1})^{g}, \qquad g \in \text{growth},

so ``g = 1`` grows the model linearly with the data and ``0 < g < 1``
sub-linearly (``g = 0`` keeps the previous size). Each candidate size gets
``samples`` Monte Carlo draws of the optimizer settings: a learning rate
log-uniform in ``lr_range`` and a batch size from ``batch_sizes``. The candidate
with the best validation metric wins the shard.

A winner that is the largest size its shard tried says the candidates stopped too low.
With ``bracket = b > 0`` the search then tries the next larger size on the same shard,
continuing the spacing of the shard's two largest sizes,

.. math:: s_{\text{next}} = s_{(1)} \, s_{(1)} / s_{(2)},

(clipped to ``max_size``), and again while the new size wins, at most ``b`` times a shard.
A winner inside its shard's sizes is then bracketed by a smaller and a larger model that
fit V worse; one still at the top says the extensions or the cap ran out.

Beside this *projected* search, ``mode="full"`` tries every size of the grid on every
shard (a full size x shard grid). Its composite curve is the lower envelope of the
fixed-size curves, and the paper's fixed-size curves (Fig. 1 left, Fig. 5 right) come
from the same trials. A trial's key does not depend on the mode, so both searches share
the trials they have in common.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from scaling_core.sweep.trainer import OPTIMIZERS
from scaling_core.sweep.trial import Trial


SEARCH_MODES = ("projected", "full")
"""How a search picks the sizes of later shards (see the module docstring)."""


@dataclass(frozen=True)
class SearchSpec:
    """The search for one model family."""

    family: str  # one of task.families
    grid: tuple[float, ...]  # sizes tried on the smallest shard
    growth: tuple[float, ...] = (0.5, 1.0)  # exponents g projecting the previous best size
    samples: int = 2  # Monte Carlo optimizer draws per candidate size
    lr_range: tuple[float, float] = (1e-3, 1e-2)  # learning rates, sampled log-uniformly
    batch_sizes: tuple[int, ...] = (32, 64)  # batch sizes, sampled uniformly
    min_size: float = 1  # projected sizes are clipped to [min_size, max_size]
    max_size: float = math.inf
    integer_sizes: bool = True  # round projected sizes to whole numbers
    optimizer: str = "adam"  # "adam", "sgd" or "nesterov" (momentum 0.9), never weight decay
    mode: str = "projected"  # "projected" (grid on T_0, then projections) or "full" (grid on every shard)
    bracket: int = 0  # larger sizes tried on a shard while its winner is the largest it tried (0: none)

    def __post_init__(self):
        object.__setattr__(self, "grid", tuple(self.grid))
        object.__setattr__(self, "growth", tuple(self.growth))
        object.__setattr__(self, "lr_range", tuple(self.lr_range))
        object.__setattr__(self, "batch_sizes", tuple(int(b) for b in self.batch_sizes))
        _check(self)

    def to_dict(self) -> dict[str, Any]:
        """The spec as a mapping; the default ``mode`` and ``bracket`` are left out, as specs written
        before them had none."""
        data = asdict(self)
        for name, default in (("mode", "projected"), ("bracket", 0)):
            if data[name] == default:
                del data[name]
        return data


def _check(spec: SearchSpec) -> None:
    """One-line errors for a search spec outside its allowed values."""
    rules = [
        ("grid", spec.grid, len(spec.grid) > 0 and all(s > 0 for s in spec.grid), "positive sizes"),
        ("growth", spec.growth, len(spec.growth) > 0 and all(0 <= g <= 2 for g in spec.growth),
         "exponents in [0, 2]"),
        ("samples", spec.samples, isinstance(spec.samples, int) and spec.samples >= 1,
         "an integer >= 1"),
        ("lr_range", spec.lr_range, len(spec.lr_range) == 2 and 0 < spec.lr_range[0] <= spec.lr_range[1],
         "(low, high) with 0 < low <= high"),
        ("batch_sizes", spec.batch_sizes, len(spec.batch_sizes) > 0 and min(spec.batch_sizes) >= 1,
         "positive integers"),
        ("max_size", spec.max_size, 0 < spec.min_size <= spec.max_size, ">= min_size > 0"),
        ("optimizer", spec.optimizer, spec.optimizer in OPTIMIZERS, ", ".join(OPTIMIZERS)),
        ("mode", spec.mode, spec.mode in SEARCH_MODES, ", ".join(SEARCH_MODES)),
        ("bracket", spec.bracket, isinstance(spec.bracket, int) and spec.bracket >= 0
         and (spec.bracket == 0 or spec.mode == "projected"), "an integer >= 0 (0 for a full search)"),
    ]
    for name, value, ok, allowed in rules:
        if not ok:
            raise ValueError(f"search {spec.family!r}: parameter {name!r} got {value!r}; allowed: {allowed}")


def candidate_sizes(
    spec: SearchSpec, previous_best: float | None, data_ratio: float | None
) -> list[float]:
    """Sizes to try on a shard: the grid first, then projections of the previous winner.

    Parameters
    ----------
    spec : SearchSpec
    previous_best : float or None
        Winning size on the previous shard with a winner; ``None`` for T_0 (or when
        no earlier shard produced a winner), which returns the grid. A ``"full"``
        search returns the grid on every shard.
    data_ratio : float or None
        :math:`m_k / m_j`, this shard's size over that of the shard that produced
        ``previous_best``.

    Returns
    -------
    list of float
        Distinct sizes, increasing.
    """
    if previous_best is None or spec.mode == "full":
        return sorted(set(spec.grid))
    sizes = set()
    for g in spec.growth:
        size = min(max(previous_best * data_ratio**g, spec.min_size), spec.max_size)
        sizes.add(float(round(size)) if spec.integer_sizes else float(size))
    return sorted(sizes)


def bracket_size(spec: SearchSpec, tried: Sequence[float]) -> float | None:
    r"""The next larger size to try on a shard whose winner is the largest size in ``tried``.

    The step continues the spacing of the two largest sizes tried,
    :math:`s_{\text{next}} = s_{(1)}^2 / s_{(2)}`, clipped to ``max_size`` (and rounded for
    integer sizes).

    Returns
    -------
    float or None
        ``None`` when the shard tried a single size (no spacing to continue) or the step
        does not grow the model (the cap).
    """
    sizes = sorted(set(tried))
    if len(sizes) < 2:
        return None
    largest = sizes[-1]
    size = min(largest * largest / sizes[-2], spec.max_size)
    size = float(round(size)) if spec.integer_sizes else float(size)
    return size if size > largest else None


def independent_of_winners(spec: SearchSpec) -> bool:
    """Whether ``spec`` plans every shard without knowing an earlier shard's winner.

    True for a ``"full"`` search, and for one size kept on every shard (growth 0 only, the
    size inside ``[min_size, max_size]``): its projection is the size itself. Such a search's
    shards can all be planned, and trained, at once.
    """
    if spec.mode == "full":
        return True
    sizes = set(spec.grid)
    if len(sizes) != 1 or set(spec.growth) != {0.0}:
        return False
    size = float(next(iter(sizes)))
    return spec.min_size <= size <= spec.max_size and (not spec.integer_sizes or size == round(size))


def plan_shard(
    spec: SearchSpec,
    shard_index: int,
    seed: int,
    previous_best: float | None = None,
    data_ratio: float | None = None,
) -> list[Trial]:
    """Trial settings for one family on one shard.

    Each trial's optimizer draws come from a generator seeded by ``(seed, shard_index,
    family, size, sample)``, so a shard's plan is the same on every rerun and adding a
    size to the grid leaves the other trials (and their keys) as they were.

    Returns
    -------
    list of Trial
        One per trial, with the search's choice filled in: ``family``, ``size``, ``lr``,
        ``batch_size``, ``sample``, ``optimizer`` and ``shard``.
    """
    return plan_sizes(spec, candidate_sizes(spec, previous_best, data_ratio), shard_index, seed)


def plan_sizes(spec: SearchSpec, sizes: Sequence[float], shard_index: int, seed: int) -> list[Trial]:
    """The trials of ``sizes`` on one shard, with the optimizer draws :func:`plan_shard` gives them."""
    low, high = np.log(spec.lr_range[0]), np.log(spec.lr_range[1])
    trials = []
    for size in sizes:
        for sample in range(spec.samples):
            rng = np.random.default_rng([seed, shard_index, _stable_number(spec.family),
                                         _stable_number(repr(float(size))), sample])
            trials.append(Trial(
                family=spec.family, size=size, lr=float(np.exp(rng.uniform(low, high))),
                batch_size=int(rng.choice(spec.batch_sizes)), sample=sample, optimizer=spec.optimizer,
                shard=shard_index,
            ))
    return trials


def _stable_number(text: str) -> int:
    """A stable integer for a name or a size (Python's ``hash`` changes between runs)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
