"""The image chapter's module: settings, sweep specs, Table 1 rows, regions, fits and tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scaling_core import formatting
from scaling_core.experiments import curves, verdicts
from scaling_core.experiments import image as experiment
from scaling_core.fit.forms import region_boundaries, three_region
from scaling_core.models.resnet import WIDTH_FACTOR_RANGE, ResNet, ResNetConfig
from scaling_core.notebook import run_command
from scaling_core.profiles import PROFILES, ParameterError, resolve
from scaling_core.tasks.images import ImageTask

SHARDS = [10 * 2**k for k in range(11)]  # 1 to 1024 images per class


def _config(profile="smoke", dataset=None, seed=0):
    return resolve("image", experiment.SCALES, profile=profile, seed=seed, dataset=dataset,
                   datasets=experiment.DATASETS, data_dir="/nowhere")


def _trials(metric_of_shard, sizes=(1.0, 2.0), seed=0, metric="val_top1_error"):
    """Trials of two sizes per shard; the larger scores the curve, the smaller 3-20 % worse."""
    rng = np.random.default_rng(seed)
    rows = []
    for shard, units in enumerate(SHARDS):
        target = metric_of_shard(units)
        for size in sizes:
            worse = 1.0 if size == max(sizes) else 1 + rng.uniform(0.03, 0.2)
            rows.append({"key": f"{shard}-{size}", "shard": shard, "shard_units": float(units), "family": "resnet-d1",
                         "size": size, "num_params": int(1000 * size**2), "status": "done", metric: target * worse})
    return pd.DataFrame(rows)


def _three_region_trials(best_guess=0.9, alpha=4.0, beta=-0.4, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    return _trials(lambda m: three_region(m, best_guess, alpha, beta, 0.0) * np.exp(noise * rng.standard_normal()),
                   seed=seed)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("dataset", experiment.DATASETS)
def test_every_profile_builds_a_nesterov_sweep_of_class_balanced_shards(profile, dataset):
    config = _config(profile, dataset, seed=3)
    scale = experiment.settings(config)
    (spec,) = experiment.sweep_specs(config)
    smallest, largest = scale["images_per_class"]
    assert spec.shard_sizes[0] == 10 * smallest and spec.shard_sizes[-1] == 10 * largest
    assert all(b == 2 * a for a, b in zip(spec.shard_sizes[:-2], spec.shard_sizes[1:-1]))
    assert spec.shard_sizes[-1] <= (scale["pool_size"] or 50_000)
    assert spec.name == "image-{}-seed3".format(profile) and spec.seed == 3
    assert spec.task.kwargs["dataset"] == dataset and "families" not in spec.task.kwargs  # the grid is the search's
    assert ("data_dir" in spec.task.kwargs) == (dataset != "mnist1d")
    assert [s.family for s in spec.searches] == list(scale["families"])
    for search in spec.searches:
        assert search.optimizer == "nesterov" and not search.integer_sizes
        assert 0.005 <= search.lr_range[0] < search.lr_range[1] <= 0.5  # SGD-momentum rates, not Adam's
        assert search.min_size == WIDTH_FACTOR_RANGE[0] and search.max_size <= WIDTH_FACTOR_RANGE[1]
        for width in (*search.grid, search.max_size):
            ResNetConfig(width_factor=width)  # inside the allowed range
    if dataset == "mnist1d":  # the harder generator settings, in the keys; stopping on top-1 error, left out
        assert spec.task.kwargs["variant"] == "hard" and "stop_on" not in spec.task.kwargs
    else:  # real images keep the task's defaults, which the keys leave out
        assert not {"variant", "stop_on"} & set(spec.task.kwargs)


def test_profiles_grow_and_a_bad_dataset_is_rejected():
    pools = [experiment.SCALES[p]["mnist1d"]["images_per_class"][1] for p in PROFILES]
    assert pools == sorted(pools) and len(set(pools)) == 3
    assert experiment.SCALES["smoke"]["mnist1d"]["workers"] == 1
    with pytest.raises(ParameterError, match="dataset"):
        _config(dataset="imagenet")


def test_table1_rows_name_the_sweep_metrics_and_the_papers_values():
    rows = experiment.TABLE1_ROWS
    assert [row["metric"] for row in rows] == list(ImageTask.metrics)
    assert [row["paper_beta_g"] for row in rows] == [-0.309, -0.488, -0.35]
    assert [row["paper_beta_p"] for row in rows] == [0.573, None, None]
    for row in rows:
        assert row["sweep"].format(profile="laptop", seed=0) == experiment.sweep_specs(_config("laptop"))[0].name
        assert row["unit"] == ImageTask.unit and row["family"] is None and row["fit_from_units"] is None
        assert row["best_guess"] == experiment.best_guess(row["metric"])


def test_best_guess_is_what_guessing_from_the_prior_scores():
    assert experiment.best_guess("val_top1_error") == pytest.approx(0.9)
    assert experiment.best_guess("val_top5_error") == pytest.approx(0.5)
    assert experiment.best_guess("val_top5_error", num_classes=1000) == pytest.approx(0.995)
    assert experiment.best_guess("val_top5_error", num_classes=3) == 0
    assert experiment.best_guess("val_xent", num_classes=1000) == pytest.approx(math.log(1000))
    with pytest.raises(ValueError, match="metric"):
        experiment.best_guess("val_top3_error")


@pytest.mark.parametrize("seed", [0, 1])
def test_metric_curve_recovers_the_exponent_and_the_small_data_boundary(seed):
    alpha, beta = 4.0, -0.4
    trials = _three_region_trials(alpha=alpha, beta=beta, seed=seed)
    curve = experiment.metric_curve(trials, "val_top1_error", val_size=10_000, bootstrap=50,
                                    region_bootstrap=0, seed=seed)
    true_end, _ = region_boundaries(0.9, alpha, beta, 0.0)  # about 42 images
    assert curve.small_data_end == pytest.approx(true_end, rel=0.5)
    assert curve.power_law.beta_ == pytest.approx(beta, abs=0.05)
    best = curve.best
    assert len(best) == len(SHARDS) and (best["size"] == 2.0).all()  # the winners
    np.testing.assert_array_equal(best["in_fit"], best["shard_units"] >= curve.small_data_end)
    assert set(best.loc[~best["in_fit"], "region"]) == {experiment.SMALL_DATA}
    assert best.loc[0, "region"] == experiment.SMALL_DATA and best["in_fit"].iloc[-1]


def test_a_plain_power_law_over_every_shard_would_be_shallower():
    trials = _three_region_trials(noise=0.0)
    curve = experiment.metric_curve(trials, "val_top1_error", 10_000, bootstrap=0, region_bootstrap=0)
    everything = curves.fit_learning_curve(curve.best.assign(in_fit=True), "val_top1_error", bootstrap=0)
    assert abs(curve.power_law.beta_ + 0.4) < abs(everything.beta_ + 0.4) - 0.02  # the plateau flattens it


def test_errors_below_the_resolution_of_v_are_not_fitted():
    trials = _trials(lambda m: 2.0 * m**-0.6, metric="val_top5_error")
    curve = experiment.metric_curve(trials, "val_top5_error", val_size=200, bootstrap=0, region_bootstrap=0)
    unresolved = curve.best["val_top5_error"] < experiment.MIN_ERRORS / 200
    assert unresolved.sum() >= 2
    assert (curve.best.loc[unresolved, "region"] == experiment.UNRESOLVED).all()
    assert not curve.best.loc[unresolved, "in_fit"].any()
    assert curve.power_law.beta_ == pytest.approx(-0.6, abs=0.02)
    xent = _trials(lambda m: 1e-4 * m**-0.1, metric="val_xent")  # any cross-entropy is resolved
    assert experiment.resolved(xent, "val_xent", 1000).all()


def test_a_boundary_past_the_data_still_fits_the_largest_shards():
    trials = _trials(lambda m: 0.9 * (1 - 1e-4 * m**0.3))  # every shard near the plateau
    curve = experiment.metric_curve(trials, "val_top1_error", 10_000, bootstrap=0, region_bootstrap=0)
    assert curve.best["in_fit"].sum() == 3 and curve.best["in_fit"].iloc[-3:].all()


def test_winners_worse_than_guessing_count_as_the_guess():
    trials = _trials(lambda m: 12.0 * m**-0.4, metric="val_xent")  # above log 10 up to 62 images
    trials.loc[trials["shard"] == 0, "val_xent"] = 9.0  # overconfident: far worse than guessing
    curve = experiment.metric_curve(trials, "val_xent", 10_000, bootstrap=0, region_bootstrap=0)
    assert curve.best.loc[0, "val_xent"] == 9.0 and curve.best.loc[0, "region"] == experiment.SMALL_DATA
    assert curve.power_law.beta_ == pytest.approx(-0.4, abs=0.05)


def test_tables_report_the_fits():
    learning = {m: experiment.metric_curve(_trials(lambda x: 0.4 * x**-0.3, metric=m) if m != "val_top1_error"
                                           else _three_region_trials(), m, 10_000, bootstrap=50, region_bootstrap=0)
                for m in experiment.METRICS}
    exponents = experiment.exponent_table(learning).set_index("metric")
    for metric, curve in learning.items():
        assert exponents.loc[metric, "beta_g"] == curve.power_law.beta_
        assert exponents.loc[metric, "beta_g_low"] <= curve.power_law.beta_ <= exponents.loc[metric, "beta_g_high"]
        assert exponents.loc[metric, "best_guess"] == pytest.approx(experiment.best_guess(metric))
    size_fit = experiment.model_size_fit(learning["val_top1_error"].best, bootstrap=0)
    table = experiment.table1(learning, size_fit)
    assert table["paper_beta_g"].tolist() == [-0.309, -0.488, -0.35]
    assert table.loc[0, "beta_p"] == size_fit.beta_p_ and table["beta_p"].iloc[1:].isna().all()


def test_the_sentence_past_the_power_law_names_the_floors_start_and_the_winners_above_the_line():
    alpha, beta, gamma = 4.0, -0.4, 0.15
    trials = _trials(lambda m: three_region(m, 0.9, alpha, beta, gamma))
    curve = experiment.metric_curve(trials, "val_top1_error", 10_000, bootstrap=0, region_bootstrap=0)
    _, true_start = region_boundaries(0.9, alpha, beta, gamma)  # about 3,700 images: inside the shards
    assert curve.irreducible_start == pytest.approx(true_start, rel=0.3)
    sentence = experiment.beyond_region(curve)
    past = curve.best[curve.best["shard_units"] > curve.best.loc[curve.best["in_fit"], "shard_units"].max()]
    assert len(past) >= 1 and sentence.startswith("Top-1 error: the three-region fit starts the irreducible region")
    last = past.iloc[-1]
    line = float(curve.power_law.predict(np.array([last["shard_units"]]))[0])
    assert last["val_top1_error"] > line  # the floor holds the winner above the power law
    assert (f"{formatting.number(last['val_top1_error'])} at 1,024 per class "
            f"(the line: {formatting.number(line)})") in sentence
    plain = experiment.metric_curve(_trials(lambda m: 0.9 * m**-0.3), "val_top1_error", 10_000, bootstrap=0,
                                    region_bootstrap=0)
    assert experiment.beyond_region(plain).endswith(
        "past this run's largest shard; the power-law region reaches the largest shard.")


def test_smallest_good_model_is_the_smallest_within_the_tolerance():
    trials = _trials(lambda m: 0.5 * m**-0.3, sizes=(1.0, 2.0, 4.0), seed=2)
    best = curves.winners(trials, "val_top1_error")
    good = experiment.smallest_good_models(trials, best, "val_top1_error", tolerance=0.25)
    assert len(good) == len(SHARDS) and (good["num_params"] <= best["num_params"]).all()
    for row in good.itertuples():
        rivals = trials[(trials["shard"] == row.shard) & (trials["num_params"] < row.num_params)]
        limit = 1.25 * best.loc[best["shard"] == row.shard, "val_top1_error"].item()
        assert row.val_top1_error <= limit and (rivals["val_top1_error"] > limit).all()
    strict = experiment.smallest_good_models(trials, best, "val_top1_error", tolerance=0.0)
    np.testing.assert_array_equal(strict["num_params"], best["num_params"])


@pytest.mark.parametrize("dataset,dim,channels", [("mnist1d", 1, 1), ("cifar10", 2, 3)])
def test_model_table_counts_the_parameters_of_the_built_models(dataset, dim, channels):
    families = {"resnet-d1": [0.0625, 0.5], "resnet-d2": [0.25]}
    table = experiment.model_table(families, dataset)
    assert table["layers"].tolist() == [8, 8, 14]
    for row in table.itertuples():
        config = ResNetConfig(dim=dim, in_channels=channels, blocks_per_stage=(row.layers - 2) // 6,
                              width_factor=row.width_factor)
        assert row.parameters == ResNet(config).num_params()


def test_shard_table_and_depth_curves():
    trials = _three_region_trials()
    trials.loc[0, "status"] = "failed"
    table = experiment.shard_table(trials)
    assert table["per_class"].tolist() == [2**k for k in range(11)]
    assert table["trials"].tolist() == [2] * 11 and table["failed"].tolist() == [1] + [0] * 10
    deep = trials.assign(family="resnet-d2", key=trials["key"] + "d")
    stacked = experiment.family_curves(pd.concat([trials, deep]), "val_top1_error")
    assert sorted(stacked["family"].unique()) == ["resnet-d1", "resnet-d2"] and len(stacked) == 22


def test_run_command_names_extra_parameters():
    assert run_command("image", "smoke", 0, dataset=None) == "scaling-core chapter image -p profile smoke -p seed 0"
    assert run_command("image", "smoke", 0, dataset="cifar10").endswith("-p seed 0 -p dataset cifar10")


def _prior(trials, metric="val_top1_error", value=0.9) -> pd.DataFrame:
    """The class-prior baseline of every shard at ``value``."""
    shards = trials.drop_duplicates("shard")[["shard", "shard_units"]]
    return shards.assign(baseline="class prior", metric=metric, value=value)


def test_a_measured_curve_is_fitted_on_its_power_law_region_below_the_baseline():
    trials = _three_region_trials(noise=0.0).assign(stop_reason="early_stop")
    curve = experiment.metric_curve(trials, "val_top1_error", 10_000, bootstrap=50, region_bootstrap=0,
                                    baselines=_prior(trials))
    assert curve.verdict.kind == "measured" and curve.verdict.decades >= 1
    fitted = curve.best[curve.best["in_fit"]]
    assert (fitted["region"] == curves.FITTED).all() and fitted["below_baseline"].all()
    assert fitted["shard_units"].min() >= curve.small_data_end
    assert curve.power_law.beta_ == pytest.approx(-0.4, abs=0.05)  # the bend past the boundary flattens it a little
    learning = {m: curve for m in experiment.METRICS}
    table = experiment.table1(learning, experiment.model_size_fit(curve.best, bootstrap=0))
    assert table["verdict"].str.startswith("power law measured").all()


@pytest.mark.parametrize("stop,kind", [("max_epochs", "starved"), ("early_stop", "too short")])
def test_a_starved_or_short_curve_claims_no_power_law_in_the_tables(stop, kind):
    # a power law at the paper's top-1 exponent, but only on the four largest shards (under one decade)
    trials = _trials(lambda m: min(0.85, 0.85 * (m / 1280) ** -0.309)).assign(stop_reason=stop)
    curve = experiment.metric_curve(trials, "val_top1_error", 10_000, bootstrap=100, region_bootstrap=0,
                                    baselines=_prior(trials))
    assert curve.verdict.kind == kind and not curve.verdict.measured
    low, high = curve.power_law.beta_ci_
    assert low <= -0.309 <= high < 0  # the paper's exponent is inside the interval ...
    learning = {m: curve for m in experiment.METRICS}
    size_fit = experiment.model_size_fit(curve.best, bootstrap=50)
    size = verdicts.judge_model_size(curve.best, size_fit, curve.verdict, trials)
    table = experiment.table1(learning, size_fit, size)
    assert not table["agrees"].any()  # ... but an unmeasured curve does not agree with the paper
    assert table["verdict"].str.startswith(kind).all() and not table["verdict"].str.contains("power law").any()
    assert table.loc[0, "beta_p_verdict"].startswith("not measured")
    exponents = experiment.exponent_table(learning)
    assert not exponents["agrees"].any() and exponents["verdict"].str.startswith(kind).all()
    assert verdicts.claim(curve.verdict, "Top-1 error").startswith("Top-1 error does not measure a power law")


def test_table1_comparison_says_why_table1_differs_from_the_chapter():
    from types import SimpleNamespace

    trials = _three_region_trials()
    ours = experiment.metric_curve(trials, "val_top1_error", 10_000, bootstrap=0, region_bootstrap=0)

    def row(beta):
        return SimpleNamespace(chapter="image", fit=SimpleNamespace(beta_=beta), trials=trials, metric="val_top1_error",
                               profile="smoke", dataset="mnist1d", baselines=None, best=ours.best)

    assert experiment.table1_comparison([row(ours.power_law.beta_)]) == (
        "Table 1's image rows carry the same exponents as the image chapter.")
    sentence = experiment.table1_comparison([row(-1.895)])
    assert "-1.90" in sentence and f"{ours.power_law.beta_:.3g}"[:4] in sentence and "because the chapter" in sentence
    assert experiment.table1_comparison([]).startswith("Table 1 has no fitted image rows")


def test_each_metric_is_read_at_its_own_best_evaluation_where_the_profile_asks():
    history = [{"step": 10, "val_top1_error": 0.5, "val_top5_error": 0.2, "val_xent": 1.4},
               {"step": 20, "val_top1_error": 0.4, "val_top5_error": 0.15, "val_xent": 1.6},  # best top-1
               {"step": 30, "val_top1_error": 0.45, "val_top5_error": 0.1, "val_xent": 1.9}]
    trials = pd.DataFrame({"key": ["a", "b"], "status": ["done", "failed"], "history": [history, []],
                           "val_top1_error": [0.4, np.nan], "val_top5_error": [0.15, np.nan],
                           "val_xent": [1.6, np.nan]})  # as stored: every metric at the best top-1 evaluation
    best = experiment.each_metric_at_its_best(trials)
    assert best.loc[0, ["val_top1_error", "val_top5_error", "val_xent"]].tolist() == [0.4, 0.1, 1.4]
    assert best.loc[1, ["val_top1_error", "val_xent"]].isna().all()  # a failed trial keeps what it stored
    laptop, cifar = _config("laptop"), _config("smoke", "cifar10")
    assert experiment.settings(laptop)["each_metric_best"] and not experiment.settings(cifar)["each_metric_best"]
    read = experiment.read_metrics(trials, laptop)
    assert "history" not in read and read.loc[0, "val_xent"] == 1.4
    assert experiment.read_metrics(trials, cifar).loc[0, "val_xent"] == 1.6  # as stored
