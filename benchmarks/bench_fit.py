"""Benchmark of the learning-curve fitting engine (``scaling_core.fit``).

Prints three tables:

1. synthetic power laws with known exponents and noise levels (12 sizes over 2 decades):
   mean and largest exponent error, and the coverage of the 95 % intervals (asymptotic t
   and bootstrap-studentized);
2. the external curves (``fitting-cases/``): extrapolation log error of the largest size,
   per estimator (ours, M1-M4, BNSL, last value), with the published NMT reference errors;
3. wall time of one fit and of a 1,000-sample bootstrap on one core.

Targets: exponent within 0.01 at 2 % noise, coverage in [0.91, 0.98], ours below M4 and the
last value, one fit < 50 ms, bootstrap < 5 s.

Usage: ``python benchmarks/bench_fit.py [--curves 60] [--boot 200] [--data-dir PATH]``
(the default run takes about 2-3 minutes).
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
import warnings

import numpy as np
import pandas as pd

from scaling_core.fit import (
    PowerLawConstantFit,
    PowerLawFit,
    ThreeRegionFit,
    extrapolation_scoreboard,
    interval_coverage,
    power_law,
    power_law_plus_constant,
    scoreboard_summary,
    three_region,
)
from scaling_core.data.fit_cases import external_curves, nmt_reference_errors
from scaling_core.profiles import default_data_dir

os.environ["SCALING_CORE_FIT_CACHE"] = "off"  # time and score the computation, never a stored result

EXPONENTS = (-0.1, -0.3, -0.5)
NOISE_LEVELS = (0.01, 0.02, 0.05)
SIZES = np.logspace(2, 4, 12)


def synthetic_table(n_curves: int, n_boot: int, seed: int) -> pd.DataFrame:
    """Exponent error and interval coverage for every (exponent, noise) pair."""
    rows = []
    for k, (beta, noise) in enumerate(itertools.product(EXPONENTS, NOISE_LEVELS)):
        truth = {"alpha": 3.0, "beta": beta}
        make = lambda: PowerLawFit(max_starts=1)  # noqa: E731  (the fit is convex)
        asymptotic = interval_coverage(make, power_law, truth, SIZES, noise, n_curves, 0, seed + k)
        booted = interval_coverage(make, power_law, truth, SIZES, noise, n_curves, n_boot, seed + k)
        exponent = booted[booted["param"] == "beta"]
        rows.append({"beta": beta, "noise": noise, "mean |error|": exponent["error"].abs().mean(),
                     "max |error|": exponent["error"].abs().max(),
                     "coverage (t)": asymptotic.loc[asymptotic["param"] == "beta", "covered"].mean(),
                     "coverage (bootstrap)": exponent["covered"].mean()})
    table = pd.DataFrame(rows)
    pooled = {"beta": "all", "noise": "all", "mean |error|": table["mean |error|"].mean(),
              "max |error|": table["max |error|"].max(), "coverage (t)": table["coverage (t)"].mean(),
              "coverage (bootstrap)": table["coverage (bootstrap)"].mean()}
    return pd.concat([table, pd.DataFrame([pooled])], ignore_index=True)


def external_table(data_dir) -> pd.DataFrame:
    """Mean extrapolation log error per estimator and curve group, plus the published NMT errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scores = extrapolation_scoreboard(external_curves(data_dir))
    summary = scoreboard_summary(scores)
    summary.loc["nmt (published)"] = pd.Series(nmt_reference_errors())
    return summary


def _median_time(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def timing_table(seed: int) -> pd.DataFrame:
    """Median wall time of one fit, and of one 1,000-sample bootstrap, per form."""
    rng = np.random.default_rng(seed)
    noise = np.exp(0.02 * rng.standard_normal(len(SIZES)))
    wide = np.logspace(1, 7, 24)
    cases = {"PowerLawFit": (PowerLawFit, SIZES, power_law(SIZES, 3.0, -0.3) * noise),
             "PowerLawConstantFit": (PowerLawConstantFit, SIZES, power_law_plus_constant(SIZES, 3.0, -0.3, 0.1) * noise),
             "ThreeRegionFit": (ThreeRegionFit, wide, three_region(wide, 0.9, 5.0, -0.4, 0.05)
                                * np.exp(0.02 * rng.standard_normal(len(wide))))}
    rows = []
    for name, (make, m, eps) in cases.items():
        fit_time = _median_time(lambda: make().fit(m, eps), repeats=11)
        fitted = make().fit(m, eps)
        boot_time = _median_time(lambda: fitted.bootstrap(n=1000, seed=0), repeats=1)
        rows.append({"form": name, "one fit (ms)": 1e3 * fit_time, "bootstrap n=1000 (s)": boot_time,
                     "starts": fitted.n_starts_, "start success": fitted.start_success_fraction_})
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curves", type=int, default=60, help="simulated curves per (exponent, noise) pair")
    parser.add_argument("--boot", type=int, default=200, help="bootstrap resamples per simulated curve")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="folder holding fitting-cases/ (else $SCALING_CORE_DATA)")
    args = parser.parse_args(argv)
    pd.set_option("display.width", 160)
    print(f"1. Synthetic power laws, {len(SIZES)} sizes over 2 decades, {args.curves} curves per row, "
          f"{args.boot} bootstrap resamples")
    print(synthetic_table(args.curves, args.boot, args.seed).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    data_dir = default_data_dir(args.data_dir)
    if data_dir is not None and (data_dir / "fitting-cases").is_dir():
        print("\n2. Extrapolation log error of the largest size (mean over curves)")
        print(external_table(data_dir).to_string(float_format=lambda v: f"{v:.4f}"))
    else:
        print("\n2. External cases skipped: pass --data-dir or set SCALING_CORE_DATA")
    print("\n3. Wall time on one core")
    print(timing_table(args.seed).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
