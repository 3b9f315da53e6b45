"""The shared chapter steps: winners per shard and what enters a power-law fit."""

import numpy as np
import pandas as pd

from scaling_core.experiments import curves


def _trials(errors_by_shard):
    rows = []
    for shard, (units, errors) in enumerate(errors_by_shard):
        for size, error in zip((8, 16), errors):
            rows.append({"key": f"{shard}-{size}", "shard": shard, "shard_units": units, "family": "mlp",
                         "size": size, "num_params": 10 * size, "status": "done", "val_error": error})
    return pd.DataFrame(rows)


def test_winners_are_the_best_trial_per_shard_and_zero_errors_stay_out_of_the_fit():
    trials = _trials([(100, (0.5, 0.4)), (200, (0.3, 0.35)), (400, (0.2, 0.25)), (800, (0.0, 0.1))])
    best = curves.winners(trials, "val_error", fit_from=200)
    assert best["size"].tolist() == [16, 8, 8, 8]
    assert best["in_fit"].tolist() == [False, True, True, False]
    assert best["region"].tolist() == [curves.SMALL_DATA, curves.FITTED, curves.FITTED, curves.UNMEASURED]


def test_fit_learning_curve_recovers_a_known_exponent_from_the_winners():
    units = np.array([100, 200, 400, 800, 1600])
    trials = _trials([(m, (2.0 * m**-0.3, 3.0 * m**-0.3)) for m in units])
    fit = curves.fit_learning_curve(curves.winners(trials, "val_error"), "val_error", bootstrap=0)
    assert abs(fit.beta_ - (-0.3)) < 1e-6 and abs(fit.alpha_ - 2.0) < 1e-4


def test_independent_sweeps_run_together_store_what_they_store_alone(tmp_path):
    from scaling_core.experiments import curves
    from scaling_core.sweep.spec import SweepSpec

    def spec(name, lr):
        return SweepSpec.from_dict({
            "name": name, "seed": 0,
            "task": {"factory": "scaling_core.tasks.mnist1d:mnist1d_task", "kwargs": {"n_train": 256, "n_val": 100}},
            "shard_sizes": [64, 128], "searches": [{"family": "mlp", "grid": [8, 16], "samples": 1,
                                                    "lr_range": [lr, lr], "batch_sizes": [32]}],
            "trainer": {"max_epochs": 4, "patience": 2, "min_eval_steps": 2}})

    specs = [spec("a", 0.01), spec("b", 0.03)]
    together = curves.run_all(specs, tmp_path / "together.sqlite", workers=2)
    alone = [curves.run(s, tmp_path / "alone.sqlite") for s in specs]
    for t, a in zip(together, alone):
        assert list(t["key"]) == list(a["key"])
        assert list(t["val_error"]) == list(a["val_error"])


def test_training_time_counts_a_shared_trial_once_and_spans_first_start_to_last_end():
    trials = pd.DataFrame({
        "key": ["a", "a", "b", "c"], "sweep": ["s", "t", "s", "s"], "status": ["done", "done", "done", "failed"],
        "wall_time": [60.0, 60.0, 120.0, 999.0], "started_at": [100.0, 100.0, 130.0, 90.0],
        "finished_at": [160.0, 160.0, 250.0, 1089.0]})
    time = curves.training_time(trials)
    assert time == {"trials": 2, "trial_minutes": 3.0, "span_minutes": 2.5}
