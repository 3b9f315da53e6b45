"""Helpers for chapter notebooks: glue measured numbers into the prose."""

from __future__ import annotations

import numbers

import numpy as np


def plain(value):
    """Convert numpy scalars to Python numbers (numpy 2's repr ``np.float64(...)`` breaks formatting).

    An integral float becomes an int, so that a size glued without a format spec reads
    ``1024``, not ``1024.0`` (a spec such as ``:.1f`` still applies).
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return value


GLUE_KINDS = ("count", "number", "percent", "multiple")
"""Kinds :func:`glue` formats with :mod:`scaling_core.formatting` before storing."""


def formatted(value, kind: str, digits: int = 3) -> str:
    """``value`` as the prose should read it: a ``count`` (``1,024``), a ``number`` (3
    significant digits, no e-notation), a ``percent`` (of a share) or a data ``multiple``."""
    from scaling_core import formatting

    if kind == "count":
        return formatting.count(value)
    if kind == "number":
        return formatting.number(value, digits)
    if kind == "percent":
        return formatting.percent(value, digits)
    if kind == "multiple":
        return formatting.multiple(value, digits=digits)
    raise ValueError(f"parameter 'kind' got {kind!r}; allowed: {', '.join(GLUE_KINDS)}")


def glue(name: str, value, display: bool = False, kind: str | None = None):
    """Store ``value`` under ``name`` for ``{glue:text}`name:.3f``` in the chapter's prose.

    A thin wrapper around :func:`myst_nb.glue` that stores plain Python numbers; with a
    ``kind`` (:data:`GLUE_KINDS`) it stores the text :func:`formatted` makes of the value
    instead, for prose that uses it without a format spec (``{glue:text}`name```).
    """
    from myst_nb import glue as myst_glue

    stored = formatted(value, kind) if kind is not None else plain(value)
    return myst_glue(name, stored, display=display)


def figure(name: str, chart):
    """Show ``chart`` and glue it as ``name`` for a numbered figure of the book.

    The prose places it with a ``{glue:figure}`` directive whose ``:name:`` is ``name`` and
    refers to it by number with ``{numref}`name```. The chart's cell is tagged
    ``remove-output``, so the book shows it once, as the figure; the executed notebook keeps
    the output (its HTML and static SVG) where the cell ran. A chart helper's
    :class:`~scaling_core.charts.NoChart` or a plain sentence becomes a Markdown figure
    body: the figure number stays and says why nothing is drawn.
    """
    from IPython.display import Markdown
    from myst_nb import glue as myst_glue

    return myst_glue(name, Markdown(chart) if isinstance(chart, str) else chart, display=True)


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
