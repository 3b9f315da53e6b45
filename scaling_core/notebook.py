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


def glue_verdict(name: str, verdict, what: str | None = None) -> None:
    """Glue a curve's verdict for the prose: ``{name}_verdict`` (its text) and ``{name}_claim``.

    ``verdict`` is a :class:`~scaling_core.experiments.verdicts.Verdict` or
    :class:`~scaling_core.experiments.verdicts.SizeVerdict`; the claim is the one sentence
    the data allow (:func:`~scaling_core.experiments.verdicts.claim`,
    :func:`~scaling_core.experiments.verdicts.size_claim`), about ``what``.
    """
    from scaling_core.experiments import verdicts

    if isinstance(verdict, verdicts.SizeVerdict):
        sentence = verdicts.size_claim(verdict, what or "The best model's size")
    else:
        sentence = verdicts.claim(verdict, what or "The learning curve")
    glue(f"{name}_verdict", verdict.text)
    glue(f"{name}_claim", sentence)
