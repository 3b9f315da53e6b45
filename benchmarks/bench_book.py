"""How long the book takes to build from the committed results stores, chapter by chapter.

Executes every chapter of ``_toc.yml`` (or ``--chapters``) at a profile (default ``laptop``)
into a scratch folder, each in its own ``scaling-core chapter`` process (papermill and its
kernel), then compiles the HTML there with Jupyter Book, and prints one table:

- per chapter: the profile it ran at, wall seconds and CPU seconds (user + system of the
  process and its kernel, from ``wait4``: a fair number on a shared machine, where wall
  time is noisy);
- the chapters' total (wall from the first start to the last end, and summed CPU), the
  HTML build, and the whole build.

``--jobs N`` runs the chapters as ``scaling-core book`` does with ``N`` workers
(:func:`scaling_core.book.execution_order`, longest first). ``--cold`` points
``$SCALING_CORE_CACHE`` at an empty folder, so cached fits are recomputed (the first build
on a fresh machine); without it the user's cache is used, as ``make book`` does.
Nothing is trained: a chapter whose stores are complete only reads them. The results
stores are read, never written; the executed notebooks go to the scratch folder.

Usage: ``python benchmarks/bench_book.py [--profile laptop] [--jobs 2] [--cold]
[--chapters implications ...] [--out DIR] [--no-html]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scaling_core import book  # noqa: E402
from scaling_core.book import build_html, chapter_profile, stage_book, toc_chapters  # noqa: E402
from scaling_core.book_pages import write_profiles  # noqa: E402

DEFAULT_JOBS = getattr(book, "DEFAULT_JOBS", 1)  # (an older checkout, measured for comparison, has none of these)
execution_order = getattr(book, "execution_order", list)
kernel_threads = getattr(book, "kernel_threads", lambda jobs: {})


def run_measured(command: list[str], env: dict | None = None) -> tuple[int, float, float, str]:
    """Run ``command``; return its exit status, wall seconds, CPU seconds (with children) and output tail."""
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        _, status, usage = os.wait4(process.pid, 0)  # this child's and its reaped children's usage
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        log.seek(0)
        tail = log.read().decode(errors="replace").strip().splitlines()[-3:]
    return process.returncode, wall, usage.ru_utime + usage.ru_stime, " | ".join(tail)


def execute(keys: list[str], profile: str, out: Path, jobs: int, env: dict) -> tuple[list[dict], float]:
    """Execute ``keys`` with ``jobs`` workers; one row per chapter, and the wall time of all of them."""
    scaling_core = str(Path(sys.executable).parent / "scaling-core")
    rows, lock = {}, threading.Lock()

    def one(key: str) -> None:
        used, _ = chapter_profile(key, profile)
        status, wall, cpu, tail = run_measured(
            [scaling_core, "chapter", key, "-p", "profile", used, "--output-dir", str(out / "book")], env)
        with lock:
            rows[key] = {"chapter": key, "profile": used, "wall_s": wall, "cpu_s": cpu,
                         "status": "ok" if status == 0 else f"failed ({tail})"}
            print(f"  {key:<13} {wall:7.1f} s wall {cpu:7.1f} s CPU  {rows[key]['status']}", flush=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, execution_order(keys) if jobs > 1 else keys))
    return [rows[k] for k in keys], time.perf_counter() - start


def html(keys: list[str], rows: list[dict], out: Path) -> tuple[float, float]:
    """Stage the book in ``out`` beside the executed notebooks and build its HTML; wall and CPU seconds."""
    stage_book(out)
    write_profiles([(r["chapter"], r["profile"], "") for r in rows], out)
    before = os.times()
    start = time.perf_counter()
    build_html(out)
    after = os.times()
    cpu = sum(getattr(after, f) - getattr(before, f) for f in ("user", "system", "children_user", "children_system"))
    return time.perf_counter() - start, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="laptop")
    parser.add_argument("--chapters", nargs="*", default=None, help="chapter keys (default: every chapter of _toc.yml)")
    parser.add_argument("--jobs", type=int, default=1, help=f"chapters at once (scaling-core book uses {DEFAULT_JOBS})")
    parser.add_argument("--cold", action="store_true", help="an empty $SCALING_CORE_CACHE (no cached fits)")
    parser.add_argument("--out", default=None, help="scratch folder (default: a new temporary one)")
    parser.add_argument("--no-html", action="store_true", help="execute the chapters only")
    args = parser.parse_args(argv)

    keys = args.chapters or toc_chapters()
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-book-"))
    env = {**os.environ, **kernel_threads(max(1, args.jobs))}  # the kernels' threads of `scaling-core book`
    if args.cold:
        env["SCALING_CORE_CACHE"] = tempfile.mkdtemp(prefix="bench-book-cache-")
    print(f"profile {args.profile}, {args.jobs} job(s), {'cold' if args.cold else 'user'} cache, "
          f"{os.cpu_count()} cores, scratch {out}", flush=True)
    start = time.perf_counter()
    rows, chapters_wall = execute(keys, args.profile, out, max(1, args.jobs), env)
    html_wall, html_cpu = (0.0, 0.0) if args.no_html else html(keys, rows, out)
    total_wall = time.perf_counter() - start

    print(f"\n{'chapter':<14}{'profile':<9}{'wall s':>9}{'CPU s':>9}  status")
    for row in rows:
        print(f"{row['chapter']:<14}{row['profile']:<9}{row['wall_s']:9.1f}{row['cpu_s']:9.1f}  {row['status']}")
    chapters_cpu = sum(r["cpu_s"] for r in rows)
    print(f"{'chapters':<14}{'':<9}{chapters_wall:9.1f}{chapters_cpu:9.1f}  ({args.jobs} job(s))")
    if not args.no_html:
        print(f"{'html':<14}{'':<9}{html_wall:9.1f}{html_cpu:9.1f}")
    print(f"{'total':<14}{'':<9}{total_wall:9.1f}{chapters_cpu + html_cpu:9.1f}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
