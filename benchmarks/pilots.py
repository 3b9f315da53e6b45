"""What the pilot scripts share: their command line, the scratch store and the summary table.

A pilot (``benchmarks/pilot_<chapter>.py``) runs variants of a chapter's laptop settings
through the chapter's own sweeps into ``results/scratch/pilot-<chapter>-<variant>.sqlite``
(ignored by git), then prints each variant's winners and one Markdown summary table, whose
rows go into the chapter's reproduction notes.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parser(doc: str, variants: dict) -> argparse.ArgumentParser:
    """The pilots' command line: variant names (default ``current``) and ``--seed``."""
    command = argparse.ArgumentParser(description=doc.splitlines()[0])
    command.add_argument("variants", nargs="*", default=["current"], choices=sorted(variants))
    command.add_argument("--seed", type=int, default=0)
    return command


def scratch_store(chapter: str, variant: str) -> Path:
    """``results/scratch/pilot-<chapter>-<variant>.sqlite`` (its folder created)."""
    path = ROOT / "results" / "scratch" / f"pilot-{chapter}-{variant}.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def print_summary(headers: list[str], rows: list[list]) -> None:
    """Print a Markdown table: one header row, then ``rows`` (already formatted cells)."""
    print("\n| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def verdict_cells(verdict) -> list[str]:
    """A verdict's kind, decades of its power-law region and capped winners, as summary cells."""
    return [verdict.kind, f"{verdict.decades:.2f}", f"{verdict.capped}/{verdict.judged}"]


def variant_of(base: dict, **changes) -> dict:
    """A deep copy of a chapter's settings ``base`` with ``changes`` applied (top-level keys)."""
    settings = copy.deepcopy(base)
    settings.update(changes)
    return settings


def with_searches(base: dict, **changes) -> dict:
    """A deep copy of settings ``base`` (with a ``searches`` list) with ``changes`` applied to every search."""
    settings = copy.deepcopy(base)
    for search in settings["searches"]:
        search.update(changes)
    return settings


def converging_trainer(patience: int, max_epochs: int, max_steps: int, min_eval_steps: int = 25) -> dict:
    """Trainer settings that stop on validation: the caps given are meant to stay out of reach."""
    return {"max_epochs": max_epochs, "max_steps": max_steps, "patience": patience,
            "min_eval_steps": min_eval_steps, "grad_clip": 5.0}
