"""Pages of the book that say how it was made: which run each chapter comes from.

A book is assembled from executed notebooks that need not come from one run: a chapter
can be re-executed alone (another seed, the smoke profile, a real dataset) into a folder
that already holds the others, and a ``paper`` book shows a chapter at ``laptop`` when its
``paper`` stores are missing. These helpers keep that visible:

- :func:`write_profiles` writes ``book/profiles.md``, the table of each chapter's profile
  (included in the intro page);
- :func:`mark_outliers` puts a banner on every page executed at another profile or seed
  than most of the book;
- :func:`write_placeholders` gives a chapter that was never executed a page saying so, so
  that one chapter can be rebuilt into a fresh folder.
"""

from __future__ import annotations

import ast
import json
from collections import Counter
from pathlib import Path

BANNER_TAG = "run-banner"
"""Tag of the banner cell :func:`mark_outliers` adds (and replaces on the next build)."""
PLACEHOLDER_MARK = "<!-- placeholder page: scaling_core.book_pages -->"


def executed_parameters(path: str | Path) -> dict:
    """The parameters an executed notebook ran with: its defaults, then papermill's injected values.

    The defaults are what ``papermill.inspect_notebook`` reads from the cell tagged
    ``parameters`` (``profile = "laptop"``); papermill records the values it injected in
    the notebook's metadata.
    """
    import papermill

    values = {}
    for name, found in papermill.inspect_notebook(str(path)).items():
        try:
            values[name] = ast.literal_eval(found["default"])
        except (ValueError, SyntaxError):
            pass  # a default that is not a literal
    injected = json.loads(Path(path).read_text()).get("metadata", {}).get("papermill", {}).get("parameters")
    values.update(injected or {})
    return values


def executed_profiles(keys: list[str], book_root: Path, known: dict | None = None) -> list[tuple[str, str, str]]:
    """``(key, profile, why)`` per chapter: from ``known`` (this build's), else from ``book/<key>.ipynb``."""
    rows = []
    for key in keys:
        if known and key in known:
            rows.append((key, *known[key]))
            continue
        path = Path(book_root) / "book" / f"{key}.ipynb"
        used = str(executed_parameters(path).get("profile", "laptop")) if path.exists() else "not executed"
        rows.append((key, used, ""))
    return rows


def write_profiles(rows: list[tuple[str, str, str]], book_root: Path) -> Path:
    """``book/profiles.md``: one row per chapter with the profile its figures come from and why."""
    lines = ["| Chapter | Figures from profile | Why |", "|---|---|---|"]
    lines += [f"| {key} | `{used}` | {why or 'as asked'} |" for key, used, why in rows]
    path = Path(book_root) / "book" / "profiles.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _run_of(parameters: dict) -> tuple:
    return parameters.get("profile", "laptop"), parameters.get("seed", 0)


def mark_outliers(keys: list[str], book_root: Path) -> list[str]:
    """Put a banner on each executed page whose profile or seed differs from most of the book's.

    The book's run is the most common ``(profile, seed)`` among the executed chapters (the
    first chapter's on a tie). A page of another run gets a warning cell after its title
    naming both runs and the command that re-executes it like the rest; a page of the
    book's run loses any banner an earlier build gave it. Returns the keys marked.
    """
    import nbformat

    from scaling_core.notebook import run_command

    paths = {key: Path(book_root) / "book" / f"{key}.ipynb" for key in keys}
    runs = {key: _run_of(executed_parameters(path)) for key, path in paths.items() if path.exists()}
    if not runs:
        return []
    book_run = Counter(runs.values()).most_common(1)[0][0]  # on a tie, the first chapter's run
    marked = []
    for key, run in runs.items():
        notebook = nbformat.read(paths[key], as_version=4)
        cells = [c for c in notebook.cells if BANNER_TAG not in c.metadata.get("tags", [])]
        changed = len(cells) != len(notebook.cells)
        if run != book_run:
            command = run_command(key, *book_run)
            text = (f"```{{admonition}} Executed at another profile or seed\n:class: warning\n"
                    f"This page was executed at profile `{run[0]}` with seed {run[1]}; the rest of the "
                    f"book at profile `{book_run[0]}` with seed {book_run[1]}. Its figures and numbers come "
                    f"from its own run. To match the book: `{command}`.\n```")
            banner = nbformat.v4.new_markdown_cell(text, metadata={"tags": [BANNER_TAG]})
            title = next((i for i, c in enumerate(cells) if c.cell_type == "markdown"), -1)
            cells.insert(title + 1, banner)
            changed, marked = True, marked + [key]
        if changed:
            notebook.cells = cells
            nbformat.write(notebook, paths[key])
    return marked


def write_placeholders(keys: list[str], book_root: Path, root: Path) -> list[str]:
    """A page ``book/<key>.md`` for each chapter of ``keys`` with no executed notebook.

    The page keeps the chapter's title and says how to execute it, so a book with one chapter
    re-executed into a fresh folder builds; a placeholder left by an earlier build is removed
    once the chapter's notebook exists. Returns the keys given a placeholder.
    """
    written = []
    for key in keys:
        page = Path(book_root) / "book" / f"{key}.md"
        if (Path(book_root) / "book" / f"{key}.ipynb").exists():
            if page.exists() and PLACEHOLDER_MARK in page.read_text():
                page.unlink()
            continue
        source = Path(root) / "chapters" / f"{key}.md"
        titles = [line for line in source.read_text().splitlines() if line.startswith("# ")] if source.exists() else []
        title = titles[0] if titles else f"# {key}"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(f"{PLACEHOLDER_MARK}\n{title}\n\nThis chapter was not executed in this build of the book. "
                        f"Execute it with `scaling-core chapter {key}` (add `-p profile smoke` for a quick run) "
                        "and build the book again.\n")
        written.append(key)
    return written
