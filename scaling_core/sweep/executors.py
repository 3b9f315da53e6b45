"""Where trials run: locally in a process pool, or on a Ray cluster.

Both executors offer one method, ``run(jobs, on_start)``, which yields
``(job, outcome)`` pairs as trials finish and calls ``on_start(job, device)`` just
before a trial is handed to a worker; at most as many units of work are in flight
as there are workers, so "started" in the store means started. A unit is one
:class:`~scaling_core.sweep.trial.Trial` or a tuple of them trained as one stack
(:func:`~scaling_core.sweep.worker.stack_groups`); an executor's ``stack`` says how
many trials the driver may put in one stack. Only the driver (the caller of ``run``)
writes the results store.

:func:`local_executor` picks the settings for a device: on a CPU, ``workers``
processes (capped by the cores) and no stacking, which measured no faster there for
the laptop profile's models; on a GPU, ``trials_per_device`` processes sharing it, each
training stacks of up to :data:`GPU_STACK` trials.

Ray is an optional extra (``pip install scaling-core[cluster]``). To use a cluster,
start it with ``ray start --head`` on one machine and ``ray start
--address=<head>:6379`` on the others, then pass ``RayExecutor(address="auto")``
from a driver on a cluster node, or ``address="ray://<head>:10001"`` (Ray client)
from elsewhere; every node needs this package installed. Resume always comes from
our own store, never from Ray's saved state.
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import os
import threading
import time
from typing import Any, Callable, Iterator, Sequence

import torch

from scaling_core.sweep.trial import Trial
from scaling_core.sweep.worker import execute_unit

OnStart = Callable[[Trial, str], None]
Outcomes = Iterator[tuple[Trial, dict[str, Any]]]
Unit = Trial | tuple[Trial, ...]

GPU_STACK = 16
"""Trials per stack on a GPU (measured on one H200: small models train 5-50x faster per trial in stacks of 16)."""
TRIALS_PER_DEVICE = 2
"""Processes sharing one GPU by default (one builds its batches while the other computes)."""
STACK_ENV = "SCALING_CORE_STACK"
"""Overrides the default most trials per stack (``1``: every trial alone)."""


def local_executor(device: str = "cpu", workers: int = 1, trials_per_device: int | None = None,
                   stack: int | None = None, pool: bool | None = None) -> "LocalExecutor":
    """A :class:`LocalExecutor` for ``device``: CPU ``workers`` (capped by the cores), or processes per GPU.

    Parameters
    ----------
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    workers : int
        Processes on a CPU (at most the number of cores).
    trials_per_device : int, optional
        Processes sharing one GPU (default :data:`TRIALS_PER_DEVICE`); ignored on a CPU.
    stack : int, optional
        Most trials per stack (default 1 on a CPU, :data:`GPU_STACK` on a GPU).
    pool : bool, optional
        See :class:`LocalExecutor`.
    """
    gpu = str(device).startswith("cuda")
    processes = (trials_per_device or TRIALS_PER_DEVICE) if gpu else max(1, min(int(workers), os.cpu_count() or 1))
    stack = stack or int(os.environ.get(STACK_ENV) or (GPU_STACK if gpu else 1))
    return LocalExecutor(processes, devices=(device,), stack=stack, pool=pool)


def _units(jobs: Sequence[Unit]) -> list[tuple[Trial, ...]]:
    return [unit if isinstance(unit, tuple) else (unit,) for unit in jobs]


def _no_op(job: Trial, device: str) -> None:
    return None


class LocalExecutor:
    """Trials on this machine: in-process when ``workers == 1``, else a process pool.

    Parameters
    ----------
    workers : int
        Trials run at once (each in its own spawned process when > 1).
    devices : tuple of str
        Torch devices handed to trials in turn (e.g. ``("cuda:0", "cuda:1")``).
    threads_per_worker : int or None
        Torch threads per trial (``None`` leaves torch's setting). Results on the CPU
        are repeatable bit for bit for a given thread count, in-process or in a pool.
    stack : int
        Most trials the driver may put in one stack (1: every trial alone).
    pool : bool or None
        Train in worker processes even with one worker (``None``: only with several). Drivers
        running side by side in one process need it: trials seed the process's random state.
    """

    def __init__(self, workers: int = 1, devices: Sequence[str] = ("cpu",),
                 threads_per_worker: int | None = 1, stack: int = 1, pool: bool | None = None):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"parameter 'workers' got {workers!r}; allowed: an integer >= 1")
        if not devices:
            raise ValueError("parameter 'devices' got an empty list; allowed: torch device names")
        if isinstance(stack, bool) or not isinstance(stack, int) or stack < 1:
            raise ValueError(f"parameter 'stack' got {stack!r}; allowed: an integer >= 1")
        self.workers, self.devices, self.threads, self.stack = workers, tuple(devices), threads_per_worker, stack
        self.pool = workers > 1 if pool is None else bool(pool)
        self._pool: futures.ProcessPoolExecutor | None = None
        self._turn = 0

    def _next_device(self) -> str:
        device = self.devices[self._turn % len(self.devices)]
        self._turn += 1
        return device

    def run(self, jobs: Sequence[Unit], on_start: OnStart = _no_op) -> Outcomes:
        """Yield ``(job, outcome)`` for every job (of every stack), in order of completion."""
        if not self.pool:
            yield from self._run_here(_units(jobs), on_start)
        else:
            yield from self._run_pool(_units(jobs), on_start)

    def _run_here(self, units: list[tuple[Trial, ...]], on_start: OnStart) -> Outcomes:
        """In this process, with ``threads_per_worker`` torch threads while a unit runs."""
        for unit in units:
            device = self._next_device()
            for job in unit:
                on_start(job, device)
            previous = torch.get_num_threads()
            torch.set_num_threads(self.threads or previous)
            try:
                outcomes = execute_unit(unit, device)
            finally:
                torch.set_num_threads(previous)
            yield from zip(unit, outcomes)

    def _run_pool(self, units: list[tuple[Trial, ...]], on_start: OnStart) -> Outcomes:
        pool = self._ensure_pool()
        waiting, running = list(reversed(units)), {}
        while waiting or running:
            while waiting and len(running) < self.workers:
                unit, device = waiting.pop(), self._next_device()
                for job in unit:
                    on_start(job, device)
                running[pool.submit(execute_unit, unit, device)] = unit
            done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
            for future in done:
                yield from zip(running.pop(future), future.result())

    def _ensure_pool(self) -> futures.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = futures.ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(self.threads, os.getpid()),
            )
        return self._pool

    def close(self) -> None:
        """Shut the process pool down (a later ``run`` starts a new one)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _init_worker(threads: int | None, parent: int | None = None) -> None:
    if threads is not None:
        torch.set_num_threads(threads)
    if parent is not None:  # a worker never outlives its driver (SIGKILL of the driver included)
        threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="parent-watch").start()


def _exit_with_parent(parent: int, interval: float = 1.0) -> None:
    """End this process within ``interval`` seconds of its parent's death (it is then re-parented)."""
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os._exit(1)


class RayExecutor:
    """Trials as Ray core tasks, each with a fraction of a GPU.

    Parameters
    ----------
    address : str or None
        ``None`` starts a private local Ray instance; ``"auto"`` joins the cluster
        this machine belongs to; ``"ray://host:10001"`` connects through Ray client.
    gpus_per_trial : float
        GPUs per trial; fractions pack several trials on one GPU. Ray sets each
        task's visible devices, and the trial trains on ``cuda`` when it got one.
    cpus_per_trial : float
        CPUs per trial.
    max_in_flight : int or None
        Units (trials or stacks) submitted at once; default the number the cluster can run together.
    stack : int
        Most trials the driver may put in one stack (one Ray task trains the stack).
    **init_kwargs
        Extra ``ray.init`` arguments (e.g. ``num_cpus=1`` for a small local instance).
    """

    def __init__(self, address: str | None = None, gpus_per_trial: float = 0.0,
                 cpus_per_trial: float = 1.0, max_in_flight: int | None = None, stack: int = 1,
                 **init_kwargs: Any):
        import ray

        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            init_kwargs.setdefault("include_dashboard", False)
            ray.init(address=address, **init_kwargs)
        self._remote = ray.remote(num_gpus=gpus_per_trial, num_cpus=cpus_per_trial)(_ray_unit)
        self.max_in_flight = max_in_flight or self._capacity(gpus_per_trial, cpus_per_trial)
        self.stack = stack

    def _capacity(self, gpus_per_trial: float, cpus_per_trial: float) -> int:
        """Trials the cluster can run at once with these resources each."""
        resources = self._ray.cluster_resources()
        slots = resources.get("CPU", 1) / cpus_per_trial if cpus_per_trial else float("inf")
        if gpus_per_trial:
            slots = min(slots, resources.get("GPU", 0) / gpus_per_trial)
        return max(1, int(slots))

    def run(self, jobs: Sequence[Unit], on_start: OnStart = _no_op) -> Outcomes:
        """Yield ``(job, outcome)`` for every job (of every stack), in order of completion."""
        waiting, running = list(reversed(_units(jobs))), {}
        while waiting or running:
            while waiting and len(running) < self.max_in_flight:
                unit = waiting.pop()
                for job in unit:
                    on_start(job, "ray")
                running[self._remote.remote(unit)] = unit
            done, _ = self._ray.wait(list(running), num_returns=1)
            for ref in done:
                yield from zip(running.pop(ref), self._ray.get(ref))

    def close(self) -> None:
        """Shut Ray down if this executor started it."""
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _ray_unit(unit: tuple[Trial, ...]) -> list[dict[str, Any]]:
    """A trial or a stack inside a Ray task: on the GPU Ray assigned, else on the CPU."""
    import ray

    device = "cuda" if ray.get_gpu_ids() else "cpu"
    return execute_unit(unit, device)
