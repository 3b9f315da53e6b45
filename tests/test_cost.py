"""The cost model: trial plans like the engine's, step counts from the trainer's rules, counted FLOPs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from scaling_core import cost, paths, step_counts
from scaling_core.cli import main
from scaling_core.experiments import methodology
from scaling_core.experiments.contract import configure
from scaling_core.sweep.run import run_sweep
from scaling_core.sweep.trainer import TrainerSettings


def test_planned_trials_match_the_engines_plan_on_a_real_sweep(tmp_path):
    (spec,) = methodology.sweep_specs(configure("methodology", "smoke"))
    trials = run_sweep(spec, tmp_path / "s.sqlite", progress=False)
    planned = cost.planned_trials(spec)
    per_shard = trials.groupby("shard").size().to_dict()
    planned_per_shard = {}
    for trial in planned:
        planned_per_shard[trial.shard] = planned_per_shard.get(trial.shard, 0) + trial.samples
    assert planned_per_shard == per_shard
    assert [t.size for t in planned if t.shard == 0] == sorted(spec.searches[0].grid)


def test_trial_steps_follow_early_stopping_and_the_caps():
    shapes = cost.Shapes("mnist1d", 1, 100)
    trainer = TrainerSettings(max_epochs=300, max_steps=10**6, patience=8, min_eval_steps=20)
    big = cost.PlannedTrial("s", 5, 65536, "mlp", 64, 3, (32,))
    steps, evaluations = cost.trial_steps(big, shapes, trainer, 32)
    assert steps == (cost.EVALUATIONS_TO_BEST + 8) * 2048 and evaluations == cost.EVALUATIONS_TO_BEST + 8
    small = cost.PlannedTrial("s", 0, 64, "mlp", 64, 3, (32,))
    assert cost.trial_steps(small, shapes, trainer, 32)[0] == (cost.EVALUATIONS_TO_BEST + 8) * 20
    capped = TrainerSettings(max_epochs=3, max_steps=10**6, patience=8, min_eval_steps=20)
    assert cost.trial_steps(big, shapes, capped, 32)[0] == 3 * 2048
    assert cost.trial_steps(big, shapes, trainer, 32, to_best=20)[0] == (20 + 8) * 2048
    word = cost.Shapes("word", 30, 1000, vocab=100, steps=80)
    assert cost.units_per_step(word, 20) == 1600  # a word LM's step is rows x unroll words of its stream


def test_a_chapter_measured_median_of_evaluations_to_best_replaces_the_default():
    from scaling_core.experiments import nmt

    assert cost.evaluations_to_best(methodology) == cost.EVALUATIONS_TO_BEST  # the default's own source
    assert cost.evaluations_to_best(nmt) == nmt.EVALUATIONS_TO_BEST != cost.EVALUATIONS_TO_BEST


def _trial(steps, best, stop="early_stop"):
    return {"history": [{"step": s} for s in steps], "best_step": best, "stop_reason": stop}


def test_evaluations_to_best_count_the_best_and_its_predecessors_and_skip_capped_trials():
    import pandas as pd

    trials = pd.DataFrame([
        _trial([10, 20, 30, 40, 50], 20),  # 2 evaluations up to and including the best
        _trial([10, 20, 30, 40, 50, 60], 30),  # 3
        _trial([10, 20, 30, 40, 50, 60, 70], 50),  # 5
        _trial([10, 20, 30, 40], 40, stop="max_steps"),  # capped: its best is not where it stopped
    ])
    assert cost.measured_evaluations_to_best(trials) == 3
    assert cost.measured_evaluations_to_best(trials.iloc[:2]) == 3  # median 2.5, rounded up
    with pytest.raises(ValueError, match="trials"):
        cost.measured_evaluations_to_best(trials.iloc[3:])


@pytest.mark.parametrize("chapter", ["nmt", "word_lm", "char_lm", "image", "speech", "methodology"])
def test_each_chapters_evaluations_to_best_is_measured_on_its_committed_store(chapter, monkeypatch):
    import importlib

    monkeypatch.setenv(paths.RESULTS_ENV, str(paths.REPO_ROOT / "results"))  # the committed stores
    module = importlib.import_module(f"scaling_core.experiments.{chapter}")
    profile = "paper" if chapter == "methodology" else "laptop"  # the default's own source
    path = module.store(configure(chapter, profile))
    assert cost.evaluations_to_best(module) == cost.store_evaluations_to_best(path)


def test_counted_flops_are_a_quadratic_in_the_width_and_kernels_do_not_grow():
    shapes = cost.Shapes("mnist1d", 1, 100)
    model, batch, loss_fn = step_counts.workload(shapes, "mlp", 200, cost.COUNT_BATCH)
    with FlopCounterMode(display=False) as direct:
        loss_fn(model, *batch).backward()
    counted = cost.count_step(shapes, "mlp", 200)
    assert counted.flops == pytest.approx(direct.get_total_flops(), rel=1e-6)  # a 2-layer MLP is exactly quadratic
    assert counted.kernels == cost.count_step(shapes, "mlp", 8).kernels > 0


def test_step_prices_use_the_fitted_constants_and_slower_modes_where_a_family_was_not_measured():
    shapes = cost.Shapes("speech", 1.4, 100, steps=20, target_steps=5, features=41, ds2_layers=1, conv_channels=4)
    count = cost.StepCount(kernels=100, loop_kernels=1000, flops=1e9)
    fit = cost.calibration()["devices"]["h200"]
    assert "ds2" not in fit["graph"]["c_op"]  # DS2 was never captured in a graph ...
    graph = cost.step_seconds(count, shapes, "ds2", 16, "h200", "graph")
    assert graph == cost.step_seconds(count, shapes, "ds2", 16, "h200", "one")  # ... so it is priced eagerly
    one = fit["one"]
    assert graph == pytest.approx(one["c_op"]["ds2"] * 100 + 1e9 * 8 / one["rate"])
    stacked = cost.step_seconds(count, shapes, "ds2", 16, "h200", "stack", members=4)
    assert stacked == pytest.approx(fit["stack"]["c_op"]["ds2"] * 1000 + 4e9 * 8 / fit["stack"]["rate"])


def test_estimate_adds_up_per_sweep_and_family():
    frame = cost.estimate("methodology", "smoke", "mnist1d", workers=1)
    assert list(frame["family"]) == ["mlp"] and frame["trials"].iloc[0] == 12
    assert (frame[["steps", "flops", "cpu_minutes", "h200_minutes"]] > 0).all(axis=None)
    assert frame["h200_minutes"].iloc[0] < frame["cpu_minutes"].iloc[0] * 10


def test_cost_command_prints_the_table_and_rejects_unknown_parameters(capsys):
    assert main(["cost", "methodology", "-p", "profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "methodology at smoke: 12 trials" in out and "H200" in out
    assert main(["cost", "methodology", "-p", "colour", "red"]) == 2
    assert "parameter 'colour'" in capsys.readouterr().err
    assert main(["cost", "methodology", "-p", "profile", "huge"]) == 2
    assert "parameter 'profile'" in capsys.readouterr().err


def test_a_translation_profiles_layers_reach_the_counted_step():
    from scaling_core.experiments import nmt

    def shapes(profile):
        config = configure("nmt", profile)
        return step_counts.chapter_shapes("nmt", config, nmt.sweep_specs(config)[0])

    laptop, paper = shapes("laptop"), shapes("paper")
    assert (laptop.encoder_layers, laptop.decoder_layers) == (1, 1)
    assert (paper.encoder_layers, paper.decoder_layers) == (2, 2)
    one, two = cost.count_step(laptop, "seq2seq", 64), cost.count_step(paper, "seq2seq", 64)
    assert one.flops < 0.8 * two.flops and one.kernels < two.kernels  # a layer fewer on each side
