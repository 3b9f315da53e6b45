"""The textbook log-log OLS (statsmodels) recovers a known power law and agrees with the closed form."""

from __future__ import annotations

import numpy as np
import pytest

from scaling_core.fit import PowerLawFit
from scaling_core.fit.ols import loglog_ols, ols_table


def test_ols_recovers_alpha_and_beta_and_matches_the_closed_form():
    rng = np.random.default_rng(0)
    m = 100.0 * 2.0 ** np.arange(10)
    eps = 3.0 * m**-0.35 * np.exp(0.02 * rng.standard_normal(10))
    table = ols_table(m, eps).set_index("parameter")
    assert table.loc["beta", "estimate"] == pytest.approx(-0.35, abs=0.02)
    assert table.loc["beta", "ci_low"] < -0.35 < table.loc["beta", "ci_high"]
    assert table.loc["alpha", "estimate"] == pytest.approx(3.0, rel=0.15)
    slope, intercept = np.polyfit(np.log(m), np.log(eps), 1)
    assert table.loc["beta", "estimate"] == pytest.approx(slope, rel=1e-10)
    assert table.loc["beta", "r_squared"] > 0.99
    engine = PowerLawFit().fit(m, eps)  # the robust engine agrees with OLS on clean data
    assert engine.beta_ == pytest.approx(slope, abs=0.005)


def test_ols_rejects_what_it_cannot_fit():
    with pytest.raises(ValueError, match="parameters 'm' and 'eps'"):
        loglog_ols([1, 2], [1, 0.5])
    with pytest.raises(ValueError, match="positive"):
        loglog_ols([1, 2, 4], [1, 0.0, 0.5])
