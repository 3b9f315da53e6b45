"""One trial, typed: made by the search planner, keyed by the sweep, run by the worker and trainer.

The same object travels the whole way, each stage filling what it decides:

1. :func:`~scaling_core.sweep.search.plan_shard` chooses the model and the optimizer draws
   (``family``, ``size``, ``lr``, ``batch_size``, ``sample``, ``optimizer``);
2. the sweep places it (``task``, ``shard``, ``shard_units``, ``shard_length``,
   ``shard_seed``, ``settings``), keys it (:meth:`Trial.identity` is what the key hashes,
   ``trial_seed`` comes from the key) and says where weights go and when time is up;
3. a worker rebuilds the task and the shard from it, in any process, and the trainer reads
   its ``lr``, ``batch_size``, ``trial_seed``, ``optimizer``, ``settings`` and ``deadline``.

It is small and picklable (the task travels as its :class:`~scaling_core.sweep.task.TaskSpec`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from scaling_core.sweep.task import TaskSpec
from scaling_core.sweep.trainer import TrainerSettings

CHOICE_FIELDS = ("family", "size", "lr", "batch_size", "sample", "optimizer")
"""What the model search chooses for a trial."""


@dataclass(frozen=True)
class Trial:
    """Everything about one trial, from the search's choice to the worker's run."""

    family: str  # model family
    size: float  # the family's one size knob
    lr: float  # learning rate
    batch_size: int  # examples per step
    sample: int = 0  # which draw of the optimizer settings for this size
    optimizer: str = "adam"  # see scaling_core.sweep.trainer.OPTIMIZERS
    task: TaskSpec | None = None  # how to build the task
    shard: int = 0  # shard index k
    shard_units: float = 0.0  # the shard's size in the task's units
    shard_length: int = 0  # examples in the shard (a prefix of the shard order)
    shard_seed: int = 0  # seed of the order the shards are prefixes of
    settings: TrainerSettings = field(default_factory=TrainerSettings)
    key: str = ""  # the trial key (the store's primary key)
    trial_seed: int = 0  # seeds model initialisation and batch order
    artefact_dir: str | None = None  # where trained weights go, if anywhere
    deadline: float | None = None  # time.time() at which the sweep's time budget ends (not part of the key)

    def choice(self) -> dict[str, Any]:
        """What the search chose (``optimizer`` only when it is not Adam, as keys always had it)."""
        chosen = {name: getattr(self, name) for name in CHOICE_FIELDS}
        if chosen["optimizer"] == "adam":
            del chosen["optimizer"]
        return chosen

    def identity(self, task_name: str) -> dict[str, Any]:
        """The configuration a trial key hashes: task, shard, trainer settings and the search's choice."""
        return {
            "task": {"factory": self.task.factory, "kwargs": dict(self.task.kwargs)},
            "task_name": task_name, "shard_seed": self.shard_seed, "shard_length": self.shard_length,
            "shard_units": self.shard_units, "trainer": asdict(self.settings), **self.choice(),
        }
