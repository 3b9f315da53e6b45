"""The speech chapter's module: profiles and sweeps, shared trials, exponent tests, plateaus."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scaling_core.experiments import speech as experiment
from scaling_core.fit import PowerLawFit
from scaling_core.profiles import PROFILES, ParameterError, resolve
from scaling_core.sweep.store import Store

MEAN_SECONDS = {"espeak": 1.4, "fsdd": 0.44}
"""Mean utterance durations of the two corpora (measured; eSpeak 1.40 s, FSDD 0.438 s)."""


def config(profile="laptop", dataset=None, seed=0, data_dir=None):
    return resolve("speech", experiment.SCALES, profile=profile, seed=seed, dataset=dataset,
                   datasets=experiment.DATASETS, data_dir=data_dir)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("dataset", experiment.DATASETS)
def test_every_profile_builds_its_sweeps(profile, dataset):
    cfg = config(profile, dataset, seed=3)
    specs = experiment.sweep_specs(cfg)
    fixed = cfg["fixed_sizes"]
    assert [s.name for s in specs] == [f"speech-{profile}-seed3"] + [
        f"speech-ds2-{w}-{profile}-seed3" for w in fixed]
    assert len(fixed) == 3 and fixed == sorted(fixed)
    search = specs[0]
    trained = {s.family for s in search.searches}
    assert "ds2" in trained and trained | {s["family"] for s in cfg.settings.get("paper_only", [])} == {
        "ds2", "attention"}  # a family left out of a profile is named there, to be priced
    assert "attention" in trained or profile != "paper"
    assert all(spec.shard_sizes == search.shard_sizes for spec in specs)  # same shards everywhere
    assert all(s.grid == (w,) and s.growth == (0.0,) for spec, w in zip(specs[1:], fixed)
               for s in spec.searches)
    sizes = search.shard_sizes
    assert sizes[-1] <= 0.95 * cfg["data"][dataset]["n_train"] * MEAN_SECONDS[dataset]  # room for the draw
    assert sum(s >= cfg["fit_from"] for s in sizes) >= 3 and search.trainer.grad_clip == 5.0
    kwargs = search.task.kwargs
    assert "families" not in kwargs and kwargs["dataset"] == dataset  # the grid is the search's only
    assert kwargs["search_metric"] == "val_loss"  # CER sits at 1 through the CTC blank phase


def test_paper_profile_spans_two_decades_of_audio_beyond_the_laptop_profile():
    sizes = experiment.sweep_specs(config("paper"))[0].shard_sizes
    laptop = experiment.sweep_specs(config("laptop"))[0].shard_sizes
    assert sizes[-1] / sizes[0] >= 100 and sizes[-1] >= 2 * laptop[-1]


def test_table1_rows_match_the_search_sweep_and_the_paper():
    for row in experiment.TABLE1_ROWS:
        cfg = config("laptop", seed=2)
        assert row["sweep"].format(profile="laptop", seed=2) == experiment.sweep_specs(cfg)[0].name
        assert row["family"] in {s["family"] for s in cfg["searches"] + cfg["paper_only"]}
        assert row["metric"] == "val_cer" and row["unit"] == "seconds"
        assert all(SCALE["fit_from"] == row["fit_from_units"] for SCALE in experiment.SCALES.values())
    assert [r["paper_beta_g"] for r in experiment.TABLE1_ROWS] == [-0.299, -0.296]


def test_task_kwargs_pass_the_data_folder_and_refuse_unknown_datasets(tmp_path):
    assert experiment.task_kwargs(config("smoke", "fsdd", data_dir=tmp_path))["data_dir"] == str(tmp_path)
    assert "sample_rate" not in experiment.task_kwargs(config("smoke", "fsdd", data_dir=tmp_path))
    assert experiment.task_kwargs(config("smoke"))["sample_rate"] == 8000
    with pytest.raises(ParameterError, match="'dataset'"):
        config("smoke", "timit")


def _plan_row(key, sweep, shard, family="ds2", size=16.0):
    return {"key": key, "sweep": sweep, "task": "speech-espeak", "unit": "seconds", "shard": shard,
            "shard_units": 30.0 * 2**shard, "shard_examples": 21 * 2**shard, "family": family,
            "size": size, "lr": 3e-3, "batch_size": 16, "sample": 0, "seed": 0, "trial_seed": 1,
            "config": {}, "code_version": "c", "git_commit": None, "fingerprint": "f"}


def test_a_trial_shared_by_two_sweeps_is_listed_in_both(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.add([_plan_row("a", "search", 0), _plan_row("b", "search", 1, size=32.0)])
        store.add([_plan_row("a", "fixed", 0)])  # same key: stored once, under "search"
        for key in "ab":
            store.finish(key, {"status": "done", "metrics": {"val_cer": 0.5}, "num_params": 10})
        store.mark_complete("search", json.dumps({"spec": "{}", "keys": ["a", "b"]}))
        store.mark_complete("fixed", json.dumps({"spec": "{}", "keys": ["a"]}))
        fixed = store.to_frame("fixed")  # the store records the shared trial for both sweeps
        assert fixed["key"].tolist() == ["a"] and fixed["sweep"].tolist() == ["fixed"]
        assert store.to_frame("search")["key"].tolist() == ["a", "b"]
        assert len(store.to_frame()) == 2  # trained once


def synthetic_trials(cfg, rng) -> pd.DataFrame:
    """Trials of every sweep: CER = 3 m^beta (+ floor for fixed widths) with 2 % noise."""
    sizes = experiment.sweep_specs(cfg)[0].shard_sizes
    beta = {"ds2": -0.30, "attention": -0.45}
    rows = []
    for shard, m in enumerate(sizes):
        for family in beta:
            for size, extra in ((32, 0.0), (64, -0.1)):  # the larger model wins every shard
                cer = 3 * m ** beta[family] * np.exp(rng.normal(0, 0.02)) + extra * 3 * m ** beta[family]
                rows.append({"sweep": experiment.search_sweep_name(cfg.profile, cfg.seed),
                             "family": family, "size": size, "val_cer": cer})
        for width in cfg["fixed_sizes"]:
            cer = 3 * m**-0.5 + 2.0 / width
            rows.append({"sweep": experiment.fixed_sweep_name(width, cfg.profile, cfg.seed),
                         "family": "ds2", "size": width, "val_cer": cer * np.exp(rng.normal(0, 0.005))})
        for row in rows[-len(beta) * 2 - len(cfg["fixed_sizes"]):]:
            row.update(shard=shard, shard_units=m, shard_examples=int(m / 1.4),
                       num_params=int(row["size"]) * 1000, status="done")
    frame = pd.DataFrame(rows)
    frame["key"] = [f"k{i}" for i in range(len(frame))]
    return frame


@pytest.fixture(scope="module")
def paper_cfg():
    return config("paper", seed=1)


@pytest.fixture(scope="module")
def trials(paper_cfg):
    return synthetic_trials(paper_cfg, np.random.default_rng(0))


def test_data_table_counts_hours_and_utterances(trials, paper_cfg):
    table = experiment.data_table(trials)
    assert table["shard"].tolist() == list(range(8))
    assert np.allclose(table["hours"], table["seconds"] / 3600)
    assert np.allclose(table["minutes"], table["seconds"] / 60)
    first = experiment.sweep_specs(paper_cfg)[0].shard_sizes[0]
    assert table["utterances"].iloc[0] == int(first / 1.4)


def test_composite_exponents_are_recovered_and_their_difference_detected(trials, paper_cfg):
    best, judged = experiment.composite_curves(trials, paper_cfg, baselines=_empty_output(trials))
    assert set(best) == {"ds2", "attention"} and (best["ds2"]["size"] == 64).all()
    assert all(v.kind == "measured" for v in judged.values())
    fits = experiment.family_fits(best, bootstrap=200, seed=0)
    assert fits["ds2"].beta_ == pytest.approx(-0.30, abs=0.03)
    assert fits["attention"].beta_ == pytest.approx(-0.45, abs=0.03)
    difference = experiment.exponent_difference(fits["ds2"], fits["attention"])
    assert difference["differ"] and difference["low"] < 0.15 < difference["high"]
    assert "excludes zero" in experiment.difference_verdict(difference, judged)
    table = experiment.table1(fits, judged)
    assert table["model"].tolist() == ["DS2", "attention"]
    assert (table["95% low"] < table["our beta_g"]).all() and (table["our beta_g"] < table["95% high"]).all()
    assert table["verdict"].str.startswith("power law measured").all()
    assert table["agrees"].tolist() == [True, False]  # -0.296 lies outside attention's interval around -0.45
    exponents = experiment.exponent_table(fits, best, judged)
    assert (exponents["verdict"] == table["verdict"]).all() and (exponents["capped_share"] == 0).all()


def test_a_family_left_out_of_a_profile_is_priced_and_not_compared(trials, paper_cfg):
    laptop = config("laptop")
    laptop_trials = synthetic_trials(laptop, np.random.default_rng(1))
    ds2_only = laptop_trials[laptop_trials["family"] == "ds2"]
    best, judged = experiment.composite_curves(ds2_only, laptop, baselines=_empty_output(laptop_trials))
    assert set(best) == {"ds2"}
    fits = experiment.family_fits(best, bootstrap=50, seed=0)
    table = experiment.table1(fits, judged)
    assert table["model"].tolist() == ["DS2", "attention"]
    assert table["verdict"].tolist()[1] == "not trained at this profile" and not table["agrees"].iloc[1]
    note = experiment.paper_only_note(laptop)
    assert note.startswith("The attention model is trained at the paper profile only")
    minutes = [float(w) for w in note.replace(",", "").split() if w.replace(".", "").isdigit()]
    assert minutes[0] > minutes[-1] > 0  # its search costs more than the DS2 search the profile runs
    assert experiment.comparison_sentence(fits, judged).endswith("no second exponent to compare.")
    assert experiment.paper_only_note(paper_cfg) == ""  # the paper profile trains both


def test_winners_at_the_widest_width_tried_are_counted(trials, paper_cfg):
    best, _ = experiment.composite_curves(trials, paper_cfg, baselines=_empty_output(trials))
    sentence = experiment.widest_winners(best, trials, paper_cfg)
    assert sentence.startswith("8 of 8 DS2 (CTC) winners are the widest") and "8 of 8 attention" in sentence
    worse = (trials["size"] == 64) & (trials["shard"] < 3)
    narrow = trials.assign(val_cer=trials["val_cer"].where(~worse, 0.99))  # width 32 wins the first shards
    best, _ = experiment.composite_curves(narrow, paper_cfg, baselines=_empty_output(trials))
    assert experiment.widest_winners(best, narrow, paper_cfg).startswith("5 of 8 DS2 (CTC) winners")
    alone = trials[~worse]  # 32 alone on the first shards: the only width tried is the widest tried
    best, _ = experiment.composite_curves(alone, paper_cfg, baselines=_empty_output(trials))
    assert experiment.widest_winners(best, alone, paper_cfg).startswith("8 of 8 DS2 (CTC) winners")


def test_features_are_described_by_the_profile():
    assert experiment.feature_description(config("laptop")) == "40 mel bands"
    linear = config("laptop")
    linear = type(linear)(**{**linear.__dict__, "settings": {**linear.settings, "n_mels": None}})
    assert experiment.feature_description(linear) == "81 linear frequency bins"


def _empty_output(trials) -> pd.DataFrame:
    """The speech baseline of every shard: an empty transcript scores CER 1."""
    shards = trials.drop_duplicates("shard")[["shard", "shard_units"]]
    return shards.assign(baseline="empty output", metric="val_cer", value=1.0)


def test_a_starved_curve_claims_no_power_law_and_no_agreement(trials, paper_cfg):
    capped = trials.assign(stop_reason="max_steps", improving=1)
    best, judged = experiment.composite_curves(capped, paper_cfg, baselines=_empty_output(trials))
    assert {v.kind for v in judged.values()} == {"starved"}
    fits = experiment.family_fits(best, bootstrap=200, seed=0)
    table = experiment.table1(fits, judged)
    assert not table["agrees"].any()  # ds2's -0.30 interval holds the paper's -0.299, but nothing was measured
    assert table["verdict"].str.startswith("starved").all()
    assert not table["verdict"].str.contains("power law measured").any()
    difference = experiment.exponent_difference(fits["ds2"], fits["attention"])
    assert experiment.difference_verdict(difference, judged).startswith("are not compared")


def test_a_curve_at_the_baseline_is_no_learning_and_gives_no_plateau_onset(trials, paper_cfg):
    flat = trials.assign(val_cer=0.99 + 0.001 * np.random.default_rng(1).random(len(trials)))
    best, judged = experiment.composite_curves(flat, paper_cfg, baselines=_empty_output(trials))
    assert {v.kind for v in judged.values()} == {"no learning"}
    table = experiment.table1(experiment.family_fits(best, 100, 0), judged)
    assert table["verdict"].str.startswith("no learning").all()
    fixed = experiment.fixed_size_curves(trials.assign(stop_reason="max_steps"), paper_cfg)
    judged_fixed = experiment.fixed_verdicts(fixed, _empty_output(trials))
    assert {v.kind for v in judged_fixed.values()} == {"starved"}
    table = experiment.plateau_table(fixed, experiment.plateau_fits(fixed), judged_fixed)
    assert experiment.plateau_verdict(table).startswith("No plateau onset is read")


def test_equal_exponents_are_not_called_different():
    rng = np.random.default_rng(4)
    m = np.geomspace(100, 10000, 8)
    fits = [PowerLawFit().fit(m, 2 * m**-0.3 * np.exp(rng.normal(0, 0.03, 8))).bootstrap(200, seed=s)
            for s in (1, 2)]
    difference = experiment.exponent_difference(*fits)
    assert not difference["differ"] and difference["low"] < 0 < difference["high"]
    assert "contains zero" in experiment.difference_verdict(difference)


def test_plateau_onset_solves_power_term_equals_floor():
    onset = experiment.plateau_onset(alpha=3.0, beta=-0.5, gamma=0.05)
    assert 3.0 * onset**-0.5 == pytest.approx(0.05)
    assert experiment.plateau_onset(1.0, -1e-6, 1e-3) == np.inf
    with pytest.raises(ValueError, match="beta < 0"):
        experiment.plateau_onset(1.0, 0.1, 0.05)


def test_fixed_widths_plateau_later_when_wider(trials, paper_cfg):
    fixed = experiment.fixed_size_curves(trials, paper_cfg)
    assert sorted(fixed["size"].unique()) == paper_cfg["fixed_sizes"]
    judged = experiment.fixed_verdicts(fixed.assign(stop_reason="early_stop"))
    table = experiment.plateau_table(fixed, experiment.plateau_fits(fixed), judged)
    assert set(table["verdict_kind"]) <= {"measured", "too short"}
    floors = [2.0 / w for w in paper_cfg["fixed_sizes"]]
    assert table["floor_cer"].to_numpy() == pytest.approx(floors, rel=0.15)
    # onset (gamma / alpha)^(1 / beta) = (3 w / 2)^2: twice the width, four times the data
    assert table["onset_ratio"].iloc[1:].to_numpy() == pytest.approx([4, 4], rel=0.3)
    assert table["params_ratio"].iloc[1:].tolist() == [2, 2]
    assert "later for wider models" in experiment.plateau_verdict(table)


def test_onsets_are_read_only_from_measured_floors_and_overlaps_are_said():
    table = pd.DataFrame({"width": [16, 32, 64], "floor_cer": [0.30, 0.04, 0.27],
                          "floor_low": [0.13, 1e-30, 0.14], "floor_high": [0.39, np.inf, 0.34],
                          "floor_measured": [True, False, True], "onset_seconds": [574.0, 1e9, 383.0],
                          "onset_in_data": [True, False, True], "verdict_kind": ["measured"] * 3})
    sentence = experiment.plateau_verdict(table)
    assert "not measured" in sentence and "width 32" in sentence and "Widths 16, 64 reach" in sentence
    assert "not in order of width" in sentence and "cannot tell those widths' floors apart" in sentence
    none = table.assign(floor_measured=False)
    assert experiment.plateau_verdict(none).startswith("No width's floor is measured")
