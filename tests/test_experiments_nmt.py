"""The translation chapter's module: settings, sweep specs, shared trials, curves, fits, samples."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from scaling_core.data.shards import shard_sizes
from scaling_core.experiments import nmt, verdicts
from scaling_core.experiments.contract import configure
from scaling_core.profiles import PROFILES, ChapterConfig, ParameterError
from scaling_core.sweep.records import sweep_trials
from scaling_core.sweep.store import Store
from scaling_core.tasks.translation import TranslationTask


def config_for(profile="smoke", dataset=None, seed=0, data_dir=None, **overrides) -> ChapterConfig:
    settings = {**nmt.SCALES[profile], **overrides}
    return ChapterConfig("nmt", profile, seed, "cpu", dataset or settings["dataset"], data_dir, settings)


# ----------------------------------------------------------------------------- settings and specs


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_and_dataset_builds_the_three_sweeps(profile):
    for dataset in nmt.DATASETS:
        specs = nmt.sweep_specs(config_for(profile, dataset, seed=4))
        search, *fixed = specs
        assert search.name == f"nmt-{profile}-seed4" and search.save_models
        assert [s.name for s in fixed] == [f"nmt-{profile}-seed4-width{w}"
                                           for w in nmt.SCALES[profile]["fixed_widths"]]
        for spec, width in zip(fixed, nmt.SCALES[profile]["fixed_widths"]):
            assert spec.searches[0].grid == (width,) and spec.searches[0].growth == (0.0,)
            assert not spec.save_models and spec.shard_sizes == search.shard_sizes
        assert all(s.task.kwargs == search.task.kwargs for s in fixed)  # one task per worker
        assert search.task.kwargs["dataset"] == dataset and search.seed == 4


def test_scales_keep_widths_even_and_span_enough_data():
    for profile, settings in nmt.SCALES.items():
        widths = [*settings["search"]["grid"], *settings["fixed_widths"]]
        assert all(w % 2 == 0 for w in widths), profile
        for dataset in nmt.DATASETS:
            sizes = shard_sizes(**nmt.shard_span(config_for(profile, dataset)))
            fitted = [s for s in sizes if s >= nmt.FIT_FROM_UNITS]
            assert len(fitted) >= 3, profile  # the power law plus constant has three parameters
    for dataset, tokens in (("g2p", 3_714_653), ("multi30k", 415_440)):  # training target tokens
        paper = shard_sizes(**nmt.shard_span(config_for("paper", dataset)))
        assert paper[-1] / paper[0] >= 100 and paper[-1] <= tokens, dataset
    assert nmt.SCALES["paper"]["dataset"] == "g2p"


def test_the_profile_names_the_default_dataset_and_configure_checks_it():
    assert configure("nmt", "laptop").dataset == "g2p"
    assert configure("nmt", "paper").dataset == "g2p"
    with pytest.raises(ParameterError, match="'profile'"):
        configure("nmt", "huge")
    with pytest.raises(ParameterError, match="'dataset'.*'g2p'"):
        configure("nmt", "smoke", dataset="wmt")


def test_multi30k_data_dir_enters_the_task_but_not_for_g2p(tmp_path):
    assert "data_dir" not in nmt.task_kwargs(config_for("smoke", "g2p", data_dir=tmp_path))
    assert nmt.task_kwargs(config_for("smoke", "multi30k", data_dir=tmp_path))["data_dir"] == str(tmp_path)


def test_a_profiles_model_layers_reach_the_task_and_default_to_the_papers_two():
    assert nmt.model_layers(config_for("laptop")) == {"encoder_layers": 1, "decoder_layers": 1}
    assert nmt.model_layers(config_for("paper")) == {"encoder_layers": 2, "decoder_layers": 2}
    laptop, paper = nmt.task_kwargs(config_for("laptop")), nmt.task_kwargs(config_for("paper"))
    assert laptop["encoder_layers"] == laptop["decoder_layers"] == 1 and laptop["dropout"] == 0.0
    assert "encoder_layers" not in paper and paper["dropout"] == 0.0  # the model's defaults: two each
    # the options' order enters the task's fingerprint (and so every stored trial's key)
    assert list(laptop)[-3:] == ["encoder_layers", "decoder_layers", "dropout"]


def test_table1_row_names_the_search_sweep_and_a_task_metric():
    (row,) = nmt.TABLE1_ROWS
    assert set(row) == {"domain", "model", "sweep", "family", "metric", "unit", "fit_from_units",
                        "paper_beta_g", "paper_beta_p"}
    assert row["sweep"].format(profile="laptop", seed=2) == nmt.sweep_specs(config_for("laptop", seed=2))[0].name
    assert row["metric"] == TranslationTask.metrics[0] and row["unit"] == TranslationTask.unit
    assert row["paper_beta_g"] == -0.128 and row["family"] == nmt.FAMILY


def test_run_command_names_a_dataset_other_than_the_default():
    assert nmt.run_command(config_for("smoke")) == "scaling-core chapter nmt -p profile smoke -p seed 0"
    assert nmt.run_command(config_for("smoke", "multi30k")).endswith("-p dataset multi30k")


# ----------------------------------------------------------------------------- synthetic trials


def synthetic_trials(config, beta=-0.3, gamma=0.05, seed=0) -> pd.DataFrame:
    """Search rows whose best error is 2 m^beta, fixed-width rows following 3 m^beta + gamma."""
    rng = np.random.default_rng(seed)
    units = np.array(shard_sizes(**config["shard_sizes"]), dtype=float)
    rows = []
    for shard, m in enumerate(units):
        for size, excess in ((16, 1.3), (32, 1.0)):  # width 32 wins every shard
            rows.append({"sweep": nmt.search_name(config.profile, config.seed), "size": size,
                         "val_error": 2 * m**beta * excess, "val_bits_per_token": 9 * m**beta * excess})
        for width in config["fixed_widths"]:
            floor = gamma * 16 / width
            rows.append({"sweep": nmt.fixed_name(config.profile, config.seed, width), "size": width,
                         "val_error": (3 * m**beta + floor) * np.exp(rng.normal(0, 0.005)),
                         "val_bits_per_token": 1.0})
        for row in rows[-2 - len(config["fixed_widths"]):]:
            row.update(shard=shard, shard_units=m, family=nmt.FAMILY, status="done",
                       num_params=int(40 * row["size"] ** 2), lr=1e-3, best_epoch=3.0, train_loss=1.0,
                       key=f"{row['sweep']}-{shard}-{row['size']}")
    return pd.DataFrame(rows)


def test_search_winners_are_the_best_search_trials_and_recover_the_exponent():
    config = config_for("laptop")
    trials = synthetic_trials(config)
    best = nmt.search_winners(trials, config)
    assert (best["size"] == 32).all() and len(best) == len(shard_sizes(**config["shard_sizes"]))
    assert best["in_fit"].tolist() == (best["shard_units"] >= nmt.FIT_FROM_UNITS).tolist()
    fit = nmt.fit_composite(best, bootstrap=50)
    assert fit.beta_ == pytest.approx(-0.3, abs=1e-6)
    table = nmt.table1(fit, best, nmt.fit_model_size(best, bootstrap=50))
    assert table.loc[0, "beta_g"] == pytest.approx(-0.3, abs=1e-6)
    assert table.loc[0, "paper_beta_g"] == -0.128 and table.loc[0, "beta_p"] == pytest.approx(0, abs=1e-6)
    assert list(nmt.winners_table(best)["width"]) == [32] * len(best)


def test_fixed_curves_recover_the_power_law_and_floor():
    config = config_for("laptop", fixed_widths=[16, 32])
    fixed = nmt.fixed_curves(synthetic_trials(config, beta=-0.4, gamma=0.04), config)
    assert fixed.groupby("curve").size().to_dict() == {"width 16": 7, "width 32": 7}
    fits = nmt.fit_fixed_curves(fixed, bootstrap=100)
    table = nmt.fixed_fit_table(fixed, fits).set_index("curve")
    assert table.loc["width 16", "gamma"] == pytest.approx(0.04, rel=0.25)
    assert table.loc["width 32", "gamma"] == pytest.approx(0.02, rel=0.4)
    assert table["beta_g"].tolist() == pytest.approx([-0.4, -0.4], abs=0.1)
    assert (table["gamma_low"] <= table["gamma"]).all() and (table["gamma"] <= table["gamma_high"]).all()
    in_fit = sum(u >= nmt.FIT_FROM_UNITS for u in shard_sizes(**config["shard_sizes"]))
    assert in_fit >= 3 and table["points"].tolist() == [in_fit, in_fit]  # shards of at least FIT_FROM_UNITS
    spec = nmt.fixed_curves_chart(fixed, fits).to_dict()
    assert len(spec["layer"]) == 2
    claim = nmt.floor_claim(table.reset_index())
    assert claim.startswith("The floor is measured for 2 of 2 widths") and "the lower its floor" in claim


def test_floor_claim_counts_only_finite_positive_floors_and_checks_their_order():
    table = pd.DataFrame({"curve": ["width 16", "width 32", "width 64"], "width": [16, 32, 64],
                          "gamma": [0.02, 0.03, 0.01],
                          "gamma_low": [0.01, 0.02, 0.0], "gamma_high": [0.03, 0.04, np.inf]})
    claim = nmt.floor_claim(table)
    assert "2 of 3 widths" in claim and "width 64" not in claim and "not ordered" in claim
    assert nmt.floor_claim(table.iloc[2:]).startswith("No floor is measured")
    unlearned = table.assign(verdict=["no learning below the baseline", "power law measured", "starved"])
    assert "1 of 3 widths" in nmt.floor_claim(unlearned)  # width 16 did not learn: its floor means nothing
    assert nmt.floor_claim(table.assign(gamma_low=1e-11, gamma=1e-11)).startswith("No floor")  # zero, in effect


# ----------------------------------------------------------------------------- store and samples


def test_sweep_trials_reads_a_trial_two_sweeps_share(tmp_path):
    store_file = tmp_path / "store.sqlite"
    config = config_for("smoke")
    search, fixed = nmt.sweep_specs(config)[:2]
    row = {"family": nmt.FAMILY, "size": 16.0, "shard": 0, "shard_units": 2000.0}
    with Store(store_file) as store:
        store.add([{**row, "key": "shared", "sweep": search.name},
                   {**row, "key": "shared", "sweep": fixed.name},  # ignored: key exists
                   {**row, "key": "own", "sweep": fixed.name, "shard": 1}])
        store.mark_complete(search.name, json.dumps({"spec": search.to_json(), "keys": ["shared"]}))
        store.mark_complete(fixed.name, json.dumps({"spec": fixed.to_json(), "keys": ["shared", "own"]}))
    frame = sweep_trials(store_file, fixed)
    assert sorted(frame["key"]) == ["own", "shared"] and set(frame["sweep"]) == {fixed.name}
    assert sweep_trials(store_file, search)["key"].tolist() == ["shared"]
    with pytest.raises(ValueError, match="has not completed"):
        sweep_trials(store_file, nmt.sweep_specs(config)[2])


def test_run_trains_every_sweep_and_shares_identical_trials():
    config = config_for("smoke", data={"g2p": {"max_verses": 200, "val_size": 16}},
                        shard_sizes={"min_units": 300, "max_units": 600, "factor": 2},
                        search=nmt._search((8,), (0.0,), 1, (3e-3, 3e-3), (16,), 8),
                        fixed_widths=[8], trainer={"max_steps": 2, "min_eval_steps": 1})
    trials = nmt.run(config)
    search, fixed = (trials[trials["sweep"] == s.name] for s in nmt.sweep_specs(config))
    assert len(search) == len(fixed) == 2 and (trials["status"] == "done").all()
    shared = search[search["shard"] == 0]["key"].tolist()
    assert fixed[fixed["shard"] == 0]["key"].tolist() == shared  # same configuration, trained once
    saved = sorted(p.stem for p in nmt.artefact_dir(config).glob("*.pt"))
    assert saved == sorted(search["key"])
    samples = nmt.translation_samples(trials, config)
    assert len(samples) == config["samples"] and list(samples.columns) == ["source", "reference",
                                                                          "hypothesis", "exact"]
    winner = nmt.largest_shard_winner(trials, config)
    (nmt.artefact_dir(config) / f"{winner['key']}.pt").unlink()  # published stores keep no weights
    assert nmt.translation_samples(trials, config).equals(samples)


def test_samples_without_weights_are_an_empty_table(tmp_path):
    config = config_for("smoke")
    trials = synthetic_trials(config)
    assert nmt.translation_samples(trials, config).empty


def test_multi30k_task_builds_from_the_shared_data(shared_data):
    config = config_for("smoke", "multi30k", data_dir=shared_data)
    task = nmt.sweep_specs(config)[0].task.build()
    assert task.name == "nmt-multi30k" and len(task.val_src) == 100
    assert task.src_tokenizer is task.tgt_tokenizer and task.tgt_tokenizer.vocab_size == 2000
    assert task.example_units().sum() > shard_sizes(**config["shard_sizes"])[-1]
    model = task.build_model(nmt.FAMILY, 23)  # a projected odd width trains the even width 24
    assert model.config.width == 24 and torch.isfinite(
        task.train_loss(model, next(task.train_batches(np.arange(8), 4, torch.Generator(), "cpu"))))


def test_the_chapter_takes_every_conventional_parameter():
    from scaling_core.book import chapter_source, notebook_parameters

    names = notebook_parameters(chapter_source("nmt"))
    assert set(names) == {"profile", "seed", "device", "dataset", "data_dir"}


def test_capped_share_counts_trials_that_hit_the_step_cap():
    config = config_for("laptop")
    cap = config["trainer"]["max_steps"]
    rows = pd.DataFrame({"steps": [cap, cap - 50, cap, 10]})
    assert nmt.capped_share(rows, config) == 0.5


# ----------------------------------------------------------------------------- verdicts


def shard_baselines(config, error) -> pd.DataFrame:
    """A most-frequent-token baseline of ``error`` on every shard (and a unigram in bits far above)."""
    units = shard_sizes(**config["shard_sizes"])
    rows = [{"shard": k, "shard_units": float(m), "baseline": "most frequent", "metric": "val_error", "value": error}
            for k, m in enumerate(units)]
    rows += [{**row, "baseline": "unigram", "metric": "val_bits_per_token", "value": 50.0} for row in rows]
    return pd.DataFrame(rows)


def converged_trials(config, beta=-0.128, noise=0.01):
    """:func:`synthetic_trials` stopped early, with a little noise so that the fit has an interval."""
    trials = synthetic_trials(config, beta=beta).assign(stop_reason="early_stop", improving=0)
    for n, rows in enumerate(trials.groupby("sweep").groups.values()):  # the search's noise whatever the fixed widths
        trials.loc[rows, "val_error"] *= np.exp(np.random.default_rng([1, n]).normal(0, noise, len(rows)))
    return trials


def test_a_converged_curve_below_its_baseline_is_measured_and_agrees_with_the_paper():
    config = config_for("laptop")
    trials = converged_trials(config)
    best, verdict = nmt.judge_search(trials, config, shard_baselines(config, 0.95))
    fitted = sum(u >= nmt.FIT_FROM_UNITS for u in shard_sizes(**config["shard_sizes"]))
    assert verdict.kind == "measured" and best["in_fit"].sum() == fitted  # the shards from FIT_FROM_UNITS on
    fit = nmt.fit_composite(best, bootstrap=100)
    size = nmt.size_verdict(best, nmt.fit_model_size(best, bootstrap=100), verdict, trials, config)
    assert size.kind == "pinned"  # width 32, the largest width tried, wins every shard
    row = nmt.table1(fit, best, verdict=verdict).iloc[0]
    units = [u for u in shard_sizes(**config["shard_sizes"]) if u >= nmt.FIT_FROM_UNITS]
    decades = np.log10(units[-1] / units[0])
    assert row["agrees"] and row["verdict"].startswith(f"power law measured over {decades:.1f} decades")
    spec = nmt.composite_chart(best, fit, baselines=shard_baselines(config, 0.95)).to_dict()
    assert len(spec["layer"]) == 2  # the curve with its fit, and the baseline


@pytest.mark.parametrize("case", ["starved", "no learning"])
def test_a_starved_or_unlearned_curve_claims_no_power_law_and_no_agreement(case):
    config = config_for("laptop")
    trials = converged_trials(config)
    error = 0.95
    if case == "starved":
        trials["stop_reason"], trials["improving"] = "max_steps", 1
    else:
        error = 0.5 * trials["val_error"].min()  # a trivial predictor better than every model
    best, verdict = nmt.judge_search(trials, config, shard_baselines(config, error))
    assert verdict.kind == case and not verdict.measured
    fit = nmt.fit_composite(best, bootstrap=100)
    assert fit.beta_ci_[0] <= nmt.PAPER_BETA_G <= fit.beta_ci_[1] < 0  # the interval alone would agree
    row = nmt.table1(fit, best, verdict=verdict).iloc[0]
    assert not row["agrees"] and row["verdict"].startswith(case)
    size = nmt.size_verdict(best, nmt.fit_model_size(best, bootstrap=100), verdict, trials, config)
    assert size.kind == "not measured" and not size.sublinear
    assert "does not measure a power law" in verdicts.claim(verdict)
    assert "no sublinear growth" in verdicts.size_claim(size)


def test_fixed_curves_get_verdicts_in_their_table_and_baselines_in_their_chart():
    config = config_for("laptop", fixed_widths=[16, 32])
    trials = synthetic_trials(config, beta=-0.4, gamma=0.04).assign(stop_reason="max_steps", improving=1)
    fixed = nmt.fixed_curves(trials, config)
    fits = nmt.fit_fixed_curves(fixed, bootstrap=20)
    judged = nmt.fixed_verdicts(fixed, shard_baselines(config, 0.95))
    assert {label: v.kind for label, v in judged.items()} == {"width 16": "starved", "width 32": "starved"}
    table = nmt.fixed_fit_table(fixed, fits, judged)
    assert table["verdict"].str.startswith("starved").all() and (table["capped_share"] == 1).all()
    assert table["width"].tolist() == list(config["fixed_widths"])
    fitted = sum(u >= nmt.FIT_FROM_UNITS for u in shard_sizes(**config["shard_sizes"]))
    assert table["points"].tolist() == [fitted] * 2  # the floor fit keeps every shard past the small-data region
    spec = nmt.fixed_curves_chart(fixed, fits, baselines=shard_baselines(config, 0.95)).to_dict()
    assert len(spec["layer"]) == 2
