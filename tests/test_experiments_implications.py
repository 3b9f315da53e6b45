"""The implications chapter's logic on synthetic results stores: Table 1, projections, scoreboard, rankings."""

from __future__ import annotations

import json
import re
import sys
import types

import numpy as np
import pandas as pd
import pytest

from scaling_core.experiments import contract, implications, predictability, projections, table1
from scaling_core.fit.forms import three_region
from scaling_core.paths import store_path
from scaling_core.profiles import PROFILES, ParameterError
from scaling_core.sweep.store import Store

BETA_G, BETA_P = -0.3, 0.7
SHARDS = 100.0 * 2.0 ** np.arange(8)  # 100 ... 12,800 units, 2.1 decades


@pytest.fixture(autouse=True)
def _own_results(tmp_path, monkeypatch):
    """A fresh results folder per test, so stores written by one test never reach another."""
    monkeypatch.setenv("SCALING_CORE_RESULTS", str(tmp_path / "results"))


def best_params(m):
    """Parameter count of the best model on a shard of ``m`` units: 50 m^0.7."""
    return 50.0 * m**BETA_P


def synthetic_error(m, n, rng, noise=0.01):
    """3 m^-0.3, worse by 30 % per e-fold away from the best size, with lognormal noise."""
    penalty = 1.0 + 0.3 * np.abs(np.log(n / best_params(m)))
    return 3.0 * m**BETA_G * penalty * np.exp(noise * rng.standard_normal())


def write_store(path, sweep, error, families=("lstm",), shards=SHARDS, seed=0, optimizer=None, stop_reason=None):
    """A results store with three sizes per family and shard, finished through the Store API."""
    rng = np.random.default_rng(seed)
    keys = []
    with Store(path) as store:
        for k, m in enumerate(shards):
            for family in families:
                for factor in (0.5, 1.0, 2.0):
                    n = best_params(m) * factor * (1.1 if family != families[0] else 1.0)
                    key = f"{sweep}-{k}-{family}-{factor}"
                    keys.append(key)
                    config = {"lr": 1e-3, **({"optimizer": optimizer} if optimizer else {})}
                    store.add([{"key": key, "sweep": sweep, "shard": k, "shard_units": m, "family": family,
                                "size": round(factor * m, 3), "config": config}])
                    store.start(key)
                    store.finish(key, {"status": "done", "num_params": int(n), "epochs": 10.0,
                                       "wall_time": 1e-3 * m, "metrics": {"val_error": error(m, n, rng)},
                                       "stop_reason": stop_reason or "early_stop", "improving": 0})
        store.mark_complete(sweep, json.dumps({"spec": {}, "keys": keys}))


def install_chapter(monkeypatch, name, rows, datasets=("default",)):
    """Make ``scaling_core.experiments.<name>`` a chapter keeping the contract, with ``TABLE1_ROWS = rows``."""
    module = types.ModuleType(f"scaling_core.experiments.{name}")
    module.SCALES = {profile: {} for profile in PROFILES}
    module.DATASETS = datasets
    module.TABLE1_ROWS = rows
    module.sweep_specs = lambda config: []
    module.store = lambda config: store_path(name, config.profile, config.dataset)
    module.run = lambda config: None
    assert contract.missing_names(module) == []
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(contract, "CHAPTERS", (*contract.CHAPTERS, name))


def row(**changes):
    base = {"domain": "Toy", "model": "LSTM", "sweep": "toy-{profile}-seed{seed}", "family": "lstm",
            "metric": "val_error", "unit": "tokens", "fit_from_units": 200, "paper_beta_g": -0.3,
            "paper_beta_p": 0.72}
    return {**base, **changes}


@pytest.fixture
def toy(monkeypatch):
    """One domain chapter ("toy_domain") with a smoke store, and one chapter whose module lacks rows."""
    install_chapter(monkeypatch, "toy_domain", [row(), row(model="RHN", family="rhn", paper_beta_g=-0.2)],
                    datasets=("tiny",))
    install_chapter(monkeypatch, "toy_norows", [])
    rng = np.random.default_rng(1)
    write_store(store_path("toy_domain", "smoke", "tiny"), "toy-smoke-seed0",
                lambda m, n, _: synthetic_error(m, n, rng), families=("lstm", "rhn"), optimizer="sgd")
    curves, missing = table1.collect("smoke", 0, chapters=("toy_domain", "toy_norows"))
    return table1.fit_curves(curves, bootstrap=100, seed=0), missing


# ----------------------------------------------------------------------------- Table 1


def test_collect_reads_stores_and_names_what_is_missing(toy):
    curves, missing = toy
    assert [c.name for c in curves] == ["Toy / LSTM / val_error", "Toy / RHN / val_error"]
    assert curves[0].complete and len(curves[0].trials) == 8 * 2 * 3
    reasons = dict(zip(missing["chapter"], missing["reason"]))
    assert reasons == {"toy_norows": "the chapter defines no Table 1 rows"}
    with pytest.raises(ParameterError, match="parameter 'chapter' got 'toy_absent'"):
        table1.collect("smoke", 0, chapters=("toy_absent",))


def test_missing_store_and_missing_sweep_are_listed(monkeypatch):
    install_chapter(monkeypatch, "toy_domain", [row()])
    curves, missing = table1.collect("laptop", 0, chapters=("toy_domain",))
    assert curves == [] and missing["reason"].tolist() == ["no laptop results store (default-laptop.sqlite)"]
    write_store(store_path("toy_domain", "laptop"), "other-sweep", lambda m, n, rng: 0.5)
    _, missing = table1.collect("laptop", 0, chapters=("toy_domain",))
    assert "no trials of sweep 'toy-laptop-seed0'" in missing["reason"].iloc[0]


def test_a_row_whose_family_the_profile_does_not_train_is_listed_as_missing(monkeypatch):
    install_chapter(monkeypatch, "toy_domain", [row(), row(model="RHN", family="rhn")])
    write_store(store_path("toy_domain", "laptop"), "toy-laptop-seed0", lambda m, n, rng: 0.5, families=("lstm",))
    curves, missing = table1.collect("laptop", 0, chapters=("toy_domain",))
    assert [c.row["family"] for c in curves] == ["lstm"]
    assert missing["reason"].tolist() == ["sweep 'toy-laptop-seed0' trains no rhn at this profile"]


def test_rows_lacking_keys_are_reported(monkeypatch):
    install_chapter(monkeypatch, "toy_domain", [{"domain": "Toy"}])
    with pytest.raises(ValueError, match="TABLE1_ROWS lacks keys .*metric"):
        table1.chapter_rows("toy_domain")


def test_table1_recovers_the_exponents_of_a_synthetic_store(toy):
    table = table1.table1(toy[0])
    lstm = table.iloc[0]
    assert lstm["beta_g"] == pytest.approx(BETA_G, abs=0.02)
    assert lstm["beta_p"] == pytest.approx(BETA_P, abs=0.02)
    assert lstm["beta_g_low"] < BETA_G < lstm["beta_g_high"]
    assert lstm["fit_shards"] == 7 and lstm["min_units"] == 200 and lstm["max_units"] == SHARDS[-1]
    assert lstm["decades"] == pytest.approx(np.log10(64)) and lstm["optimizer"] == "sgd"
    assert bool(lstm["paper_inside"]) and not bool(table.iloc[1]["paper_inside"])  # -0.2 is far off
    shown = table1.display_table(table)
    assert shown["our beta_g (95 % interval)"].iloc[0].startswith(f"{lstm['beta_g']:.3f} (")
    assert "<th></th>" not in shown._repr_html_()  # no index column
    assert lstm["verdict"] == "measured" and bool(lstm["agrees"])
    assert shown["verdict"].iloc[0].startswith("power law measured over 1.8 decades")


def test_a_starved_curve_inside_the_papers_interval_does_not_agree(monkeypatch):
    install_chapter(monkeypatch, "toy_domain", [row()])
    rng = np.random.default_rng(1)
    write_store(store_path("toy_domain", "smoke"), "toy-smoke-seed0", lambda m, n, _: synthetic_error(m, n, rng),
                stop_reason="max_steps")
    curves, _ = table1.collect("smoke", 0, chapters=("toy_domain",))
    table = table1.table1(table1.fit_curves(curves, bootstrap=100, seed=0))
    assert bool(table["paper_inside"].iloc[0]) and table["verdict"].iloc[0] == "starved"
    assert not bool(table["agrees"].iloc[0]) and table["capped_share"].iloc[0] == 1.0
    numbers = implications.table_numbers(table)
    assert (numbers["n_paper_inside"], numbers["n_agree"], numbers["n_starved"]) == ("1", "0", "1")


def test_too_few_shards_gives_a_note_not_a_crash(monkeypatch):
    install_chapter(monkeypatch, "toy_domain", [row(fit_from_units=SHARDS[-2])])
    write_store(store_path("toy_domain", "smoke"), "toy-smoke-seed0",
                lambda m, n, rng: synthetic_error(m, n, rng), shards=SHARDS)
    curves = table1.fit_curves(table1.collect("smoke", 0, chapters=("toy_domain",))[0], bootstrap=50)
    table = table1.table1(curves)
    assert curves[0].fit is None and curves[0].note.startswith("not enough points: 2 shard(s)")
    assert np.isnan(table["beta_g"].iloc[0])
    assert table1.display_table(table)["our beta_g (95 % interval)"].iloc[0] == "not fitted"


def test_fit_from_may_be_given_per_profile(monkeypatch):
    install_chapter(monkeypatch, "toy_domain", [row(fit_from_units={"smoke": 800, "laptop": 100, "paper": 1})])
    write_store(store_path("toy_domain", "smoke"), "toy-smoke-seed0", lambda m, n, rng: synthetic_error(m, n, rng))
    curve = table1.fit_curves(table1.collect("smoke", 0, chapters=("toy_domain",))[0], bootstrap=50)[0]
    assert curve.fit_from == 800 and curve.best["in_fit"].sum() == 5


# ----------------------------------------------------------------------------- projections


def test_required_data_inverts_the_power_law():
    m = projections.required_data(0.1, alpha=3.0, beta=-0.3)
    assert 3.0 * m**-0.3 == pytest.approx(0.1)
    with pytest.raises(ValueError, match="target and alpha"):
        projections.required_data(-0.1, 3.0, -0.3)


def test_project_carries_every_law_through_each_resample():
    samples = pd.DataFrame({"curve": "c", "unit": "tokens", "metric": "val_error", "reference_error": 0.2,
                            "reference_units": 1e4, "alpha": [2.0, 3.0], "beta": [-0.25, -0.3],
                            "alpha_p": 5.0, "beta_p": 0.5, "alpha_c": 1e3, "beta_c": 1.5,
                            "alpha_t": 0.01, "beta_t": 1.0})
    out = projections.project(samples, 0.5)
    m = (0.1 / samples["alpha"]) ** (1 / samples["beta"])
    np.testing.assert_allclose(out["data"], m)
    np.testing.assert_allclose(out["data_multiple"], m / 1e4)
    np.testing.assert_allclose(out["params"], 5.0 * m**0.5)
    np.testing.assert_allclose(out["compute"], 1e3 * m**1.5)
    np.testing.assert_allclose(out["hours"], 0.01 * m / 3600)


def test_projection_follows_the_data_size_and_cost_laws(toy):
    curve = toy[0][0]
    samples = projections.projection_samples(curve, bootstrap=100, seed=0, n=100)
    table = projections.projection_table(samples, 0.5).set_index("quantity")
    truth = (0.5 * samples["reference_error"].iloc[0] / 3.0) ** (1 / BETA_G)
    assert table.loc["data", "low"] < table.loc["data", "median"] < table.loc["data", "high"]
    assert table.loc["data", "median"] == pytest.approx(truth, rel=0.2)
    assert table.loc["params", "median"] == pytest.approx(best_params(table.loc["data", "median"]), rel=0.2)
    # cost: 6 N E m with N = 50 m^0.7 and E = 10 epochs, so C ~ m^1.7; wall time 1 ms per unit
    assert samples["beta_c"].median() == pytest.approx(1.7, abs=0.05)
    assert samples["beta_t"].median() == pytest.approx(1.0, abs=0.01)


def test_projection_intervals_cover_the_true_requirement():
    """Over 16 seeded curves, the 95 % interval of the data a target needs holds the truth nearly always."""
    from scaling_core.experiments.curves import fit_learning_curve, fit_model_size

    covered = []
    for seed in range(16):
        rng = np.random.default_rng(seed)
        m = SHARDS[1:]
        best = pd.DataFrame({"shard_units": m, "val_error": 3.0 * m**BETA_G * np.exp(0.02 * rng.standard_normal(7)),
                             "num_params": best_params(m), "epochs": 10.0, "wall_time": 1e-3 * m, "in_fit": True})
        curve = types.SimpleNamespace(name="toy", unit="tokens", metric="val_error", best=best,
                                      fit=fit_learning_curve(best, "val_error", 100, seed),
                                      size_fit=fit_model_size(best, 100, seed))
        table = projections.projection_table(projections.projection_samples(curve, 100, seed, 100), 0.5)
        target = 0.5 * best["val_error"].iloc[-1]
        low, high = table.set_index("quantity").loc["data", ["low", "high"]]
        covered.append(low < (target / 3.0) ** (1 / BETA_G) < high)
    assert np.mean(covered) >= 0.8


def test_projection_needs_a_fitted_curve(toy, monkeypatch):
    curve = toy[0][0]
    monkeypatch.setattr(curve, "fit", None)
    with pytest.raises(ValueError, match="no fitted learning curve"):
        projections.projection_samples(curve)


def si_number(text):
    """A d3 ``~s`` or ``~g`` number (``1.23M``, ``450m``, ``0.0013``, ``1.3e-5``) as a float."""
    try:
        return float(text.replace("−", "-"))
    except ValueError:
        pass
    prefixes = {"y": -24, "z": -21, "a": -18, "f": -15, "p": -12, "n": -9, "µ": -6, "m": -3, "": 0,
                "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18, "Z": 21, "Y": 24}
    number, prefix = re.fullmatch(r"([-\d.]+)(\D?)", text.replace("−", "-")).groups()
    return float(number) * 10.0 ** prefixes[prefix]


def test_calculator_computes_in_the_browser_what_python_computes(toy):
    vl_convert = pytest.importorskip("vl_convert")
    curves = toy[0]
    samples = pd.concat([projections.projection_samples(c, 100, 0, n=100) for c in curves])
    winners = pd.DataFrame({"curve": curves[0].name, "shard_units": SHARDS, "error": 0.1, "reference_error": 0.1})
    chart = projections.calculator_chart(samples, winners, target_range=(0.5, 0.9))
    spec = chart.to_dict()
    assert {p["name"] for p in spec["params"]} == {"target", "curve"}
    svg = vl_convert.vegalite_to_svg(spec)
    number = r"([-−\d.e]+\w?)"
    shown = re.findall(rf">{number}\s+\[{number}, {number}\]<", svg)
    expected = projections.projection_table(samples[samples["curve"] == curves[0].name], 0.7)
    assert len(shown) == len(projections.QUANTITIES)
    medians = sorted(si_number(median) for median, _, _ in shown)
    np.testing.assert_allclose(medians, sorted(expected["median"]), rtol=0.01)


# ----------------------------------------------------------------------------- predictability


def test_scoreboard_predicts_a_power_law_better_than_the_last_value(toy):
    board = predictability.scoreboard(toy[0][:1], horizons=(1, 2), estimators={})
    assert set(board["horizon"]) == {1, 2} and (board["status"] == "ok").all()
    assert board["relative_error"].max() < 0.05
    assert board["decades_ahead"].round(3).tolist() == pytest.approx([0.301, 0.301, 0.602])
    last = predictability.scoreboard(toy[0][:1], horizons=(2,), estimators={"last": projections_last_value})
    assert last.loc[last["estimator"] == "last", "relative_error"].min() > 0.15
    summary = predictability.scoreboard_summary(board)
    assert summary.loc[("all curves", "all"), "paper (power law)"] == pytest.approx(
        100 * board["relative_error"].mean())


def projections_last_value():
    from scaling_core.fit import LastValue

    return LastValue()


def test_scoreboard_skips_horizons_a_curve_cannot_afford(toy):
    curve = toy[0][0]
    curve.best = curve.best.head(3)
    board = predictability.scoreboard([curve], horizons=(1, 2, 5), estimators={})
    assert set(board["horizon"]) == {1}


# ----------------------------------------------------------------------------- model exploration


def scores_frame(small_order, large_order):
    """Model scores on two shards with the given rankings (lower is better)."""
    rows = [{"shard_units": m, "family": "f", "size": float(size), "val_error": rank / 10 + 0.1}
            for m, order in ((100.0, small_order), (1000.0, large_order)) for rank, size in enumerate(order)]
    frame = pd.DataFrame(rows)
    frame["model"] = frame["family"] + " " + frame["size"].map("{:g}".format)
    return frame


def test_ranking_agreement_measures_rank_correlation():
    same = predictability.ranking_agreement(scores_frame([1, 2, 3, 4], [1, 2, 3, 4]), "val_error")
    flipped = predictability.ranking_agreement(scores_frame([1, 2, 3, 4], [4, 3, 2, 1]), "val_error")
    assert same["spearman"].iloc[0] == pytest.approx(1) and bool(same["best_holds"].iloc[0])
    assert flipped["spearman"].iloc[0] == pytest.approx(-1) and not bool(flipped["best_holds"].iloc[0])
    few = predictability.ranking_agreement(scores_frame([1, 2], [1, 2]), "val_error", min_models=3)
    assert few["models"].iloc[0] == 2 and "spearman" not in few


def test_ranking_table_reads_every_model_of_a_store(monkeypatch):
    install_chapter(monkeypatch, "toy_domain", [row(), row(model="RHN", family="rhn")])
    grid = {"lstm": (2e3, 8e3, 3e4, 1e5), "rhn": (4e3, 1.6e4, 6e4)}  # fixed sizes, trained on every shard
    rng = np.random.default_rng(0)
    with Store(store_path("toy_domain", "smoke")) as store:
        for k, m in enumerate(SHARDS):
            for family, sizes in grid.items():
                for n in sizes:
                    key = f"{k}-{family}-{n}"
                    store.add([{"key": key, "sweep": "toy-smoke-seed0", "shard": k, "shard_units": m,
                                "family": family, "size": n}])
                    store.finish(key, {"status": "done", "num_params": int(n),
                                       "metrics": {"val_error": synthetic_error(m, n, rng)}})
    curves = table1.collect("smoke", 0, chapters=("toy_domain",))[0]
    table = predictability.ranking_table(curves).set_index("shard_units")
    assert len(table) == len(SHARDS) - 1 and (table["models"] == 7).all()  # one store and metric: counted once
    # small shards favour small models, so rankings agree better the nearer the shard is to the largest
    assert table.loc[SHARDS[-2], "spearman"] > 0.5 > table.loc[SHARDS[0], "spearman"]
    assert not table.loc[SHARDS[0], "best_holds"] and table.loc[SHARDS[-2], "best_holds"]
    assert table["family_order_holds"].notna().all()
    assert predictability.ranking_chart(table.reset_index()).to_dict()["mark"]["type"] == "line"


# ----------------------------------------------------------------------------- regions and joint law


def test_three_region_table_finds_the_plateau_and_floor(monkeypatch):
    install_chapter(monkeypatch, "toy_domain", [row(fit_from_units=None)])
    shards = 2.0 ** np.arange(16)
    truth = dict(best_guess=0.9, alpha=2.0, beta=-0.5, gamma=0.02)  # regions meet near 5 and 10,000
    write_store(store_path("toy_domain", "smoke"), "toy-smoke-seed0",
                lambda m, n, rng: three_region(m, **truth) * np.exp(0.005 * rng.standard_normal()), shards=shards)
    curves = table1.fit_curves(table1.collect("smoke", 0, chapters=("toy_domain",))[0], bootstrap=50)
    regions, fits = implications.region_table(curves)
    small, irreducible = truth["best_guess"], truth["gamma"]
    expected_small = (small / truth["alpha"]) ** (1 / truth["beta"])
    expected_floor = (irreducible / truth["alpha"]) ** (1 / truth["beta"])
    assert regions["small_data_end"].iloc[0] == pytest.approx(expected_small, rel=0.25)
    assert regions["irreducible_start"].iloc[0] == pytest.approx(expected_floor, rel=0.25)
    frame = implications.sketch_frame(curves, fits)
    assert set(frame["region"]) == {"small-data", "power-law", "irreducible"}
    assert implications.sketch_chart(frame).to_dict()["facet"]["field"] == "curve"


def test_three_region_needs_five_shards(toy):
    curve = toy[0][0]
    curve.best = curve.best.head(4)
    regions, fits = implications.region_table([curve])
    assert fits == {} and regions["note"].iloc[0].startswith("not enough points: 4 shard(s)")


def test_joint_fit_recovers_both_exponents(monkeypatch):
    install_chapter(monkeypatch, "toy_domain", [row()])
    law = dict(alpha=4.0, beta=-0.35, alpha_n=6.0, beta_n=-0.5, gamma=0.05)
    write_store(store_path("toy_domain", "smoke"), "toy-smoke-seed0",
                lambda m, n, rng: (law["alpha"] * m ** law["beta"] + law["alpha_n"] * n ** law["beta_n"]
                                   + law["gamma"]) * np.exp(0.003 * rng.standard_normal()))
    curves = table1.fit_curves(table1.collect("smoke", 0, chapters=("toy_domain",))[0], bootstrap=50)
    table, fits = implications.joint_table(curves, starts=4)
    assert table["points"].iloc[0] == 24
    assert table["beta"].iloc[0] == pytest.approx(law["beta"], abs=0.05)
    assert table["beta_n"].iloc[0] == pytest.approx(law["beta_n"], abs=0.05)
    assert table["beta_p_implied"].iloc[0] == pytest.approx(law["beta"] / law["beta_n"], abs=0.1)
    fit = fits[curves[0].name]
    n = implications.best_size_for_budget(fit, 1e4, share=0.1)
    assert fit.alpha_n_ * n**fit.beta_n_ == pytest.approx(0.1 * fit.alpha_ * 1e4**fit.beta_)
    assert "layer" in implications.joint_chart(curves[0], fit).to_dict()


def test_joint_fit_needs_enough_models(toy):
    fit, note = implications.joint_fit(toy[0][0], min_points=100)
    assert fit is None and note == "not enough points: 24 models, a joint fit needs 100"


def test_every_profile_has_settings():
    from scaling_core.profiles import PROFILES, resolve

    for profile in PROFILES:
        config = resolve("implications", implications.SCALES, profile=profile)
        assert config["bootstrap"] >= config["projection_samples"] and min(config["horizons"]) >= 1
    assert json.dumps(implications.SCALES)  # plain settings, printable in the chapter


def test_the_scoreboard_scores_what_a_flat_curve_learned_below_its_baseline(monkeypatch):
    install_chapter(monkeypatch, "toy_domain", [row(paper_beta_g=None)])
    write_store(store_path("toy_domain", "smoke"), "toy-smoke-seed0",
                lambda m, n, _: 5.0 + 0.5 * (m / 100) ** -0.5 * (1 + abs(np.log(n / best_params(m)))))
    curves, _ = table1.collect("smoke", 0, chapters=("toy_domain",))
    curve = table1.fit_curves(curves, bootstrap=0)[0]
    curve.baselines = pd.DataFrame({"shard": range(len(SHARDS)), "shard_units": SHARDS, "baseline": "unigram",
                                    "metric": "val_error", "value": 5.6})
    board = predictability.scoreboard([curve], horizons=(1,), estimators={})
    paper = board[board["estimator"] == "paper (power law)"].iloc[0]
    observed, predicted = paper["observed"], paper["predicted"]
    assert paper["baseline"] == 5.6
    assert paper["learned_error"] == pytest.approx(abs(predicted - observed) / (5.6 - observed))
    assert paper["relative_error"] < 0.02 < paper["learned_error"]  # "within 2 %" raw, not on what was learned
    assert not predictability.scoreboard_summary(board, "learned_error").empty
    with pytest.raises(ValueError, match="parameter 'column' got 'raw'"):
        predictability.scoreboard_summary(board, "raw")
