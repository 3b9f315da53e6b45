"""Bring a results store written before trial identity was made portable up to date, keeping its keys.

Stores written before this module existed record a sweep by its spec's JSON text, whose
task arguments could hold a ``profile`` (the language models), a model grid
(``families``, ``widths``) or a ``data_dir``; they keep no configuration keys, no sweep
memberships and no files per code version. :func:`migrate_store` rewrites what identifies
each sweep and leaves every trial, key and result as it was:

1. Each chapter sweep (from the chapter contract's ``sweep_specs``) is matched to its
   record by name. Everything but the task arguments must be equal, and the task built
   with today's arguments must load the same data: its fingerprint must equal the one
   stored with every trial of the record. Then the record's spec becomes today's.
2. Each trial gets its ``config_key`` (configuration and data, without the code), from its
   stored configuration with today's task arguments.
3. Each record's trials are listed as members of its sweep.
4. Each code version that made trials is recorded with the hash of each of its files, read
   from the git commit stored with the trials, once that commit's sources are shown to hash
   (the old way: file names and bytes) to the stored version. Staleness then names the files
   that changed since (:func:`~scaling_core.sweep.records.staleness`).

Run it as ``python -m scaling_core.sweep.migrate results/<chapter>/<dataset>-<profile>.sqlite ...``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from scaling_core.experiments.contract import all_sweep_specs, chapter_module, configure
from scaling_core.sweep.keys import (
    ENGINE_MODULES, _closure, _commit_reader, canonical, code_files, config_key, git_commit,
)
from scaling_core.sweep.spec import SweepSpec, spec_identity
from scaling_core.sweep.store import Store, _add_columns

MOVED_ARGUMENTS = frozenset({"profile", "families", "widths", "data_dir"})
"""Task arguments that no longer exist: a profile (now the values it stood for) and model grids."""


def legacy_version(module: str, commit: str) -> str:
    """The code version as first computed (file names and bytes of the import closure) at ``commit``."""
    read = _commit_reader(commit)
    paths: set[str] = set()
    for name in (*ENGINE_MODULES, module):
        paths |= set(_closure(name, read))
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(Path(path).name.encode())
        digest.update(read(path).encode())
    return digest.hexdigest()[:16]


def migrate_store(path: str | Path, log=print) -> dict[str, str]:
    """Migrate the store at ``results/<chapter>/<dataset>-<profile>.sqlite``; ``{sweep: outcome}``."""
    path = Path(path)
    chapter, (dataset, _, profile) = path.parent.name, path.stem.rpartition("-")
    config = configure(chapter, profile=profile, dataset=dataset)
    outcomes: dict[str, str] = {}
    with Store(path) as store:
        trials = store.to_frame()
        specs = all_sweep_specs(config, store)
        while specs:  # a sweep that follows from another's results is known once that one is migrated
            for spec in specs:
                outcomes[spec.name] = _migrate_sweep(store, spec, trials)
                log(f"{path.name} {spec.name}: {outcomes[spec.name]}")
            specs = [s for s in all_sweep_specs(config, store) if s.name not in outcomes]
        _record_code_versions(store, trials, config, chapter)
    return outcomes


def _migrate_sweep(store: Store, spec: SweepSpec, trials) -> str:
    record = store.completed_record(spec.name)
    if record is None:
        return "not complete: left as it is (a resumed run finds its trials by configuration)"
    if spec_identity(record["spec"]) == spec.identity() and "migrated" in record:
        return "already migrated"
    old = spec_identity(record["spec"])
    new = spec.identity()
    old_kwargs, new_kwargs = old["task"].pop("kwargs"), new["task"].pop("kwargs")
    if old != new:
        return "kept: the spec differs beyond its task arguments"
    kept = {k: v for k, v in old_kwargs.items() if k not in MOVED_ARGUMENTS}
    if any(new_kwargs.get(k) != v for k, v in kept.items()):
        return "kept: a task argument changed value"
    mine = trials[trials["key"].isin(record["keys"])]
    stored = set(mine["fingerprint"])
    fingerprint = spec.task.build().fingerprint
    if stored != {fingerprint}:
        return f"kept: today's task loads other data ({fingerprint} vs {sorted(stored)})"
    with store._write() as db:
        _add_columns(db)
        for row in mine.itertuples():
            config = json.loads(row.config)
            if canonical(config["task"]["kwargs"]) in (old_kwargs, new_kwargs):
                config["task"]["kwargs"] = dict(spec.task.kwargs)
                db.execute("UPDATE trials SET config_key = ? WHERE key = ?", (config_key(config, fingerprint), row.key))
        db.executemany("INSERT OR IGNORE INTO memberships VALUES (?, ?)", [(spec.name, key) for key in record["keys"]])
        record.update(spec=spec.identity(), migrated={
            "from_task_kwargs": old_kwargs, "git_commit": git_commit(),
            "why": "task arguments made explicit (no profile, no model grid, no data_dir); "
                   "same data by fingerprint, same shards, searches and trainer"})
        db.execute("UPDATE sweeps SET spec = ? WHERE name = ?", (json.dumps(record, sort_keys=True), spec.name))
    return f"migrated: {len(mine)} trials keep their keys"


def _record_code_versions(store: Store, trials, config, chapter: str) -> None:
    module = chapter_module(chapter).sweep_specs(config)[0].task.factory.partition(":")[0]
    for (version, commit), _ in trials.groupby(["code_version", "git_commit"]):
        if store.code_version_files(version) is not None:
            continue
        try:
            verified = legacy_version(module, commit) == version
        except ValueError:  # the commit is not in this repository
            verified = False
        files: dict[str, Any] | None = code_files(module, commit=commit) if verified else None
        if files is not None:
            store.add_code_version(version, files, commit)


def main(argv: list[str] | None = None) -> int:
    for path in (sys.argv[1:] if argv is None else argv):
        migrate_store(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
