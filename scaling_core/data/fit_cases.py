"""Loaders for the public learning curves with published fits (``fitting-cases/``).

Each loader takes the data folder (``data_dir``, else ``$SCALING_CORE_DATA``) and returns
plain arrays or a tidy DataFrame; nothing is downloaded. Files are checked against the
data folder's ``SHA256SUMS`` when it lists them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from scaling_core.data.integrity import verify_file
from scaling_core.validation import default_data_dir

CASES_FOLDER = "fitting-cases"
ALLENAI_CURVES = ("no_pretr_ft", "no_pretr_ft_lazy", "no_pretr_linear", "pretr_ft", "pretr_linear")


def _cases_dir(data_dir) -> Path:
    root = default_data_dir(data_dir)
    if root is None or not (root / CASES_FOLDER).is_dir():
        raise ValueError(f"data_dir must be a folder holding {CASES_FOLDER}/; got {data_dir!r} "
                         "(or set $SCALING_CORE_DATA)")
    return root / CASES_FOLDER


def _checked(path: Path) -> Path:
    verify_file(path)
    return path


def load_chinchilla_points(data_dir=None) -> pd.DataFrame:
    """Epoch AI's Chinchilla points: columns ``C`` (FLOPs), ``N`` (parameters), ``D`` (tokens), ``loss``."""
    return pd.read_csv(_checked(_cases_dir(data_dir) / "chinchilla_points.csv"))


def load_allenai_curve(name: str, data_dir=None) -> pd.DataFrame:
    """One allenai/learning-curve curve: columns ``m`` (training samples), ``repeat``, ``eps`` (test error, %)."""
    if name not in ALLENAI_CURVES:
        raise ValueError(f"name must be one of {ALLENAI_CURVES}; got {name!r}")
    records = json.loads(_checked(_cases_dir(data_dir) / "allenai_learning_curve" / f"{name}.json").read_text())
    rows = [{"m": float(r["num_train_samples"]), "repeat": k, "eps": float(e)}
            for r in records for k, e in enumerate(r["test_errors"])]
    return pd.DataFrame(rows)


def load_nmt_benchmark(data_dir=None) -> pd.DataFrame:
    """Alabdulmohsin et al. (2022) NMT curves: columns ``curve``, ``m`` (seen examples), ``eps``
    (log-perplexity), ``train`` (False for the held-out point)."""
    table = pd.read_csv(_checked(_cases_dir(data_dir) / "alabdulmohsin2022" / "nmt_subset.csv"))
    return pd.DataFrame({"curve": table["Model"], "m": table["Seen Examples"].astype(float),
                         "eps": table["Loss"].astype(float), "train": table["Training"].astype(bool)})


def external_curves(data_dir=None) -> dict[str, dict]:
    """Every external curve with at least five sizes, as ``{name: {"m", "eps", "repeats"}}``."""
    curves = {}
    for name, group in load_nmt_benchmark(data_dir).groupby("curve", sort=False):
        curves[f"nmt/{name}"] = {"m": group["m"].to_numpy(), "eps": group["eps"].to_numpy(), "repeats": None}
    for name in ALLENAI_CURVES:
        table = load_allenai_curve(name, data_dir)
        if table["m"].nunique() >= 5:
            curves[f"allenai/{name}"] = {"m": table["m"].to_numpy(), "eps": table["eps"].to_numpy(),
                                         "repeats": table["repeat"].to_numpy()}
    return curves


def allenai_published_fits() -> dict[str, dict]:
    """Published weighted-least-squares fits of ``e(n) = alpha + eta n^gamma`` on ``no_pretr_ft``."""
    return {"gamma_fixed": {"alpha": 12.2318, "eta": 320.5148, "gamma": -0.5, "e400": 28.2575},
            "gamma_searched": {"alpha": 5.6835, "eta": 259.2864, "gamma": -0.41, "e400": 27.9133}}


def nmt_reference_errors() -> dict[str, float]:
    """Mean extrapolation log-errors on the held-out NMT points reported with the benchmark."""
    return {"M1": 0.222, "M2": 0.034, "M3": 0.047, "M4": 0.021, "last value": 0.0083}


def allenai_variance_weights(m, eps, repeats) -> np.ndarray:
    """allenai/learning-curve's weights ``1 / (var(n) k)`` with ``var(n) = v0 + v1 / n``.

    ``var(n)`` is the across-repeat variance at each size, smoothed by a least-squares fit
    of ``v0 + v1 / n``; ``k`` is the number of repeats at that size.
    """
    table = pd.DataFrame({"m": m, "eps": eps, "repeat": repeats})
    per_size = table.groupby("m")["eps"].agg(["var", "count"]).dropna()
    design = np.column_stack([np.ones(len(per_size)), 1.0 / per_size.index.to_numpy()])
    (v0, v1), *_ = np.linalg.lstsq(design, per_size["var"].to_numpy(), rcond=None)
    variance = np.maximum(v0 + v1 / np.asarray(m, dtype=float), 1e-12)
    counts = table.groupby("m")["eps"].transform("count").to_numpy()
    return 1.0 / (variance * counts)
