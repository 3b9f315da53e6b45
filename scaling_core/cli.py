"""The ``scaling-core`` command line.

``scaling-core chapter chapters/counting.md -p profile smoke -p seed 3``
    Execute one chapter with papermill parameters into ``book/``.
``scaling-core book --profile laptop``
    Execute every chapter and build the HTML book into ``_build/html``.
``scaling-core sweep ...``
    Run or resume a learning-curve sweep (see ``scaling-core sweep --help``).
``scaling-core cost nmt -p profile paper``
    Planned trials, FLOPs and estimated minutes of a chapter's sweeps on this CPU and one H200.
``scaling-core pending --profile paper``
    The chapters whose sweeps at a profile are not complete yet.
``scaling-core run-pending --profile paper --device cuda --budget 510 --out DIR``
    Run the next pending chapters for at most ``--budget`` seconds, stores into ``DIR``.
``scaling-core list``
    The chapters, the datasets each takes, and which results stores exist and are complete.
``scaling-core --version`` (also ``python -m scaling_core``)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from scaling_core.profiles import PROFILES, ParameterError


def parse_parameters(pairs: list[list[str]] | None) -> dict:
    """``[["seed", "3"], ...]`` -> ``{"seed": 3}``; values are read as YAML, like papermill's ``-p``."""
    return {name: yaml.safe_load(value) for name, value in pairs or []}


def _show_progress() -> None:
    """Chapters' kernels inherit this: each sweep shows its trials done and ETA on this terminal."""
    import os

    from scaling_core.experiments.curves import PROGRESS_ENV

    os.environ.setdefault(PROGRESS_ENV, "1")


def _chapter(args) -> int:
    from scaling_core.book import execute_chapter
    from scaling_core.sweep.budget import time_budget

    _show_progress()

    with time_budget(args.time_budget):  # the kernel inherits the deadline through the environment
        path = execute_chapter(args.source, parse_parameters(args.parameters), args.output_dir)
    print(f"executed -> {path}")
    return 0


def _cost(args) -> int:
    from scaling_core.cost import estimate, format_estimate

    parameters = parse_parameters(args.parameters)
    unknown = sorted(set(parameters) - {"profile", "dataset", "workers"})
    if unknown:
        raise ParameterError(unknown[0], parameters[unknown[0]], "'profile', 'dataset', 'workers'")
    profile = parameters.get("profile", "laptop")
    frame = estimate(args.chapter, profile, parameters.get("dataset"), parameters.get("workers"))
    print(format_estimate(frame, args.chapter, profile))
    return 0


def _pending(args) -> int:
    from scaling_core.pending import format_status, pending

    rows = pending(args.profile, seed=args.seed)
    print(format_status(rows) if rows else f"every queued chapter's {args.profile} sweeps are complete")
    return 0


def _run_pending(args) -> int:
    from scaling_core.pending import QUEUE, run_pending

    wanted = set(args.chapters or ())  # chapter keys, or chapter/dataset
    queue = tuple(q for q in QUEUE if not wanted or q[0] in wanted or f"{q[0]}/{q[1]}" in wanted)
    rows = run_pending(args.profile, args.device, args.budget, args.out, queue, args.seed, results=args.source)
    for row in rows:
        print(f"{row['chapter']:<12} {row['dataset']:<9} {row['seconds']:>7.1f} s  trials {row['trials_before']} -> "
              f"{row['trials_after']} ({row['pending_after']} pending)  {row['outcome']}")
    print(f"stores -> {args.out}/results" if rows else "nothing pending in the queue")
    return 0


def _list(args) -> int:
    from scaling_core.catalog import catalog, format_catalog

    print(format_catalog(catalog(tuple(args.profiles) if args.profiles else PROFILES)))
    return 0


def plain(text: str) -> str:
    """Help text without reStructuredText markup (double backticks, ``:func:`` roles)."""
    import re

    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "")


def version() -> str:
    """The installed package's version (the source tree's when it is not installed)."""
    from importlib import metadata

    try:
        return metadata.version("scaling-core")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _book(args) -> int:
    from scaling_core.book import build_book

    _show_progress()

    html = build_book(
        profile=args.profile,
        chapters=args.chapters,
        parameters=parse_parameters(args.parameters),
        staging=args.staging,
        execute=not args.no_execute,
        jobs=args.jobs,
    )
    print(f"book -> {html / 'index.html'}")
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"got {text!r}; allowed: a positive number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    from scaling_core.experiments.contract import CHAPTER_PARAMETERS, CHAPTERS

    parser = argparse.ArgumentParser(prog="scaling-core", description=plain(__doc__.splitlines()[0]),
                                     epilog=plain("\n".join(__doc__.splitlines()[2:])),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"scaling-core {version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    chapter = sub.add_parser(
        "chapter", help="execute one chapter with papermill parameters",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(f"chapters: {', '.join(CHAPTERS)}\n"
                f"parameters (-p NAME VALUE): {', '.join(CHAPTER_PARAMETERS)}; profile is one of "
                f"{', '.join(PROFILES)}\n"
                "example: scaling-core chapter image -p profile smoke -p seed 3"))
    chapter.add_argument("source", help="chapter key (counting) or path (chapters/counting.md)")
    chapter.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append",
                         metavar=("NAME", "VALUE"), help="papermill parameter, e.g. -p profile smoke")
    chapter.add_argument("--output-dir", default=None, help="folder for the executed notebook (default book/)")
    chapter.add_argument("--time-budget", type=_seconds, default=None, metavar="SECONDS",
                         help="stop the chapter's sweeps cleanly after this long (a rerun resumes)")
    chapter.set_defaults(handler=_chapter)

    cost = sub.add_parser("cost", help="planned trials, FLOPs and minutes of a chapter's sweeps (CPU, one H200)")
    cost.add_argument("chapter", help="a chapter that trains sweeps: methodology, nmt, word_lm, char_lm, image, speech")
    cost.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append", metavar=("NAME", "VALUE"),
                      help="profile, dataset or workers, e.g. -p profile paper")
    cost.set_defaults(handler=_cost)

    queued = sub.add_parser("pending", help="chapters whose sweeps at a profile are not complete")
    queued.add_argument("--profile", default="paper", help=f"one of {', '.join(PROFILES)}")
    queued.add_argument("--seed", type=int, default=0)
    queued.set_defaults(handler=_pending)

    runner = sub.add_parser("run-pending", help="run the next pending chapters within a time budget")
    runner.add_argument("--profile", default="paper", help=f"one of {', '.join(PROFILES)}")
    runner.add_argument("--device", default="cuda", help="torch device")
    runner.add_argument("--budget", type=_seconds, required=True, help="seconds for all of it")
    runner.add_argument("--out", required=True, help="folder for the stores and summary.json")
    runner.add_argument("--chapters", nargs="*", default=None,
                        help="only these chapters (keys such as image, or image/mnist1d)")
    runner.add_argument("--from", dest="source", default=None,
                        help="folder of the stores to resume (default: the repository's results/)")
    runner.add_argument("--seed", type=int, default=0)
    runner.set_defaults(handler=_run_pending)

    listing = sub.add_parser("list", help="chapters, their datasets, and which results stores are complete")
    listing.add_argument("--profiles", nargs="*", default=None, help=f"some of {', '.join(PROFILES)} (default all)")
    listing.set_defaults(handler=_list)

    book = sub.add_parser("book", help="execute every chapter and build the HTML book")
    book.add_argument("--profile", default="laptop", help=f"one of {', '.join(PROFILES)}")
    book.add_argument("--chapters", nargs="*", default=None, help="chapter keys (default: all in _toc.yml)")
    book.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append",
                      metavar=("NAME", "VALUE"), help="extra papermill parameter for every chapter")
    book.add_argument("--staging", default=None, help="assemble and build the book in this folder")
    book.add_argument("--no-execute", action="store_true", help="build from the notebooks already in book/")
    book.add_argument("--jobs", type=int, default=None, metavar="N",
                      help="chapters executed at once when none trains (default 2; 1: one at a time)")
    book.set_defaults(handler=_book)

    try:
        from scaling_core.sweep import cli as sweep_cli
    except ImportError:
        sweep_cli = None
    if sweep_cli is not None and hasattr(sweep_cli, "add_parser"):
        sweep = sweep_cli.add_parser(sub)
        if sweep is not None and sweep.get_default("handler") is None:
            sweep.set_defaults(handler=sweep_cli.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; errors the user can fix are printed as one line and exit with status 2."""
    from scaling_core.book import ChapterError

    args = build_parser().parse_args(argv)
    try:
        return args.handler(args) or 0
    except (ParameterError, ChapterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
