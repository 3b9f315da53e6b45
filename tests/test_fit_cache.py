"""The fit cache: a result is computed once per inputs and code, and again when either changes.

Also: the first rows of a bootstrap without the rest, and a scoreboard that fits each
estimator once per data set, both equal to what they replace.
"""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pandas as pd
import pytest

from scaling_core.experiments import predictability, table1
from scaling_core.fit import PowerLawFit, cache, extrapolation, uncertainty
from scaling_core.fit.baselines import BrokenPowerLawFit, LastValue
from scaling_core.fit.extrapolation import ValidatedExtrapolator, extrapolation_scoreboard, holdout_error
from scaling_core.paths import store_path
from test_experiments_implications import install_chapter, row, synthetic_error, write_store

M = np.logspace(2, 4, 9)


def curve(seed=0, noise=0.03):
    rng = np.random.default_rng(seed)
    return 3.0 * M**-0.3 * np.exp(noise * rng.standard_normal(len(M)))


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """An empty cache folder for this test (the session's is shared by every test)."""
    monkeypatch.setenv("SCALING_CORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(cache.SWITCH_ENV, raising=False)
    return tmp_path / "cache" / "fits"


@pytest.fixture
def computed(monkeypatch):
    """The bootstraps actually computed (not read from the cache), by their arguments."""
    calls = []
    real = uncertainty._bootstrap

    def counting(fit, **arguments):
        calls.append(arguments)
        return real(fit, **arguments)

    monkeypatch.setattr(uncertainty, "_bootstrap", counting)
    return calls


def booted(eps=None, n=100, seed=0, **settings):
    return PowerLawFit(**settings).fit(M, curve() if eps is None else eps).bootstrap(n=n, seed=seed)


def test_a_repeated_bootstrap_is_read_from_disk_and_equal(own_cache, computed):
    first, second = booted(), booted()
    assert len(computed) == 1 and len(list((own_cache / "bootstrap").glob("*.pickle"))) == 1
    pd.testing.assert_frame_equal(first.bootstrap_samples_, second.bootstrap_samples_, check_exact=True)
    assert (first.beta_ci_, first.alpha_ci_, first.ci_method_) == (second.beta_ci_, second.alpha_ci_, second.ci_method_)
    assert second.bootstrap_failures_ == first.bootstrap_failures_ == 0


def test_changed_data_seed_or_settings_miss_the_cache(own_cache, computed):
    booted()
    eps = curve()
    eps[3] *= 1 + 1e-12  # one error changed in its last digits
    booted(eps)
    booted(seed=1)
    booted(n=120)
    booted(huber_delta=0.1)
    assert len(computed) == 5
    booted(eps)
    assert len(computed) == 5


def test_changed_fitting_code_misses_the_cache(own_cache, computed, tmp_path, monkeypatch):
    package = tmp_path / "fit"
    shutil.copytree(cache.FIT_PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "FIT_PACKAGE", package)  # the code the key hashes
    booted()
    booted()
    assert len(computed) == 1
    with open(package / "uncertainty.py", "a") as source:
        source.write("\nCHANGED = True\n")
    booted()
    assert len(computed) == 2


def test_changed_caller_code_misses_the_cache(own_cache, tmp_path, monkeypatch):
    module = tmp_path / "toy_cached_module.py"
    module.write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import toy_cached_module  # noqa: F401 (cache keys hash the files of imported modules)

    runs = []

    def compute():
        runs.append(1)
        return {"answer": np.arange(3)}

    inputs = {"data": np.ones(4), "settings": {"n": 3, "name": "x"}}
    first = cache.cached("toy", inputs, compute, ("toy_cached_module",))
    assert cache.cached("toy", inputs, compute, ("toy_cached_module",))["answer"].tolist() == [0, 1, 2]
    assert len(runs) == 1
    module.write_text("VALUE = 2  # changed\n")
    cache.cached("toy", inputs, compute, ("toy_cached_module",))
    assert len(runs) == 2 and first["answer"].tolist() == [0, 1, 2]
    sys.modules.pop("toy_cached_module", None)


def test_a_changed_store_misses_the_cache(own_cache, computed, monkeypatch, tmp_path):
    monkeypatch.setenv("SCALING_CORE_RESULTS", str(tmp_path / "results"))
    install_chapter(monkeypatch, "toy_domain", [row()], datasets=("tiny",))
    path = store_path("toy_domain", "smoke", "tiny")

    def fitted(seed):
        rng = np.random.default_rng(seed)
        if path.exists():
            path.unlink()
        write_store(path, "toy-smoke-seed0", lambda m, n, _: synthetic_error(m, n, rng))
        curves, _ = table1.collect("smoke", 0, chapters=("toy_domain",))
        return table1.table1(table1.fit_curves(curves, bootstrap=100, seed=0))

    first = fitted(seed=1)
    assert len(computed) == 2  # the learning curve and the model-size law
    pd.testing.assert_frame_equal(fitted(seed=1), first, check_exact=True)  # the same store: read back
    assert len(computed) == 2
    changed = fitted(seed=2)  # other errors in the store: the learning curve is fitted again
    assert changed["beta_g"].iloc[0] != first["beta_g"].iloc[0]
    assert len(computed) == 3  # (the same winners' parameter counts: the model-size law is read back)
    assert changed["beta_p"].iloc[0] == first["beta_p"].iloc[0]


def test_an_unreadable_entry_is_computed_again(own_cache, computed):
    first = booted()
    entry = next((own_cache / "bootstrap").glob("*.pickle"))
    entry.write_bytes(b"not a pickle")
    again = booted()
    assert len(computed) == 2 and again.beta_ci_ == first.beta_ci_
    booted()
    assert len(computed) == 2  # rewritten


def test_the_cache_can_be_switched_off(own_cache, computed, monkeypatch):
    monkeypatch.setenv(cache.SWITCH_ENV, "off")
    booted()
    booted()
    assert len(computed) == 2 and not own_cache.exists()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the standard errors of the failed refits
def test_bootstrap_samples_are_the_first_rows_of_the_full_bootstrap(monkeypatch):
    monkeypatch.setenv(cache.SWITCH_ENV, "off")  # the refits are altered below: nothing may be stored
    real, calls = uncertainty.refine_from, []

    def every_fourth_fails(theta0, *args, **kwargs):
        calls.append(1)
        theta, loss = real(theta0, *args, **kwargs)
        return (np.full_like(theta, np.nan), loss) if len(calls) % 4 == 0 else (theta, loss)

    monkeypatch.setattr(uncertainty, "refine_from", every_fourth_fails)
    full = PowerLawFit().fit(M, curve()).bootstrap(n=200, seed=3)
    assert full.bootstrap_failures_ == 50
    calls.clear()
    fit = PowerLawFit().fit(M, curve())
    first = uncertainty.bootstrap_samples(fit, 90, total=200, seed=3)
    pd.testing.assert_frame_equal(first, full.bootstrap_samples_.iloc[:90].reset_index(drop=True), check_exact=True)
    assert len(calls) == 119 and not hasattr(fit, "bootstrap_samples_")  # the 90th finite one is the 119th draw
    calls.clear()
    short = uncertainty.bootstrap_samples(PowerLawFit().fit(M, curve()), 180, total=200, seed=3)
    assert len(short) == 150  # all the finite ones of 200: fewer than asked, as the full bootstrap has


def test_a_scoreboard_fits_each_estimator_once_per_data_set_and_scores_the_same(monkeypatch):
    fits = []
    real = BrokenPowerLawFit.fit

    def counting(self, m, eps, weights=None, repeats=None):
        fits.append(len(m))
        return real(self, m, eps, weights, repeats)

    monkeypatch.setattr(BrokenPowerLawFit, "fit", counting)
    estimators = {"ours": ValidatedExtrapolator, "BNSL": BrokenPowerLawFit, "last value": LastValue}
    eps = curve(seed=4)
    with np.errstate(all="ignore"):
        board = extrapolation_scoreboard({"toy": {"m": M, "eps": eps}}, (1, 2), estimators)
        reused = list(fits)
        fits.clear()
        separate = []  # every prediction fitted on its own, outside the scoreboard
        for horizon in (1, 2):
            for label, make in estimators.items():
                frame = holdout_error(make, M, eps, None, horizon)
                separate.append(frame.assign(status="ok", curve="toy", horizon=horizon, estimator=label))
    expected = pd.concat(separate, ignore_index=True)[board.columns]
    pd.testing.assert_frame_equal(board, expected, check_exact=True)
    assert len(set(reused)) == len(reused) < len(fits)  # each training set once (they differ in length here)
    assert set(reused) == set(fits)
    assert extrapolation._FITTED.get() is None  # nothing kept after the scoreboard


def test_the_chapters_scoreboard_is_read_back_and_misses_for_other_errors(own_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("SCALING_CORE_RESULTS", str(tmp_path / "results"))
    install_chapter(monkeypatch, "toy_domain", [row()], datasets=("tiny",))
    rng = np.random.default_rng(5)
    write_store(store_path("toy_domain", "smoke", "tiny"), "toy-smoke-seed0",
                lambda m, n, _: synthetic_error(m, n, rng))
    curves, _ = table1.collect("smoke", 0, chapters=("toy_domain",))
    curves = table1.fit_curves(curves, bootstrap=0)
    runs = []
    real = predictability.extrapolation_scoreboard

    def counting(*args, **kwargs):
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(predictability, "extrapolation_scoreboard", counting)
    chosen = predictability.estimators(("M1", "last value"))
    first = predictability.scoreboard(curves, (1, 2), chosen)
    again = predictability.scoreboard(curves, (1, 2), chosen)
    assert len(runs) == 1
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    curves[0].best = curves[0].best.assign(val_error=curves[0].best["val_error"] * 1.01)
    predictability.scoreboard(curves, (1, 2), chosen)
    predictability.scoreboard(curves, (1, 2), {"M1": lambda: PowerLawFit(huber_delta=1e6)})  # a lambda: not keyed
    predictability.scoreboard(curves, (1, 2), {"M1": lambda: PowerLawFit(huber_delta=1e6)})
    assert len(runs) == 4
