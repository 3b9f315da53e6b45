"""A sweep's description (:class:`SweepSpec`), serialisable to and from YAML, and its identity."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from scaling_core.data.shards import shard_sizes
from scaling_core.sweep.keys import canonical, code_files
from scaling_core.sweep.search import SearchSpec
from scaling_core.sweep.task import TaskSpec
from scaling_core.sweep.trainer import TrainerSettings


@dataclass(frozen=True)
class SweepSpec:
    """A whole sweep, serialisable to and from plain dictionaries (YAML configs).

    In a mapping, ``shard_sizes`` may be a list or ``{min_units, max_units, factor}``
    (see :func:`~scaling_core.data.shards.shard_sizes`).
    """

    name: str  # identifies the sweep inside its store
    task: TaskSpec  # the domain
    shard_sizes: tuple[float, ...]  # target shard sizes in the task's units, increasing
    searches: tuple[SearchSpec, ...]  # one model search per family
    trainer: TrainerSettings = field(default_factory=TrainerSettings)
    seed: int = 0  # shard order and optimizer draws
    save_models: bool = False  # keep each finished trial's weights beside the store

    def __post_init__(self):
        object.__setattr__(self, "shard_sizes", tuple(self.shard_sizes))
        object.__setattr__(self, "searches", tuple(self.searches))
        sizes = self.shard_sizes
        if not sizes or any(not b > a for a, b in zip(sizes, sizes[1:])) or not sizes[0] > 0:
            raise ValueError(f"parameter 'shard_sizes' got {list(sizes)}; allowed: increasing positive sizes")
        if not self.searches:
            raise ValueError("parameter 'searches' is empty; allowed: at least one SearchSpec")
        families = [s.family for s in self.searches]
        if len(set(families)) != len(families):
            raise ValueError(f"parameter 'searches' repeats a family: {families}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["task"] = {"factory": self.task.factory, "kwargs": dict(self.task.kwargs)}
        data["searches"] = [search.to_dict() for search in self.searches]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    def identity(self) -> Any:
        """What makes two specs one sweep: :func:`~scaling_core.sweep.keys.canonical` of :meth:`to_dict`
        (``8`` and ``8.0`` alike, no ``data_dir``)."""
        return spec_identity(self.to_dict())

    def code_files(self) -> dict[str, str]:
        """``{path: hash}`` of the code that can change this sweep's results (see :mod:`~scaling_core.sweep.keys`)."""
        return code_files(self.task.factory.partition(":")[0])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SweepSpec":
        """Build a spec from a plain mapping; unknown or missing keys raise one-line errors."""
        data = dict(data)
        _check_keys("sweep", data, required={"name", "task", "shard_sizes", "searches"},
                    allowed={f for f in cls.__dataclass_fields__})
        task = dict(data["task"])
        _check_keys("task", task, required={"factory"}, allowed={"factory", "kwargs"})
        data["task"] = TaskSpec(task["factory"], dict(task.get("kwargs") or {}))
        if isinstance(data["shard_sizes"], Mapping):  # {min_units, max_units, factor}
            _check_keys("shard_sizes", data["shard_sizes"], required={"min_units", "max_units"},
                        allowed={"min_units", "max_units", "factor"})
            data["shard_sizes"] = shard_sizes(**data["shard_sizes"])
        data["searches"] = tuple(_build("search", SearchSpec, s) for s in data["searches"])
        data["trainer"] = _build("trainer", TrainerSettings, data.get("trainer") or {})
        return cls(**data)


def spec_identity(data: Mapping[str, Any] | str) -> Any:
    """The canonical form of a spec mapping or its JSON text (a sweep record's, or :meth:`SweepSpec.to_dict`)."""
    data = json.loads(data) if isinstance(data, str) else data
    return canonical(json.loads(json.dumps(data, sort_keys=True, default=str)))


def _build(what: str, kind: type, values: Mapping[str, Any]):
    _check_keys(what, values, required=set(), allowed=set(kind.__dataclass_fields__))
    return kind(**values)


def _check_keys(what: str, data: Mapping[str, Any], required: set, allowed: set) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"{what}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
    missing = sorted(required - set(data))
    if missing:
        raise ValueError(f"{what}: missing key {missing[0]!r}")
