"""The language-model chapters' modules: sweeps per profile, curve comparison, tables (no training)."""

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from scaling_core.data.lm_batches import PackedSequences
from scaling_core.data.text import WordVocabulary
from scaling_core.experiments import char_lm, compare, curves, verdicts, word_lm
from scaling_core.fit import PowerLawFit
from scaling_core.profiles import PROFILES, resolve
from scaling_core.tasks.language import WordLMTask

SHARDS = 4_000 * 2.0 ** np.arange(6)  # the first shard lies below both chapters' fit_from


def noisy_power_law(alpha, beta, seed, noise=0.01, sizes=SHARDS):
    rng = np.random.default_rng(seed)
    return alpha * sizes**beta * np.exp(noise * rng.standard_normal(len(sizes)))


def bootstrapped(alpha, beta, seed, noise=0.01):
    return PowerLawFit().fit(SHARDS, noisy_power_law(alpha, beta, seed, noise)).bootstrap(n=400, seed=seed)


def fake_trials(sweep, family, losses, sizes=None, lr=3e-3, stop_reason="early_stop"):
    """One finished trial per shard (the winner) plus a worse one at twice the size."""
    sizes = np.full(len(losses), 32.0) if sizes is None else np.asarray(sizes, float)
    rows = []
    for shard, (units, loss, size) in enumerate(zip(SHARDS, losses, sizes)):
        for extra, factor in ((0, 1.0), (1, 1.2)):
            rows.append({"key": f"{sweep}-{family}-{shard}-{extra}", "sweep": sweep, "family": family,
                         "shard": shard, "shard_units": units, "size": size * (1 + extra), "lr": lr,
                         "best_epoch": 3.0, "status": "done", "val_loss": loss * factor,
                         "stop_reason": stop_reason, "improving": int(stop_reason != "early_stop"),
                         "num_params": int(1000 * size * (1 + extra))})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- compare
def test_one_exponent_is_shared_and_two_different_ones_are_not():
    same_a, same_b = bootstrapped(8.0, -0.1, seed=1), bootstrapped(6.0, -0.1, seed=2)
    steeper = bootstrapped(8.0, -0.3, seed=3)
    shared = compare.exponent_difference(same_a, same_b)
    assert shared["shared"] and shared["low"] < 0 < shared["high"]
    apart = compare.exponent_difference(same_a, steeper)
    assert not apart["shared"] and apart["difference"] == pytest.approx(0.2, abs=0.03)
    assert apart["low"] <= apart["difference"] <= apart["high"]
    # the combined interval is at least as wide as either part; paired percentiles are narrower
    assert apart["high"] - apart["low"] >= max(np.diff(same_a.beta_ci_)[0], np.diff(steeper.beta_ci_)[0])
    percentile = compare.exponent_difference(same_a, steeper, method="percentile")
    assert percentile["difference"] == apart["difference"] and not percentile["shared"]
    with pytest.raises(ValueError, match="'method'"):
        compare.exponent_difference(same_a, steeper, method="wald")


def test_curve_ratio_recovers_a_constant_shift():
    lower, upper = bootstrapped(0.9 * 5.0, -0.1, seed=4, noise=0.005), bootstrapped(5.0, -0.1, seed=5, noise=0.005)
    ratio = compare.curve_ratio(lower, upper, m=50_000)
    assert ratio["ratio"] == pytest.approx(0.9, abs=0.02)
    assert ratio["low"] < 0.9 < ratio["high"]


def test_comparison_needs_bootstrapped_fits_and_covers_every_pair():
    plain = PowerLawFit().fit(SHARDS, noisy_power_law(5.0, -0.1, seed=6))
    with pytest.raises(ValueError, match="'fit'"):
        compare.exponent_difference(plain, bootstrapped(5.0, -0.1, seed=7))
    fits = {name: bootstrapped(5.0, -0.1, seed=s) for s, name in enumerate("abc")}
    table = compare.exponent_comparison(fits)
    assert list(zip(table["curve_a"], table["curve_b"])) == [("a", "b"), ("a", "c"), ("b", "c")]


def test_drift_table_measures_the_excess_over_the_law():
    losses = 5.0 * SHARDS**-0.1
    losses[-1] *= 1.10  # the largest shard drifts 10 % above the law
    best = curves.winners(fake_trials("s", "lstm2", losses), "val_loss", "lstm2")
    fit = PowerLawFit().fit(SHARDS[:-1], losses[:-1])
    drift = compare.drift_table(best, fit, "val_loss")
    assert drift["excess"].iloc[-1] == pytest.approx(0.10, abs=1e-6)
    assert np.allclose(drift["excess"].iloc[:-1], 0, atol=1e-6)


# ----------------------------------------------------------------------------- word LM task hook
@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_word_task_steps_per_epoch_counts_the_batches_of_one_pass(batch_size):
    rng = np.random.default_rng(0)
    sentences = [np.append(rng.integers(2, 30, size=rng.integers(3, 12)), 0) for _ in range(60)]
    vocab = WordVocabulary.build([[str(i) for i in range(30)]], 32)
    task = WordLMTask("t", PackedSequences.pack(sentences), np.arange(50) % 30, vocab, unroll=7)
    indices = np.arange(0, 60, 2)
    batches = list(task.train_batches(indices, batch_size, torch.Generator().manual_seed(0), "cpu"))
    assert task.steps_per_epoch(indices, batch_size) == len(batches)


# ----------------------------------------------------------------------------- profiles and sweeps
def configs(module, chapter):
    return [resolve(chapter, module.SCALES, profile=p, seed=1, datasets=module.DATASETS) for p in PROFILES]


@pytest.mark.parametrize("config", configs(word_lm, "word_lm"), ids=PROFILES)
def test_word_profiles_search_their_families_on_shards_the_fit_can_use(config):
    (spec,) = word_lm.sweep_specs(config)
    assert {s.family for s in spec.searches} == set(config["families"]) <= set(word_lm.FAMILIES)
    assert config["retune"]["family"] in config["families"]
    if config.profile != "laptop":  # a laptop's budget trains the 2-layer LSTM alone
        assert set(config["families"]) == set(word_lm.FAMILIES)
    assert sum(size >= config["fit_from"] for size in spec.shard_sizes) >= 3
    decades = math.log10(spec.shard_sizes[-1] / spec.shard_sizes[0])
    assert decades >= {"smoke": 0.6, "laptop": 1.5, "paper": 2.0}[config.profile]
    for row in word_lm.TABLE1_ROWS:
        assert row["sweep"].format(profile=config.profile, seed=config.seed) == spec.name
        assert row["fit_from_units"] == config["fit_from"]


def test_word_retune_trains_the_largest_winner_again_with_a_larger_budget():
    config = resolve("word_lm", word_lm.SCALES, profile="laptop", seed=2, datasets=word_lm.DATASETS)
    losses = 5.0 * SHARDS**-0.1
    trials = fake_trials(word_lm.sweep_name("laptop", 2), "lstm2", losses, sizes=[16, 16, 32, 32, 48, 64])
    search, retune = word_lm.sweep_specs(config, trials)
    assert retune.name != search.name and retune.task == search.task and retune.seed == search.seed
    assert retune.shard_sizes == search.shard_sizes[-1:]
    (tuned,) = retune.searches
    assert tuned.grid == (64.0,) and tuned.growth == (0.0,) and tuned.samples == config["retune"]["samples"]
    assert retune.trainer.max_steps == config["retune"]["budget_factor"] * search.trainer.max_steps


def test_word_tables_recover_exponents_and_the_retuned_point():
    config = resolve("word_lm", word_lm.SCALES, profile="paper", seed=0, datasets=word_lm.DATASETS)
    betas = {"lstm2": -0.07, "lstm4": -0.07, "rhn5": -0.2}
    frames = [fake_trials(word_lm.sweep_name("paper", 0), f, noisy_power_law(6.0, b, seed=i, noise=0.003),
                          sizes=16 * np.sqrt(SHARDS / SHARDS[0])) for i, (f, b) in enumerate(betas.items())]
    retuned = fake_trials(word_lm.sweep_name("paper", 0, "retune"), "lstm2", [np.nan] * 5 + [4.0]).dropna()
    trials = pd.concat(frames + [retuned], ignore_index=True)
    winners, judged = word_lm.family_winners(trials, config)
    assert not winners["lstm2"]["in_fit"].iloc[0] and winners["lstm2"]["in_fit"].iloc[1:].all()
    assert {v.kind for v in judged.values()} == {"measured"}
    fits = word_lm.family_fits(winners, bootstrap=200, seed=0)
    table = word_lm.exponent_table(winners, fits)
    assert np.allclose(table["beta_g"], list(betas.values()), atol=0.01)
    assert np.allclose(table["beta_p"], 0.5, atol=0.01)  # widths grow as sqrt(m), parameters with them
    shared = word_lm.shared_exponent_table(fits).set_index(["curve_a", "curve_b"])["shared"]
    assert shared[("LSTM, 2 layers", "LSTM, 4 layers")] and not shared[("LSTM, 2 layers", "RHN, depth 5")]
    retune = word_lm.retune_table(trials, config, fits["lstm2"][0])
    assert list(retune["run"]) == ["model search", "more tuning"] and retune["val_loss"].iloc[1] == 4.0
    rows = word_lm.table1(winners, fits)
    assert list(rows["paper beta_g"]) == [-0.066, -0.070]
    assert rows["our beta_g"].tolist() == pytest.approx([betas["lstm2"], betas["rhn5"]], abs=0.01)


# ----------------------------------------------------------------------------- character LM
@pytest.mark.parametrize("config", configs(char_lm, "char_lm"), ids=PROFILES)
def test_char_profiles_give_one_sweep_per_optimizer_on_the_same_shards(config):
    sgd, adam = char_lm.sweep_specs(config)
    assert [s.searches[0].optimizer for s in (sgd, adam)] == ["sgd", "adam"]
    assert sgd.name != adam.name and sgd.shard_sizes == adam.shard_sizes and sgd.task == adam.task
    assert sgd.searches[0].lr_range == tuple(config["sgd_lr_range"])
    assert adam.searches[0].lr_range == tuple(config["searches"][0]["lr_range"])
    decades = math.log10(adam.shard_sizes[-1] / adam.shard_sizes[0])
    assert decades >= {"smoke": 0.6, "laptop": 1.5, "paper": 2.0}[config.profile]
    assert sum(size >= config["fit_from"] for size in adam.shard_sizes) >= 3
    (row,) = char_lm.TABLE1_ROWS
    assert row["sweep"].format(profile=config.profile, seed=config.seed) == adam.name


def test_char_comparison_finds_a_shift_without_a_change_of_slope():
    config = resolve("char_lm", char_lm.SCALES, profile="laptop", seed=0, datasets=char_lm.DATASETS)
    sgd = noisy_power_law(4.0, -0.09, seed=8, noise=0.003)
    family = config["family"]
    trials = pd.concat([fake_trials(char_lm.sweep_name("laptop", 0, "sgd"), family, sgd),
                        fake_trials(char_lm.sweep_name("laptop", 0, "adam"), family, 0.85 * sgd)])
    winners, judged = char_lm.optimizer_winners(trials, config)
    fits = char_lm.optimizer_fits(winners, bootstrap=200, seed=0)
    comparison = char_lm.optimizer_comparison(winners, fits)
    assert comparison["exponent"]["shared"] and abs(comparison["exponent"]["difference"]) < 1e-6
    assert comparison["shift"]["ratio"] == pytest.approx(0.85, abs=1e-3)
    assert np.allclose(comparison["measured"]["ratio"], 0.85)
    assert np.allclose(char_lm.drift(winners, fits)["excess"].abs().max(), 0, atol=0.01)
    assert char_lm.table1(fits)["our beta_g"].iloc[0] == pytest.approx(-0.09, abs=0.01)
    assert char_lm.exponent_table(winners, fits)["curve"].tolist() == ["LSTM, 1 layer, SGD", "LSTM, 1 layer, Adam"]
    assert char_lm.table1(fits, profile="laptop")["model"].iloc[0] == "LSTM, 1 layer"
    assert char_lm.table1(fits)["model"].iloc[0] == "RHN, depth 10"  # the paper profile trains the paper's model
    assert [v.kind for v in judged.values()] == ["measured", "measured"]  # 8k-128k: 1.2 decades
    assert "a shift without a change of slope" in char_lm.comparison_claim(comparison, judged)
    short = {o: replace(v, kind="too short") for o, v in judged.items()}  # as if the span were shorter
    assert char_lm.comparison_claim(comparison, short).startswith("No curve measures a power law")
    table = char_lm.table1(fits, judged)
    assert table["agrees"].iloc[0] == (table["beta_g 95% low"].iloc[0] <= -0.094 <= table["beta_g 95% high"].iloc[0])


def test_family_labels_read_layers_and_depth():
    assert [char_lm.family_label(f) for f in ("lstm1", "lstm4", "rhn10")] == ["LSTM, 1 layer", "LSTM, 4 layers",
                                                                            "RHN, depth 10"]
    assert char_lm.SCALES["paper"]["family"] == char_lm.PAPER_FAMILY
    both = {"sgd": pd.DataFrame({"family": ["lstm1"]}), "adam": pd.DataFrame({"family": ["rhn10"]})}
    with pytest.raises(ValueError, match="one family"):
        char_lm.winners_family(both)


def test_flattening_verdict_tells_a_plateau_from_a_falling_curve():
    falling = curves.winners(fake_trials("s", "rhn10", 4.0 * SHARDS**-0.1), "val_loss", "rhn10")
    flat = curves.winners(fake_trials("s", "rhn10", [3.0, 2.5, 2.2, 2.2, 2.19, 2.2]), "val_loss", "rhn10")
    assert "still falls by 18.8 %" in char_lm.flattening_verdict(falling)  # 1 - 8**-0.1
    assert "only 0.0 %" in char_lm.flattening_verdict(flat)


# ----------------------------------------------------------------------------- verdicts
def lm_baselines(values: dict) -> pd.DataFrame:
    """Shard baselines of ``val_loss``: ``{name: one value per shard}``."""
    return pd.concat([pd.DataFrame({"shard": range(len(SHARDS)), "shard_units": SHARDS, "baseline": name,
                                    "metric": "val_loss", "value": np.asarray(v, float)})
                      for name, v in values.items()], ignore_index=True)


def test_word_curves_at_their_bigram_claim_no_power_law_no_model_size_and_no_agreement():
    config = resolve("word_lm", word_lm.SCALES, profile="paper", seed=0, datasets=word_lm.DATASETS)
    losses = {f: noisy_power_law(6.0, -0.066, seed=i, noise=0.003) for i, f in enumerate(word_lm.FAMILIES)}
    trials = pd.concat([fake_trials(word_lm.sweep_name("paper", 0), f, loss, sizes=16 * np.sqrt(SHARDS / SHARDS[0]))
                        for f, loss in losses.items()], ignore_index=True)
    bigram = 0.99 * np.minimum.reduce(list(losses.values()))  # a bigram as good as every model
    winners, judged = word_lm.family_winners(trials, config, lm_baselines({"bigram": bigram, "unigram": bigram + 1}))
    assert {v.kind for v in judged.values()} == {"no learning"}
    fits = word_lm.family_fits(winners, bootstrap=200, seed=0)
    sizes = word_lm.size_verdicts(winners, fits, judged, trials, config)
    assert {s.kind for s in sizes.values()} == {"not measured"}
    table = word_lm.exponent_table(winners, fits, judged, sizes)
    assert table["verdict"].str.startswith("no learning").all() and (table["below_baseline"] == 0).all()
    assert table["size_verdict"].str.startswith("not measured").all()
    rows = word_lm.table1(winners, fits, judged)
    assert rows["beta_g 95% low"].iloc[0] <= -0.066 <= rows["beta_g 95% high"].iloc[0]  # the interval alone agrees
    assert not rows["agrees"].any() and rows["verdict"].str.contains("bigram").all()
    assert word_lm.shared_exponent_note(judged).startswith("No curve measures a power law")
    for family in word_lm.FAMILIES:
        assert "does not measure a power law" in verdicts.claim(judged[family])
        assert "no sublinear growth" in verdicts.size_claim(sizes[family])
    retuned = pd.DataFrame({"val_loss": [5.0, 4.0]})  # more tuning gains 20 %
    assert "exponent" not in word_lm.retune_verdict(retuned, fits["lstm2"][0], judged["lstm2"])
    assert "the fitted exponent is flatter" in word_lm.retune_verdict(retuned, fits["lstm2"][0])
    worse = pd.DataFrame({"val_loss": [3.53, 3.57]})  # more tuning finds nothing better
    assert word_lm.retune_verdict(worse, fits["lstm2"][0]).startswith(
        "More tuning found no better model: its best scores 3.570 against the search winner's 3.530")


def test_starved_char_curves_claim_no_power_law_no_shift_and_no_agreement():
    config = resolve("char_lm", char_lm.SCALES, profile="laptop", seed=0, datasets=char_lm.DATASETS)
    sgd = noisy_power_law(4.0, -0.094, seed=8, noise=0.003)
    trials = pd.concat([fake_trials(char_lm.sweep_name("laptop", 0, o), config["family"], loss, stop_reason="max_steps")
                        for o, loss in (("sgd", sgd), ("adam", 0.85 * sgd))])
    trigram = lm_baselines({"trigram": np.full(len(SHARDS), 10.0)})
    winners, judged = char_lm.optimizer_winners(trials, config, {"sgd": trigram, "adam": trigram})
    assert [v.kind for v in judged.values()] == ["starved", "starved"]
    assert judged["adam"].text.startswith("starved: 5 of 5 winners stopped by a cap, 5 of 5 still improving")
    fits = char_lm.optimizer_fits(winners, bootstrap=200, seed=0)
    comparison = char_lm.optimizer_comparison(winners, fits)
    assert comparison["exponent"]["shared"]  # the intervals alone would read as the paper's claim
    claim = char_lm.comparison_claim(comparison, judged)
    assert claim.startswith("No curve measures a power law") and "shift without" not in claim
    table = char_lm.table1(fits, judged)
    assert not table["agrees"].iloc[0] and table["verdict"].iloc[0].startswith("starved")
    sizes = char_lm.size_verdicts(winners, fits, judged, trials, config)
    assert {s.kind for s in sizes.values()} == {"not measured"}
    assert char_lm.exponent_table(winners, fits, judged, sizes)["verdict"].str.startswith("starved").all()
    flat = curves.winners(fake_trials("s", "rhn10", [3.0, 2.5, 2.2, 2.2, 2.19, 2.2]), "val_loss", "rhn10")
    assert "its verdict is starved" in char_lm.flattening_verdict(flat, judged["adam"])
    spec = char_lm.optimizers_chart(winners, fits, {"sgd": trigram, "adam": trigram}).to_dict()
    assert len(spec["layer"]) == 2 and len(spec["datasets"]) >= 1


def test_word_prose_names_the_families_a_profile_leaves_out_and_compares_only_pairs():
    assert word_lm.untrained_note(list(word_lm.FAMILIES)) == ""
    note = word_lm.untrained_note(["lstm2"])
    assert note.startswith("The 4-layer LSTM and depth-5 RHN are not trained") and "2-layer LSTM alone" in note
    config = resolve("word_lm", word_lm.SCALES, profile="paper", seed=0, datasets=word_lm.DATASETS)
    trials = fake_trials(word_lm.sweep_name("paper", 0), "lstm2", noisy_power_law(6.0, -0.07, seed=1, noise=0.003),
                         sizes=16 * np.sqrt(SHARDS / SHARDS[0]))
    winners, judged = word_lm.family_winners(trials, replace(config, settings={**config.settings,
                                                                                "families": {"lstm2": [16]}}))
    fits = word_lm.family_fits(winners, bootstrap=200, seed=0)
    shared = word_lm.shared_exponent_table(fits)
    assert shared.empty and word_lm.shared_summary(shared, judged).startswith("With one family trained")
    exponents = word_lm.exponent_table(winners, fits, judged)
    sentence = word_lm.slopes(exponents, list(fits))
    assert sentence.startswith("The fitted slope is -0.070 for the 2-layer LSTM")
    assert word_lm.size_exponents(exponents, list(fits)).startswith("0.50 (2-layer LSTM; 95 % interval")
    assert word_lm.verdict_list(judged).startswith("2-layer LSTM: power law measured over 1.2 decades")
    assert word_lm.claims(judged).startswith("The 2-layer LSTM curve")


def test_word_baseline_note_names_where_the_model_first_beats_the_bigram():
    best = pd.DataFrame({"shard_units": SHARDS, "below_baseline": [False, False, True, True, True, True]})
    note = word_lm.baseline_note({"lstm2": best})
    assert f"from {SHARDS[2]:,.0f} words on (4 of 6 shards)" in note
    assert f"at most {np.log10(SHARDS[-1] / SHARDS[2]):.1f} decades" in note
    assert "nowhere clearly" in word_lm.baseline_note({"lstm2": best.assign(below_baseline=False)})
    assert "whole training set" not in note
    whole = word_lm.baseline_note({"lstm2": best}, training_words=8 * SHARDS[-1])  # three more doublings
    assert (f"whole training set ({8 * SHARDS[-1]:,.0f} words) would add at most 0.9, for "
            f"{np.log10(8 * SHARDS[-1] / SHARDS[2]):.1f} decades in all") in whole
