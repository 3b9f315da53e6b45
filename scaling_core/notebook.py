"""Helpers for chapter notebooks: glue measured numbers into the prose."""

from __future__ import annotations

import numbers

import numpy as np


def plain(value):
    """Convert numpy scalars to Python numbers (numpy 2's repr ``np.float64(...)`` breaks formatting)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return value


def glue(name: str, value, display: bool = False):
    """Store ``value`` under ``name`` for ``{glue:text}`name:.3f``` in the chapter's prose.

    A thin wrapper around :func:`myst_nb.glue` that stores plain Python numbers.
    """
    from myst_nb import glue as myst_glue

    return myst_glue(name, plain(value), display=display)


def run_command(chapter: str, profile: str, seed: int, **parameters) -> str:
    """The command that re-executes ``chapter`` with the given profile and seed.

    Further ``parameters`` (e.g. ``dataset="cifar10"``) are appended as ``-p name value``
    unless they are None or empty.
    """
    extra = "".join(f" -p {name} {value}" for name, value in parameters.items() if value not in (None, ""))
    return f"scaling-core chapter {chapter} -p profile {profile} -p seed {seed}{extra}"


def glue_command(chapter: str, profile: str, seed: int, name: str = "run_command", **parameters):
    """Glue the re-run command as Markdown code, for captions: {glue:md}`run_command`."""
    from IPython.display import Markdown
    from myst_nb import glue as myst_glue

    command = run_command(chapter, profile, seed, **parameters)
    return myst_glue(name, Markdown(f"`{command}`"), display=False)
