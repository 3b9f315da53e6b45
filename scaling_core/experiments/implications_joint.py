r"""Beyond the paper: one law over data and model size, fitted to a domain's every trial.

:math:`\epsilon(m, n) = \alpha m^{\beta} + \alpha_n n^{\beta_n} + \gamma` for :math:`m` training
units and :math:`n` parameters (:func:`joint_table`), and the model size it implies for a data
budget (:func:`best_size_for_budget`). Re-exported by
:mod:`scaling_core.experiments.implications`, whose names the chapter uses.
"""

from __future__ import annotations

import logging

import altair as alt
import numpy as np
import pandas as pd

from scaling_core import charts
from scaling_core.experiments.table1 import Curve
from scaling_core.fit import JointFit
from scaling_core.fit.base import huber_loss_and_grad


def failure_reason(what: str, curve: Curve, errors, error: Exception) -> str:
    """A short sentence for a table's notes on why ``what`` failed; the exception goes to the log only."""
    logging.getLogger(__name__).info("%s of %s failed: %s", what, curve.name, error)
    zeros = int((np.asarray(errors, dtype=float) <= 0).sum())
    if zeros:
        return f"not fitted: {zeros} shard(s) with an error of zero, which a fit in log scale cannot use"
    return f"not fitted: the {what} did not converge"


class ScreenedJointFit(JointFit):
    """:class:`~scaling_core.fit.JointFit` optimised only from the ``keep`` best of its 81 starts.

    Every start of the engine's grid is scored by its initial loss (one evaluation each)
    and L-BFGS-B runs from the ``keep`` lowest: a ninth of the work for the same optimum
    on the curves we tried.
    """

    def __init__(self, keep: int = 9):
        super().__init__()
        self.keep = int(keep)

    def _starts(self, x, y):
        starts = self._clip_starts(super()._starts(x, y))
        losses = [huber_loss_and_grad(s, self._log_model, x, y, self.data_.weights, self.huber_delta)[0]
                  for s in starts]
        return starts[np.argsort(losses, kind="stable")[: self.keep]]


def joint_points(curve: Curve) -> pd.DataFrame:
    """Every model the curve's sweep trained (its family, if named): best draw per shard and size."""
    trials = curve.trials
    if curve.row.get("family") is not None:
        trials = trials[trials["family"] == curve.row["family"]]
    columns = ["shard_units", "num_params", "family", "size", curve.metric]
    if curve.metric not in trials:
        return pd.DataFrame(columns=columns)
    done = trials[trials["status"] == "done"].dropna(subset=[curve.metric])
    best = done.sort_values([curve.metric, "key"]).groupby(["shard_units", "family", "size"]).head(1)
    return best.sort_values(["shard_units", "num_params"])[columns].reset_index(drop=True)


def joint_fit(curve: Curve, min_points: int = 8, starts: int = 9) -> tuple[JointFit | None, str]:
    """Fit :math:`\\alpha m^{\\beta} + \\alpha_n n^{\\beta_n} + \\gamma` over every model of ``curve``."""
    points = joint_points(curve)
    if len(points) < min_points:
        return None, f"not enough points: {len(points)} models, a joint fit needs {min_points}"
    try:
        with np.errstate(all="ignore"):
            return ScreenedJointFit(keep=starts).fit(points["shard_units"].to_numpy(float),
                                          points["num_params"].to_numpy(float),
                                          points[curve.metric].to_numpy(float)), ""
    except (ValueError, np.linalg.LinAlgError) as error:
        return None, failure_reason("joint fit", curve, points[curve.metric], error)


def best_size_for_budget(fit: JointFit, m, share: float = 0.1):
    r"""The model size whose error term is ``share`` of the data term at data budget ``m``.

    Under the joint law the error keeps falling with model size, so the useful size is
    where more parameters stop paying: :math:`\alpha_n n^{\beta_n} = f\, \alpha m^{\beta}`,

    .. math:: n^*(m) = \left(f \alpha m^{\beta} / \alpha_n\right)^{1/\beta_n} \propto m^{\beta/\beta_n}.
    """
    if not 0 < share:
        raise ValueError(f"parameter 'share' got {share!r}; allowed: a number > 0")
    if fit.beta_n_ == 0:
        raise ValueError("the joint fit has no model-size term (beta_n = 0): no best size follows")
    return (share * fit.alpha_ * np.asarray(m, dtype=float) ** fit.beta_ / fit.alpha_n_) ** (1.0 / fit.beta_n_)


def joint_table(curves: list[Curve], min_points: int = 8, starts: int = 9) -> tuple[pd.DataFrame, dict]:
    """Joint-fit parameters per curve, the model-size exponent they imply, and the measured one."""
    rows, fits = [], {}
    for curve in curves:
        fit, note = joint_fit(curve, min_points, starts)
        row = {"curve": curve.name, "points": len(joint_points(curve)), "note": note,
               "beta_p_measured": curve.size_fit.beta_p_ if curve.size_fit is not None else np.nan}
        if fit is not None:
            fits[curve.name] = fit
            flat = fit.beta_n_ == 0  # the fit found no model-size term: no size law follows
            row.update(beta=fit.beta_, beta_n=fit.beta_n_, gamma=fit.gamma_, rel_rmse=fit.rel_rmse_,
                       beta_p_implied=np.nan if flat else fit.beta_ / fit.beta_n_)
            if flat:
                row["note"] = "; ".join(n for n in (note, "model size has no effect in the fit (beta_n = 0)") if n)
        rows.append(row)
    return pd.DataFrame(rows), fits


def joint_display(table: pd.DataFrame):
    """:func:`joint_table` for reading: a blank where no joint fit was made, the reason in ``note``."""
    from scaling_core import formatting

    columns = {"curve": "curve", "points": "models", "beta": "beta (data)", "beta_n": "beta_n (model size)",
               "gamma": "floor gamma", "rel_rmse": "relative RMSE", "beta_p_implied": "implied beta_p",
               "beta_p_measured": "measured beta_p", "note": "note"}
    blank = {header: "" for column, header in columns.items() if column not in ("curve", "points", "note")}
    blank["measured beta_p"] = "not fitted"
    return formatting.display(table.reindex(columns=list(columns)), columns=columns, missing=blank,
                              empty="No curve was read, so no joint fit was made.")


def joint_chart(curve: Curve, fit: JointFit, points: int = 40) -> alt.Chart:
    """Error against parameters, one colour per shard: every model, and the joint law per shard."""
    measured = joint_points(curve)
    grid = np.geomspace(measured["num_params"].min(), measured["num_params"].max(), points)  # over the data only
    lines = pd.concat([pd.DataFrame({"shard_units": m, "num_params": grid, curve.metric: fit.predict(m, grid)})
                       for m in sorted(measured["shard_units"].unique())])
    color = alt.Color("shard_units:O", title=f"shard ({curve.unit})", scale=alt.Scale(scheme="viridis"))
    x = alt.X("num_params:Q", **charts.log_axis("parameters"))
    y = alt.Y(f"{curve.metric}:Q", **charts.log_axis(curve.metric.replace("_", " ")))
    dots = alt.Chart(measured).mark_point(filled=True).encode(x=x, y=y, color=color,
                                                              tooltip=["shard_units", "family", "size", "num_params", curve.metric])
    return charts.finish((dots + alt.Chart(lines).mark_line(strokeDash=[5, 3]).encode(x=x, y=y, color=color)).properties(
        title=f"{curve.name}: one law over data and model size"))
