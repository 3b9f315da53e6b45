"""Regenerate environment.yml from pyproject.toml's pinned set (tests/test_environment.py checks it)."""

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
extras = project["optional-dependencies"]
pins = project["dependencies"] + extras["book"] + extras["test"]
lines = [
    "# Conda environment with the same pinned set as pyproject.toml (tests/test_environment.py checks it;",
    "# regenerate with `python .ci/write_environment.py`).",
    "# conda env create -f environment.yml && conda activate scaling-core",
    "name: scaling-core", "channels:", "  - conda-forge", "dependencies:", "  - python=3.11", "  - pip",
    "  - pip:", *[f"      - {pin}" for pin in pins], "      - -e .",
]
(REPO / "environment.yml").write_text("\n".join(lines) + "\n")
