"""Model search: the grid, projected candidates, Monte Carlo optimizer draws, winners."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from scaling_core.sweep.run import best_per_shard, run_sweep
from scaling_core.sweep.spec import SweepSpec
from scaling_core.experiments.verdicts import pinned_winners
from scaling_core.sweep.search import (SearchSpec, bracket_size, candidate_sizes, independent_of_winners,
                                       plan_shard)
from scaling_core.sweep.task import TaskSpec
from scaling_core.sweep.trainer import TrainerSettings

MNIST1D = TaskSpec("scaling_core.tasks.mnist1d:mnist1d_task", {"n_train": 400, "n_val": 200})


def test_first_shard_tries_the_grid():
    spec = SearchSpec("mlp", grid=(32, 8, 16, 8))
    assert candidate_sizes(spec, None, None) == [8, 16, 32]


def test_candidates_project_the_previous_winner():
    spec = SearchSpec("mlp", grid=(8,), growth=(0.0, 0.5, 1.0))
    assert candidate_sizes(spec, previous_best=10, data_ratio=4) == [10, 20, 40]


def test_projections_are_clipped_and_deduplicated():
    spec = SearchSpec("mlp", grid=(8,), growth=(0.5, 1.0), max_size=30)
    assert candidate_sizes(spec, previous_best=20, data_ratio=4) == [30]
    fractional = SearchSpec("mlp", grid=(1.0,), growth=(1.0,), integer_sizes=False)
    assert candidate_sizes(fractional, previous_best=1.5, data_ratio=3) == [4.5]


def test_plan_draws_optimizer_settings_from_the_ranges():
    spec = SearchSpec("mlp", grid=(8, 16), samples=200, lr_range=(1e-4, 1e-2), batch_sizes=(16, 64))
    trials = plan_shard(spec, shard_index=0, seed=1)
    assert len(trials) == 400
    lrs = np.array([t.lr for t in trials])
    assert lrs.min() >= 1e-4 and lrs.max() <= 1e-2
    assert np.median(np.log10(lrs)) == pytest.approx(-3, abs=0.15)  # log-uniform: median 1e-3
    assert {t.batch_size for t in trials} == {16, 64}
    assert [t.sample for t in trials[:3]] == [0, 1, 2]


def test_plan_is_seeded():
    spec = SearchSpec("mlp", grid=(8,), samples=3)
    assert plan_shard(spec, 2, seed=0) == plan_shard(spec, 2, seed=0)
    assert plan_shard(spec, 2, seed=0) != plan_shard(spec, 2, seed=1)
    assert plan_shard(spec, 2, seed=0) != plan_shard(spec, 3, seed=0)


@pytest.mark.parametrize("kwargs, name", [
    ({"grid": ()}, "grid"), ({"growth": (3.0,)}, "growth"), ({"samples": 0}, "samples"),
    ({"lr_range": (0.1, 0.01)}, "lr_range"), ({"batch_sizes": (0,)}, "batch_sizes"),
])
def test_search_spec_rejects_bad_values(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SearchSpec("mlp", **{"grid": (8,), **kwargs})


def test_best_per_shard_takes_the_lowest_metric_then_the_smaller_model():
    frame = pd.DataFrame({
        "key": list("abcdef"), "shard": [0, 0, 0, 1, 1, 1], "family": ["mlp"] * 6,
        "size": [8, 16, 32, 16, 32, 64], "status": ["done"] * 5 + ["failed"],
        "val_error": [0.5, 0.4, 0.4, 0.3, 0.35, np.nan],
    })
    best = best_per_shard(frame, "val_error")
    assert best[["shard", "size"]].values.tolist() == [[0, 16], [1, 16]]


def test_sweep_projects_candidates_from_each_winner_and_keeps_every_trial(tmp_path):
    torch.set_num_threads(1)
    spec = SweepSpec(
        name="search", task=MNIST1D, shard_sizes=(50, 100, 200),
        searches=(SearchSpec("mlp", grid=(4, 16), growth=(0.0, 1.0), samples=1),),
        trainer=TrainerSettings(max_epochs=4, patience=2, min_eval_steps=2),
    )
    frame = run_sweep(spec, tmp_path / "s.sqlite", progress=False)
    assert len(frame) == 6 and (frame["status"] == "done").all()
    best = best_per_shard(frame, "val_error")
    for k in (1, 2):
        previous = best.loc[best["shard"] == k - 1, "size"].item()
        ratio = frame.loc[frame["shard"] == k, "shard_units"].iloc[0] / frame.loc[
            frame["shard"] == k - 1, "shard_units"].iloc[0]
        sizes = sorted(frame.loc[frame["shard"] == k, "size"])
        assert sizes == sorted({previous, round(previous * ratio)})


def test_a_diverging_family_fails_and_the_sweep_goes_on(tmp_path):
    torch.set_num_threads(1)
    spec = SweepSpec(
        name="diverge", task=MNIST1D, shard_sizes=(50, 100),
        searches=(SearchSpec("mlp", grid=(8,), growth=(1.0,), samples=1),
                  SearchSpec("cnn", grid=(4,), growth=(1.0,), samples=1, lr_range=(1e35, 1e36))),
        trainer=TrainerSettings(max_epochs=2, patience=2, min_eval_steps=2),
    )
    frame = run_sweep(spec, tmp_path / "s.sqlite", progress=False)
    cnn, mlp = frame[frame["family"] == "cnn"], frame[frame["family"] == "mlp"]
    assert (cnn["status"] == "failed").all() and len(cnn) == 2
    assert cnn["reason"].str.contains("non-finite").all()
    assert (mlp["status"] == "done").all() and mlp["shard"].tolist() == [0, 1]


def test_unknown_family_is_a_one_line_error(tmp_path):
    spec = SweepSpec(name="bad", task=MNIST1D, shard_sizes=(50,),
                     searches=(SearchSpec("transformer", grid=(8,)),))
    with pytest.raises(ValueError, match="'family' got 'transformer'; allowed: 'mlp', 'cnn'"):
        run_sweep(spec, tmp_path / "s.sqlite", progress=False)


def test_a_non_adam_optimizer_is_part_of_every_trial_and_validated():
    spec = SearchSpec(family="mlp", grid=(8,), optimizer="nesterov")
    assert all(t.optimizer == "nesterov" for t in plan_shard(spec, 0, seed=0))
    assert "optimizer" not in plan_shard(SearchSpec(family="mlp", grid=(8,)), 0, seed=0)[0].choice()  # Adam: as keys had it
    with pytest.raises(ValueError, match="'optimizer'.*adam, sgd, nesterov"):
        SearchSpec(family="mlp", grid=(8,), optimizer="lamb")


def test_a_full_search_tries_the_grid_on_every_shard_and_shares_keys_with_the_projected_one(tmp_path):
    full = SearchSpec("mlp", grid=(4, 16), mode="full", samples=1)
    assert candidate_sizes(full, previous_best=16, data_ratio=4) == [4, 16]
    assert "mode" in full.to_dict() and "mode" not in SearchSpec("mlp", grid=(4,)).to_dict()  # old specs keep their identity
    with pytest.raises(ValueError, match="'mode' got 'random'; allowed: projected, full"):
        SearchSpec("mlp", grid=(4,), mode="random")
    torch.set_num_threads(1)
    trainer = TrainerSettings(max_epochs=3, patience=2, min_eval_steps=2)
    store = tmp_path / "s.sqlite"
    grid = run_sweep(SweepSpec(name="grid", task=MNIST1D, shard_sizes=(50, 100, 200), searches=(full,),
                               trainer=trainer), store, progress=False)
    assert sorted(map(tuple, grid[["shard", "size"]].values.tolist())) == [(s, z) for s in range(3) for z in (4, 16)]
    projected = run_sweep(SweepSpec(name="projected", task=MNIST1D, shard_sizes=(50, 100, 200),
                                    searches=(SearchSpec("mlp", grid=(4, 16), growth=(0.0,), samples=1),),
                                    trainer=trainer), store, progress=False)
    assert set(projected["key"]) <= set(grid["key"])  # every projected trial was one of the grid's: none trained twice
    assert (projected["starts"] == 1).all()


def test_which_searches_need_no_winner():
    assert independent_of_winners(SearchSpec("mlp", grid=(4, 16), mode="full"))
    assert independent_of_winners(SearchSpec("mlp", grid=(16,), growth=(0.0,)))
    assert not independent_of_winners(SearchSpec("mlp", grid=(16,), growth=(0.0, 0.5)))
    assert not independent_of_winners(SearchSpec("mlp", grid=(4, 16), growth=(0.0,)))  # follows the winner
    assert not independent_of_winners(SearchSpec("mlp", grid=(16,), growth=(0.0,), max_size=8))  # clipped later
    assert not independent_of_winners(SearchSpec("mlp", grid=(2.5,), growth=(0.0,)))  # rounded later


def test_a_fixed_size_sweep_trains_every_shard_at_once_largest_first_with_the_projected_keys(tmp_path):
    torch.set_num_threads(1)
    trainer = TrainerSettings(max_epochs=3, patience=2, min_eval_steps=2)
    store = tmp_path / "s.sqlite"
    fixed = run_sweep(SweepSpec(name="fixed", task=MNIST1D, shard_sizes=(50, 100, 200),
                                searches=(SearchSpec("mlp", grid=(8,), growth=(0.0,), samples=1),),
                                trainer=trainer), store, progress=False)
    assert fixed["shard"].tolist() == [0, 1, 2] and (fixed["status"] == "done").all()
    assert fixed.sort_values("started_at")["shard"].tolist() == [2, 1, 0]  # no time budget: largest first
    # growth 1e-4 projects 8 onto 8 again but needs each winner: planned shard by shard, it finds every trial done
    projected = run_sweep(SweepSpec(name="projected", task=MNIST1D, shard_sizes=(50, 100, 200),
                                    searches=(SearchSpec("mlp", grid=(8,), growth=(1e-4,), samples=1),),
                                    trainer=trainer), store, progress=False)
    assert set(projected["key"]) == set(fixed["key"]) and (projected["starts"] == 1).all()


def test_a_bracketing_step_continues_the_spacing_of_the_two_largest_sizes_up_to_the_cap():
    spec = SearchSpec("mlp", grid=(8,), growth=(0.0, 0.25), bracket=2, max_size=100)
    assert bracket_size(spec, [64, 76]) == 90  # 76 * 76 / 64 = 90.25
    assert bracket_size(spec, [76, 90, 64]) == 100  # 107 clipped to the cap
    assert bracket_size(spec, [90, 100]) is None  # the cap: no larger model
    assert bracket_size(spec, [64]) is None  # one size: no spacing to continue
    assert bracket_size(SearchSpec("mlp", grid=(1.0,), integer_sizes=False, bracket=1), [1.0, 1.5]) == 2.25
    assert "bracket" in spec.to_dict() and "bracket" not in SearchSpec("mlp", grid=(4,)).to_dict()
    with pytest.raises(ValueError, match="'bracket' got -1; allowed: an integer >= 0"):
        SearchSpec("mlp", grid=(4,), bracket=-1)
    with pytest.raises(ValueError, match="'bracket' got 1"):
        SearchSpec("mlp", grid=(4,), mode="full", bracket=1)


class _BowlExecutor:
    """Trains nothing: a trial's validation error is a bowl in log2(size), lowest at ``best``."""

    def __init__(self, best: float):
        self.best = best

    def run(self, jobs, on_start=lambda job, device: None):
        for job in jobs:
            on_start(job, "cpu")
            error = 0.1 + (np.log2(job.size) - np.log2(self.best)) ** 2
            yield job, {"status": "done", "num_params": int(job.size), "stop_reason": "early_stop",
                        "metrics": {"val_error": error, "val_loss": error}}


def _sizes_by_shard(frame):
    return {int(k): sorted(group["size"].astype(int)) for k, group in frame.groupby("shard")}


def test_a_bracketing_search_tries_larger_sizes_until_its_winner_lies_inside(tmp_path):
    # the bowl's floor at 40: on shard 0 the grid's 16 wins, so 32 is tried (wins) and 64 (loses);
    # shard 1 projects 32 and 45 from 32, 45 wins and 63 loses; shard 2's 45 wins inside 45 and 64
    search = SearchSpec("mlp", grid=(8, 16), growth=(0.0, 0.5), samples=1, bracket=3)
    spec = SweepSpec(name="bracket", task=MNIST1D, shard_sizes=(50, 100, 200), searches=(search,))
    frame = run_sweep(spec, tmp_path / "s.sqlite", _BowlExecutor(best=40), progress=False)
    assert _sizes_by_shard(frame) == {0: [8, 16, 32, 64], 1: [32, 45, 63], 2: [45, 64]}
    best = best_per_shard(frame, "val_error")
    assert best["size"].tolist() == [32, 45, 45]
    again = run_sweep(spec, tmp_path / "s.sqlite", _BowlExecutor(best=40), progress=False)
    assert again["key"].tolist() == frame["key"].tolist()  # a completed sweep is read, with its extensions
    plain = run_sweep(replace(spec, name="plain", searches=(replace(search, bracket=0),)),
                      tmp_path / "p.sqlite", _BowlExecutor(best=40), progress=False)
    grid_keys = set(plain.loc[plain["shard"] == 0, "key"])
    assert len(grid_keys) == 2 and grid_keys < set(frame["key"])  # the grid's trials keep their keys
    assert best_per_shard(plain, "val_error")["size"].tolist() == [16, 23, 33]  # stuck at each shard's top


def test_a_bracketing_search_stops_at_its_extensions_or_the_cap(tmp_path):
    capped = SearchSpec("mlp", grid=(8, 16), growth=(0.0,), samples=1, bracket=3, max_size=20)
    once = SearchSpec("cnn", grid=(8, 16), growth=(0.0, 0.5), samples=1, bracket=1)
    spec = SweepSpec(name="stops", task=MNIST1D, shard_sizes=(50, 100), searches=(capped, once))
    frame = run_sweep(spec, tmp_path / "s.sqlite", _BowlExecutor(best=1000), progress=False)
    sizes = {family: _sizes_by_shard(group) for family, group in frame.groupby("family")}
    assert sizes["mlp"] == {0: [8, 16, 20], 1: [20]}  # the cap, then one size: nothing to continue
    assert sizes["cnn"] == {0: [8, 16, 32], 1: [32, 45, 63]}  # one extension a shard
    trials = frame.assign(status="done")
    best = best_per_shard(frame, "val_error")
    assert pinned_winners(best.assign(in_fit=True), trials).all()  # each still the largest its shard tried


def test_the_progress_bar_counts_a_bracketing_search_extensions(tmp_path, monkeypatch):
    import scaling_core.sweep.run as run_module

    bars = []

    class Recorded(run_module.tqdm):
        def close(self):
            bars.append((self.n, self.total))
            super().close()

    monkeypatch.setattr(run_module, "tqdm", Recorded)
    search = SearchSpec("mlp", grid=(8, 16), growth=(0.0, 0.5), samples=1, bracket=3)
    spec = SweepSpec(name="bar", task=MNIST1D, shard_sizes=(50, 100, 200), searches=(search,))
    frame = run_sweep(spec, tmp_path / "s.sqlite", _BowlExecutor(best=40), progress=True)
    assert bars[-1] == (len(frame), len(frame)) == (9, 9)  # planned 2 + 2 + 2, then 3 extensions
