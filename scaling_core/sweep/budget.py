"""Time budgets for sweeps: stop cleanly, keep what finished, resume next time.

A budget (:func:`time_budget` around any code that runs sweeps, or ``$SCALING_CORE_DEADLINE``
for processes started inside one, such as papermill kernels) is a ``time.time()``
deadline. Trials running at the deadline stop and go back to ``pending``, every finished
trial stays, no later shard starts, and :class:`TimeBudgetExceeded` is raised; the next
run resumes where this one stopped.
"""

from __future__ import annotations

import contextlib
import os
import time

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
