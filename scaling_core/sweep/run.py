"""A learning-curve sweep: shards, model search, training, results store.

:func:`run_sweep` walks the shards from smallest to largest. The candidates for
shard k are projected from the winner on shard k-1 (see
:mod:`scaling_core.sweep.search`), so shards run one after another while the
trials of one shard run in parallel; a bracketing search then tries larger sizes on the
shard while its winner is the largest size tried there. A sweep whose searches need no winner (a full
grid, or one fixed size: :func:`~scaling_core.sweep.search.independent_of_winners`)
plans every shard first and trains all its trials together, the largest shards first
so that the workers stay busy to the end (the smallest first under a time budget, so
that a cut loses the least). Every trial is recorded, winners or not.

Resume comes from the store: a trial whose key is already ``done`` or ``failed``
is not run again, and an unfinished one (killed while ``running``) is rerun. Drivers
running at once on one store (two processes of the same sweep) do not train a trial twice:
each claims the trials it trains, keeps the claims fresh while it runs, and waits for those
another live driver claimed, taking over a claim that went stale (see :meth:`Store.claim`).
A sweep recorded complete with the same spec is only read, without building the
task or its data, so committed results rebuild the book without training. Every trial
keeps the code version that made it (the store keeps the hash of each file of each
version): when today's code differs, a sweep is *stale* (:func:`staleness` says which
files differ). A stale trial is still read, not silently retrained, unless
``rerun_stale=True``: a resumed sweep finds a finished trial of the same configuration
and data made by other code (its ``config_key``) and uses it.

A time budget (``deadline``, or :mod:`scaling_core.sweep.budget`) stops a sweep cleanly
and the next run resumes where it stopped. The spec is :mod:`scaling_core.sweep.spec`; what
the store records of a completed sweep, and its staleness, :mod:`scaling_core.sweep.records`.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from scaling_core.data.shards import Shard, nested_shards
from scaling_core.sweep.budget import TimeBudgetExceeded, current_deadline
from scaling_core.sweep.executors import LocalExecutor
from scaling_core.sweep.keys import config_key, files_version, git_commit, trial_key, trial_seed
from scaling_core.sweep.records import completed_record, staleness, sweep_trials
from scaling_core.sweep.search import bracket_size, independent_of_winners, plan_shard, plan_sizes
from scaling_core.sweep.shard_baselines import shard_baselines
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.store import FINISHED, POLL_SECONDS, EmptyStoreError, Store, owner_id
from scaling_core.sweep.task import Task, allowed_families, example_order
from scaling_core.sweep.trial import Trial
from scaling_core.sweep.worker import stack_groups
from scaling_core.validation import check_device_present


def run_sweep(
    spec: SweepSpec,
    store: Store | str | Path,
    executor=None,
    progress: bool = True,
    history: bool = False,
    deadline: float | None = None,
    rerun_stale: bool = False,
    retry_failed: bool = False,
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
        Show a progress bar with ETA (trials done of about how many), on the process's own
        standard error: inside a notebook kernel that is the terminal that started it (e.g.
        ``scaling-core chapter``), not a cell's output.
    history : bool
        Include each trial's evaluations (a list of dicts per row).
    deadline : float, optional
        A ``time.time()`` value at which to stop (default :func:`current_deadline`).
    rerun_stale : bool
        Retrain a completed sweep whose code version differs from today's (default: read it).
    retry_failed : bool
        Train again the trials stored as ``failed`` (a completed sweep with failures included).

    Returns
    -------
    pandas.DataFrame
        One row per trial of this sweep (see :meth:`Store.to_frame`).

    Raises
    ------
    TimeBudgetExceeded
        The deadline came first; finished trials are stored, the sweep is not complete.
    """
    if not isinstance(store, Store):  # a path: a complete sweep is read without writing; else opened to run
        path = Path(store)
        if path.exists():
            try:
                with Store(path, readonly=True) as reader:
                    if not _to_run(reader, spec, rerun_stale, retry_failed):
                        return sweep_trials(reader, spec, history)
            except EmptyStoreError:
                pass  # nothing stored yet (or another driver is creating it): the writer makes it
        with Store(path) as writer:
            return run_sweep(spec, writer, executor, progress, history, deadline, rerun_stale, retry_failed)
    if _to_run(store, spec, rerun_stale, retry_failed):
        store.check_writable(f"sweep {spec.name!r} is not complete in it with this spec, so it cannot run there")
        executor = executor or LocalExecutor()
        for device in getattr(executor, "devices", ()):  # before any trial: one line naming what this machine has
            check_device_present(device)
        deadline = current_deadline() if deadline is None else deadline
        sweep = _Sweep(spec, store, executor, deadline, rerun_stale, retry_failed)
        keys = sweep.run(progress)
        store.mark_complete(spec.name, json.dumps({
            "spec": spec.identity(), "keys": keys, "code": sweep.code, "git_commit": git_commit(),
        }, sort_keys=True))  # the code's files are in the store's code_versions
        shard_baselines(spec, store)  # what the curve must beat, on each shard, beside the trials
    return sweep_trials(store, spec, history)


def _to_run(store: Store, spec: SweepSpec, rerun_stale: bool, retry_failed: bool = False) -> bool:
    """Whether ``spec`` must train in ``store``: not complete there, stale and to be rerun, or with
    failed trials to retry."""
    if completed_record(store, spec) is None or (rerun_stale and staleness(store, spec) is not None):
        return True
    return retry_failed and bool((sweep_trials(store, spec)["status"] == "failed").any())


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
                 rerun_stale: bool = False, retry_failed: bool = False):
        self.spec, self.store, self.executor, self.deadline = spec, store, executor, deadline
        self.rerun_stale = rerun_stale
        self.finished = ("done",) if retry_failed else FINISHED  # statuses not trained again
        self.task: Task = spec.task.build()
        _check_families(spec, self.task)
        store.check_task(self.task.name)  # another task's store is refused before anything is written
        self.owner = owner_id()  # this driver, in the claims of the trials it trains
        order = example_order(self.task, spec.seed)
        self.shards = nested_shards(self.task.example_units(), list(spec.shard_sizes), order=order)
        self.files = spec.code_files()
        self.code = files_version(self.files)
        store.add_code_version(self.code, self.files, git_commit())
        self.artefacts = str(store.path.with_suffix(".artefacts")) if spec.save_models else None

    def run(self, progress: bool) -> list[str]:
        keys: list[str] = []
        winners: dict[str, tuple[float, float]] = {}  # family -> (best size, its shard units)
        with tqdm(total=self._expected_trials(), disable=not progress, desc=self.spec.name, unit="trial",
                  file=sys.__stderr__ or sys.stderr) as bar, self.store.heartbeat(self.owner):
            try:
                if all(independent_of_winners(search) for search in self.spec.searches):
                    return self._run_at_once(bar)
                for shard in self.shards:
                    self._check_budget(bar)
                    keys += self._run_shard(shard, winners, bar)
            finally:  # stopped by an error too: what this driver held is free for the next at once
                self.store.unclaim(self.owner)
        return keys

    def _run_shard(self, shard: Shard, winners, bar) -> list[str]:
        """Plan, train and judge one shard, then try larger sizes while a bracketing search's
        winner is the largest size the shard tried (:func:`~scaling_core.sweep.search.bracket_size`);
        ``winners`` takes the shard's winners. Returns the keys of the shard's trials."""
        jobs, rows = self._plan(shard, winners)
        keys: list[str] = []
        tried: dict[str, list[float]] = {}
        for extension in range(1 + max(search.bracket for search in self.spec.searches)):
            self.store.add(rows)
            keys += [job.key for job in jobs]
            for job in jobs:
                tried.setdefault(job.family, []).append(job.size)
            if self._run_jobs(jobs, bar):
                self._check_budget(bar, cut=True)
            found = self._winners(shard, keys, winners)
            larger = [(search, bracket_size(search, tried[search.family])) for search in self.spec.searches
                      if extension < search.bracket and search.family in found
                      and found[search.family][0] >= max(tried[search.family])]
            planned = [trial for search, size in larger if size is not None
                       for trial in plan_sizes(search, [size], shard.index, self.spec.seed)]
            if not planned:
                break
            bar.total += len(planned)  # the extensions were not in the planned total
            bar.refresh()
            jobs, rows = self._place(shard, planned)
        winners.update(found)
        return keys

    def _run_at_once(self, bar) -> list[str]:
        """Plan every shard (each search keeps its one size, or its full grid), then train all the trials."""
        self._check_budget(bar)
        jobs: list[Trial] = []
        winners: dict[str, tuple[float, float]] = {}
        for shard in self.shards:
            planned, rows = self._plan(shard, winners)
            self.store.add(rows)
            jobs += planned
            winners = {search.family: (float(search.grid[0]), shard.units) for search in self.spec.searches}
        largest_first = self.deadline is None  # run_sweep set it from the ambient budget too
        order = sorted(jobs, key=lambda job: job.shard_units, reverse=largest_first)
        if self._run_jobs(order, bar):
            self._check_budget(bar, cut=True)
        return [job.key for job in jobs]

    def _check_budget(self, bar, cut: bool = False) -> None:
        if cut or (self.deadline is not None and time.time() >= self.deadline):
            done = int((self.store.to_frame(self.spec.name)["status"].isin(FINISHED)).sum())
            raise TimeBudgetExceeded(f"sweep {self.spec.name!r} stopped at its time budget with {done} trials "
                                     f"finished ({bar.n} of about {bar.total} this run); run it again to resume")

    def _expected_trials(self) -> int:
        later = len(self.shards) - 1
        return sum(s.samples * (len(set(s.grid)) + later * (len(set(s.grid)) if s.mode == "full" else len(s.growth)))
                   for s in self.spec.searches)

    def _plan(self, shard: Shard, winners) -> tuple[list[Trial], list[dict]]:
        planned = []
        for search in self.spec.searches:
            best, units = winners.get(search.family, (None, None))
            ratio = shard.units / units if units else None
            planned += plan_shard(search, shard.index, self.spec.seed, best, ratio)
        return self._place(shard, planned)

    def _place(self, shard: Shard, planned: list[Trial]) -> tuple[list[Trial], list[dict]]:
        """The ``planned`` trials keyed on ``shard``, and their rows (a stale finished trial of the
        same configuration standing in for a new one unless ``rerun_stale``)."""
        jobs, rows = [], []
        for trial in planned:
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
        """Run the unfinished ``jobs``; ``True`` if the time budget cut any of them.

        Trials claimed by another live driver (a second process on the same store) are not
        trained here: this driver waits for them to finish, and takes over any whose claim
        goes stale (see :meth:`Store.claim`).
        """
        statuses = self.store.statuses(job.key for job in jobs)
        todo = [job for job in jobs if statuses.get(job.key) not in self.finished]
        bar.update(len(jobs) - len(todo))
        while todo:
            mine = set(self.store.claim([job.key for job in todo], self.owner, finished=self.finished))
            if mine and self._train([job for job in todo if job.key in mine], bar):
                return True
            todo = [job for job in todo if job.key not in mine]
            if todo:  # another driver trains these: wait for them, or for its claim to go stale
                if self.deadline is not None and time.time() >= self.deadline:
                    return True
                time.sleep(POLL_SECONDS)
                statuses = self.store.statuses(job.key for job in todo)
                finished = [job for job in todo if statuses.get(job.key) in FINISHED]
                bar.update(len(finished))
                todo = [job for job in todo if statuses.get(job.key) not in FINISHED]
        return False

    def _train(self, todo: list[Trial], bar) -> bool:
        """Train ``todo`` (claimed by this driver); ``True`` if the time budget cut any of them."""
        started = lambda job, device: self.store.start(job.key, device, self.owner)  # noqa: E731
        stack = getattr(self.executor, "stack", 1)
        if stack > 1 and getattr(self.task, "stackable", False) and not self.spec.save_models:
            todo = stack_groups(todo, stack)  # trials differing only in learning rate and seed train together
        cut, unavailable = False, []
        for job, outcome in self.executor.run(todo, on_start=started):
            if outcome.get("status") in ("cut", "unavailable"):  # no result: left unfinished, run again next time
                self.store.release(job.key)
                cut = cut or outcome["status"] == "cut"
                unavailable += [outcome.get("reason", "")] if outcome["status"] == "unavailable" else []
                continue
            self.store.finish(job.key, outcome)
            bar.update(1)
        if unavailable:
            raise TrialsUnavailable(
                f"sweep {self.spec.name!r}: {len(unavailable)} trial(s) could not run on this machine "
                f"({unavailable[0]}); nothing was recorded for them and the sweep is not complete; its "
                f"finished trials are kept: run it again where they can run")
        return cut

    def _winners(self, shard: Shard, keys: list[str], winners) -> dict[str, tuple[float, float]]:
        """This shard's best size per family (families without a winner keep their last)."""
        frame = self.store.to_frame(self.spec.name)
        frame = frame[frame["key"].isin(keys)]
        best = best_per_shard(frame, self.task.metrics[0]) if len(frame) else frame
        return {row.family: (row.size, shard.units) for row in best.itertuples()}


class TrialsUnavailable(RuntimeError):
    """Trials the machine could not run (no such device, out of memory, a missing file): not results."""


def _check_families(spec: SweepSpec, task: Task) -> None:
    for search in spec.searches:
        if search.family not in task.families:
            raise ValueError(
                f"parameter 'family' got {search.family!r}; allowed: {allowed_families(task)}"
            )
