"""A learning-curve sweep: shards, model search, training, results store.

:func:`run_sweep` walks the shards from smallest to largest. The candidates for
shard k are projected from the winner on shard k-1 (see
:mod:`scaling_core.sweep.search`), so shards run one after another while the
trials of one shard run in parallel. Every trial is recorded, winners or not.

Resume comes from the store: a trial whose key is already ``done`` or ``failed``
is not run again, and an unfinished one (killed while ``running``) is rerun.
A sweep recorded complete with the same spec is only read, without building the
task or its data, so committed results rebuild the book without training. Every trial
keeps the code version that made it (the store keeps the hash of each file of each
version): when today's code differs, a sweep is *stale* (:func:`staleness` says which
files differ). A stale trial is still read, not silently retrained, unless
``rerun_stale=True``: a resumed sweep finds a finished trial of the same configuration
and data made by other code (its ``config_key``) and uses it.

A time budget (``deadline``, or :func:`time_budget` around any code that runs sweeps,
or ``$SCALING_CORE_DEADLINE``) stops a sweep cleanly: trials running at the deadline
stop and go back to ``pending``, every finished trial stays, no later shard starts,
and :class:`TimeBudgetExceeded` is raised; the next run resumes where this one stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
from tqdm import tqdm

from scaling_core.data.shards import Shard, nested_shards, shard_sizes
from scaling_core.sweep.executors import LocalExecutor
from scaling_core.sweep.keys import (
    canonical, changed_files, code_files, config_key, files_version, git_commit, trial_key, trial_seed,
)
from scaling_core.sweep.search import SearchSpec, plan_shard
from scaling_core.sweep.store import FINISHED, Store
from scaling_core.sweep.task import allowed_families, Task, TaskSpec, example_order
from scaling_core.sweep.trainer import TrainerSettings
from scaling_core.sweep.trial import Trial
from scaling_core.sweep.worker import stack_groups


DEADLINE_ENV = "SCALING_CORE_DEADLINE"
"""Environment variable holding a ``time.time()`` deadline for every sweep of a process (and its children)."""


class TimeBudgetExceeded(RuntimeError):
    """A sweep stopped at its time budget; what finished is stored and the next run resumes."""


_deadline: list[float] = []  # innermost time_budget() last


@contextlib.contextmanager
def time_budget(seconds: float | None):
    """Sweeps started inside stop ``seconds`` from now (``None``: no budget).

    Also sets ``$SCALING_CORE_DEADLINE`` for processes started inside (papermill kernels).
    """
    if seconds is None:
        yield
        return
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(f"parameter 'time_budget' got {seconds!r}; allowed: a positive number of seconds")
    deadline = time.time() + seconds
    previous = os.environ.get(DEADLINE_ENV)
    _deadline.append(deadline)
    os.environ[DEADLINE_ENV] = repr(deadline)
    try:
        yield deadline
    finally:
        _deadline.pop()
        if previous is None:
            os.environ.pop(DEADLINE_ENV, None)
        else:
            os.environ[DEADLINE_ENV] = previous


def current_deadline() -> float | None:
    """The deadline in force: the innermost :func:`time_budget`, else ``$SCALING_CORE_DEADLINE``."""
    if _deadline:
        return _deadline[-1]
    value = os.environ.get(DEADLINE_ENV)
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"${DEADLINE_ENV} got {value!r}; allowed: a time.time() value in seconds") from None


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


def run_sweep(
    spec: SweepSpec,
    store: Store | str | Path,
    executor=None,
    progress: bool = True,
    history: bool = False,
    deadline: float | None = None,
    rerun_stale: bool = False,
) -> pd.DataFrame:
    """Run (or resume, or only read) a sweep and return its trials.

    Parameters
    ----------
    spec : SweepSpec
    store : Store or path
        The results store; trials already finished in it are not run again.
    executor : LocalExecutor or RayExecutor, optional
        Default: one in-process worker.
    progress : bool
        Show a progress bar with ETA.
    history : bool
        Include each trial's evaluations (a list of dicts per row).
    deadline : float, optional
        A ``time.time()`` value at which to stop (default :func:`current_deadline`).
    rerun_stale : bool
        Retrain a completed sweep whose code version differs from today's (default: read it).

    Returns
    -------
    pandas.DataFrame
        One row per trial of this sweep (see :meth:`Store.to_frame`).

    Raises
    ------
    TimeBudgetExceeded
        The deadline came first; finished trials are stored, the sweep is not complete.
    """
    store = store if isinstance(store, Store) else Store(store)
    record = completed_record(store, spec)
    if record is not None and not (rerun_stale and staleness(store, spec) is not None):
        keys = record["keys"]
    else:
        executor = executor or LocalExecutor()
        deadline = current_deadline() if deadline is None else deadline
        sweep = _Sweep(spec, store, executor, deadline, rerun_stale)
        keys = sweep.run(progress)
        store.mark_complete(spec.name, json.dumps({
            "spec": spec.identity(), "keys": keys, "code": sweep.code, "files": sweep.files,
            "git_commit": git_commit(),
        }, sort_keys=True))
    frame = store.to_frame(spec.name, history=history)
    return frame[frame["key"].isin(keys)].reset_index(drop=True)


def completed_record(store: Store, spec: SweepSpec) -> dict[str, Any] | None:
    """The store's record of ``spec`` (``keys``, ``code``, ``files``) if this exact sweep completed there."""
    record = store.completed_record(spec.name)
    if record is None or spec_identity(record["spec"]) != spec.identity():
        return None
    return record


def sweep_trials(store: Store | str | Path, spec: SweepSpec, history: bool = False) -> pd.DataFrame:
    """The trials of completed sweep ``spec`` as recorded (those another sweep trained first included)."""
    opened = store if isinstance(store, Store) else Store(store)
    try:
        record = completed_record(opened, spec)
        if record is None:
            raise ValueError(f"sweep {spec.name!r} has not completed with this spec in {opened.path}")
        frame = opened.to_frame(spec.name, history=history)
    finally:
        if opened is not store:
            opened.close()
    return frame[frame["key"].isin(record["keys"])].reset_index(drop=True)


@dataclass(frozen=True)
class Staleness:
    """A completed sweep made by code that differs from today's.

    Attributes
    ----------
    sweep : str
    stored, current : str
        Code versions (see :func:`~scaling_core.sweep.keys.code_version`): those of the
        sweep's trials that differ from today's (comma-separated), and today's.
    changed : tuple of str
        Files whose hash differs (added or removed included); empty when a stored
        version's files were not recorded.
    commit : str or None
        The git commit the stale trials were made at, when they share one.
    """

    sweep: str
    stored: str
    current: str
    changed: tuple[str, ...]
    commit: str | None

    def __str__(self) -> str:
        files = ", ".join(self.changed) if self.changed else "not recorded"
        at = f" (commit {self.commit[:10]})" if self.commit else ""
        return (f"sweep {self.sweep!r} was made by code version {self.stored}{at}; today's is {self.current}; "
                f"files that differ: {files}")


def staleness(store: Store, spec: SweepSpec) -> Staleness | None:
    """How completed sweep ``spec``'s trials differ from today's code, or ``None`` if none does (or it is not complete)."""
    record = completed_record(store, spec)
    if record is None:
        return None
    files = spec.code_files()
    current = files_version(files)
    versions = sorted(set(store.trial_code_versions(record["keys"])) - {current})
    if not versions:
        return None
    changed: set[str] = set()
    for version in versions:
        stored_files = store.code_version_files(version)
        if stored_files is None:
            changed = set()
            break
        changed |= set(changed_files(stored_files, files))
    commits = store.trial_commits(record["keys"], versions)
    return Staleness(spec.name, ", ".join(versions), current, tuple(sorted(changed)),
                     commits[0] if len(commits) == 1 else None)


def best_per_shard(frame: pd.DataFrame, metric: str, by_family: bool = True) -> pd.DataFrame:
    """The winning trial of each shard (of each family when ``by_family``).

    The winner has the lowest ``metric`` among finished (``done``) trials; ties go
    to the smaller model, then the trial key, so the choice is deterministic.
    """
    if metric not in frame.columns:  # no trial finished: no metric columns at all
        return frame.iloc[0:0]
    done = frame[(frame["status"] == "done") & frame[metric].notna()]
    ordered = done.sort_values([metric, "size", "key"])
    groups = ["shard", "family"] if by_family else ["shard"]
    return ordered.groupby(groups, sort=True).head(1).sort_values(groups).reset_index(drop=True)


class _Sweep:
    """The driver's state while a sweep runs: the task, its shards, the store."""

    def __init__(self, spec: SweepSpec, store: Store, executor, deadline: float | None = None,
                 rerun_stale: bool = False):
        self.spec, self.store, self.executor, self.deadline = spec, store, executor, deadline
        self.rerun_stale = rerun_stale
        self.task: Task = spec.task.build()
        _check_families(spec, self.task)
        order = example_order(self.task, spec.seed)
        self.shards = nested_shards(self.task.example_units(), list(spec.shard_sizes), order=order)
        self.files = spec.code_files()
        self.code = files_version(self.files)
        store.add_code_version(self.code, self.files, git_commit())
        self.artefacts = str(store.path.with_suffix(".artefacts")) if spec.save_models else None

    def run(self, progress: bool) -> list[str]:
        keys: list[str] = []
        winners: dict[str, tuple[float, float]] = {}  # family -> (best size, its shard units)
        with tqdm(total=self._expected_trials(), disable=not progress, desc=self.spec.name,
                  unit="trial") as bar:
            for shard in self.shards:
                self._check_budget(bar)
                jobs, rows = self._plan(shard, winners)
                self.store.add(rows)
                keys += [job.key for job in jobs]
                if self._run_jobs(jobs, bar):
                    self._check_budget(bar, cut=True)
                winners.update(self._winners(shard, [job.key for job in jobs], winners))
        return keys

    def _check_budget(self, bar, cut: bool = False) -> None:
        if cut or (self.deadline is not None and time.time() >= self.deadline):
            done = int((self.store.to_frame(self.spec.name)["status"].isin(FINISHED)).sum())
            raise TimeBudgetExceeded(f"sweep {self.spec.name!r} stopped at its time budget with {done} trials "
                                     f"finished ({bar.n} of about {bar.total} this run); run it again to resume")

    def _expected_trials(self) -> int:
        later = len(self.shards) - 1
        return sum(s.samples * (len(set(s.grid)) + later * len(s.growth)) for s in self.spec.searches)

    def _plan(self, shard: Shard, winners) -> tuple[list[Trial], list[dict]]:
        jobs, rows = [], []
        for search in self.spec.searches:
            best, units = winners.get(search.family, (None, None))
            ratio = shard.units / units if units else None
            for trial in plan_shard(search, shard.index, self.spec.seed, best, ratio):
                job, row = self._job(shard, trial)
                jobs.append(job)
                rows.append(row)
        if not self.rerun_stale:  # finished by other code: read as stale, not trained again
            statuses = self.store.statuses(row["key"] for row in rows)
            unknown = [row["config_key"] for row in rows if row["key"] not in statuses]
            stale = self.store.finished_by_config(unknown) if unknown else {}
            for i, row in enumerate(rows):
                if row["key"] not in statuses and row["config_key"] in stale:
                    rows[i] = {**row, "key": stale[row["config_key"]]}
                    jobs[i] = replace(jobs[i], key=rows[i]["key"])  # its stored seed and results stay
        return jobs, rows

    def _job(self, shard: Shard, trial: Trial) -> tuple[Trial, dict[str, Any]]:
        """The planned ``trial`` placed on ``shard``, keyed, and its row for the store."""
        trial = replace(trial, task=self.spec.task, shard=shard.index, shard_units=shard.units,
                        shard_length=shard.length, shard_seed=self.spec.seed, settings=self.spec.trainer)
        config = trial.identity(self.task.name)
        key = trial_key(config, self.code, self.task.fingerprint)
        trial = replace(trial, key=key, trial_seed=trial_seed(key), artefact_dir=self.artefacts,
                        deadline=self.deadline)
        row = {**trial.choice(), "key": key, "sweep": self.spec.name, "task": self.task.name,
               "unit": self.task.unit, "shard": shard.index, "shard_units": shard.units,
               "shard_examples": shard.length, "seed": self.spec.seed, "trial_seed": trial.trial_seed,
               "config": config, "code_version": self.code, "git_commit": git_commit(),
               "fingerprint": self.task.fingerprint, "config_key": config_key(config, self.task.fingerprint)}
        return trial, row

    def _run_jobs(self, jobs: list[Trial], bar) -> bool:
        """Run the unfinished ``jobs``; ``True`` if the time budget cut any of them."""
        statuses = self.store.statuses(job.key for job in jobs)
        todo = [job for job in jobs if statuses.get(job.key) not in FINISHED]
        bar.update(len(jobs) - len(todo))
        started = lambda job, device: self.store.start(job.key, device)  # noqa: E731
        stack = getattr(self.executor, "stack", 1)
        if stack > 1 and getattr(self.task, "stackable", False) and not self.spec.save_models:
            todo = stack_groups(todo, stack)  # trials differing only in learning rate and seed train together
        cut = False
        for job, outcome in self.executor.run(todo, on_start=started):
            if outcome.get("status") == "cut":
                self.store.release(job.key)
                cut = True
                continue
            self.store.finish(job.key, outcome)
            bar.update(1)
        return cut

    def _winners(self, shard: Shard, keys: list[str], winners) -> dict[str, tuple[float, float]]:
        """This shard's best size per family (families without a winner keep their last)."""
        frame = self.store.to_frame(self.spec.name)
        frame = frame[frame["key"].isin(keys)]
        best = best_per_shard(frame, self.task.metrics[0]) if len(frame) else frame
        return {row.family: (row.size, shard.units) for row in best.itertuples()}


def _check_families(spec: SweepSpec, task: Task) -> None:
    for search in spec.searches:
        if search.family not in task.families:
            raise ValueError(
                f"parameter 'family' got {search.family!r}; allowed: {allowed_families(task)}"
            )
