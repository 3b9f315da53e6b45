r"""Verdicts computed from the data: does a learning curve measure a power law?

A composite curve (each shard's best model) is a result only where its trials converged
and its models learned something. :func:`judge` reads that from the winners themselves:

- **below the baseline**: a winner counts as learning only where its metric is clearly
  below the best trivial predictor of its shard (:mod:`scaling_core.sweep.shard_baselines`),
  :math:`\epsilon_k \le (1 - \delta)\, b_k` with :math:`\delta` = :data:`BASELINE_MARGIN`;
- **the power-law region**: among the shards the caller marks fit for a power law (past
  the small-data region and before the irreducible floor, when a three-region fit gives
  them) and below the baseline, the widest contiguous stretch that one straight line in
  log-log space fits, :math:`\mathrm{RMS}(\log \epsilon_k - a - \beta \log m_k) \le` :data:`LINE_TOLERANCE`;
  its span in decades is :math:`\log_{10}(m_{\max} / m_{\min})`;
- **convergence**: the share of those winners stopped by a cap (steps, epochs or a time
  budget) rather than by early stopping on V, and the share still improving at their last
  evaluation.

The verdict is one of four (:data:`KINDS`): *measured* (a power law over at least
:data:`MIN_DECADES` decade, at most :data:`MAX_CAPPED_SHARE` of its winners capped),
*starved* (more winners capped), *too short* and *no learning*. Only *measured* lets a
chapter say that its curve follows a power law.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from scaling_core.fit.powerlaw import loglog_line

CAP_REASONS = ("max_steps", "max_epochs", "time_budget")
"""Stop reasons that end a trial before V says it has converged."""
BASELINE_MARGIN = 0.05
"""A winner is clearly below its baseline at or under ``1 - BASELINE_MARGIN`` times it."""
LINE_TOLERANCE = 0.1
"""Largest RMS log residual (about 10 %) of a stretch that counts as one power law."""
MIN_POINTS = 3
"""Fewest shards of a power-law region (two points always lie on a line)."""
MIN_DECADES = 1.0
"""Shortest power-law region, in decades of data, that measures an exponent."""
MAX_CAPPED_SHARE = 0.05
"""Largest share of a region's winners stopped by a cap for the curve to count as converged."""

KINDS = ("measured", "starved", "too short", "no learning")
"""The verdicts, from a measured power law to a curve that never beats its baseline."""

FITTED = "power-law fit"
"""Region label of the shards a power law is fitted on."""
OUTSIDE = "outside the power-law region"
"""Region label of a winner below the baseline but off the fitted stretch."""
AT_BASELINE = "not below the baseline"
"""Region label of a winner that does not clearly beat the best trivial predictor."""


@dataclass(frozen=True)
class Verdict:
    """What one learning curve measures (see the module docstring).

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    decades, points, start, end : float, int, float, float
        The power-law region: its span in decades, its shards and its first and last
        shard sizes (``nan`` when there is no region).
    winners : int
        Winners on the curve (shards with a finished trial).
    judged : int
        Winners the convergence shares are taken over: the region's, or every winner below
        the baseline when the region is too short.
    capped, improving, improving_known : int
        Of those, how many stopped at a cap, how many were still improving at their last
        evaluation, and for how many that is known (older trials did not record it).
    below_baseline : int or None
        Winners clearly below their shard's best baseline (``None`` without baselines).
    baseline_name : str
        The best baseline on the largest shard (empty without baselines).
    """

    kind: str
    decades: float
    points: int
    start: float
    end: float
    winners: int
    judged: int
    capped: int
    improving: int
    improving_known: int
    below_baseline: int | None
    baseline_name: str = ""

    @property
    def measured(self) -> bool:
        """Whether the curve measures a power law (the only verdict that lets a chapter claim one)."""
        return self.kind == "measured"

    @property
    def capped_share(self) -> float:
        return self.capped / self.judged if self.judged else float("nan")

    @property
    def improving_share(self) -> float:
        return self.improving / self.improving_known if self.improving_known else float("nan")

    @property
    def text(self) -> str:
        """The verdict in words, with its numbers."""
        if self.kind == "no learning":
            return (f"no learning below the baseline: {self.below_baseline} of {self.winners} winners are "
                    f"clearly below the best trivial predictor ({self.baseline_name})")
        improving = (f", {self.improving} of {self.improving_known} still improving"
                     if self.improving_known else "")
        if self.kind == "starved":
            return f"starved: {self.capped} of {self.judged} winners stopped by a cap{improving}"
        if self.kind == "too short":
            span = f"{self.decades:.1f} decades" if self.points >= 2 else "no stretch of three shards"
            return f"too short: the power-law region spans {span} (at least {MIN_DECADES:g} needed)"
        return f"power law measured over {self.decades:.1f} decades ({self.points} shards)"

    def to_row(self) -> dict:
        """The verdict's columns for a table: kind, span, capped and improving shares, below baseline."""
        row = asdict(self)
        row.update(verdict=self.text, capped_share=self.capped_share, improving_share=self.improving_share)
        return row


def judge(best: pd.DataFrame, metric: str, baseline: pd.DataFrame | None = None,
          small_data_end: float | None = None, irreducible_start: float | None = None,
          ) -> tuple[pd.DataFrame, Verdict]:
    """Find the power-law region of winners ``best`` and give the curve its verdict.

    Parameters
    ----------
    best : DataFrame
        One winner per shard (:func:`scaling_core.experiments.curves.winners`): ``shard``,
        ``shard_units``, ``metric``, ``in_fit`` (shards the caller allows in a fit),
        ``region``, ``stop_reason`` and ``improving``.
    metric : str
    baseline : DataFrame, optional
        Per shard the best trivial predictor (``shard``, ``baseline``, ``baseline_name``;
        :func:`~scaling_core.sweep.shard_baselines.best_baseline`).
    small_data_end, irreducible_start : float, optional
        Region boundaries from a three-region fit: shards below the first or from the
        second on are left out of the power-law region.

    Returns
    -------
    best : DataFrame
        A copy with ``below_baseline`` and, when the region has at least
        :data:`MIN_POINTS` shards, ``in_fit`` set to the region and ``region`` relabelled.
    verdict : Verdict
    """
    best = best.sort_values("shard").reset_index(drop=True).copy()
    units = best["shard_units"].to_numpy(float)
    values = best[metric].to_numpy(float)
    below, name = _below_baseline(best, metric, baseline)
    best["below_baseline"] = below
    allowed = best["in_fit"].to_numpy(bool) & below & (values > 0)
    if small_data_end is not None and np.isfinite(small_data_end):
        allowed &= units >= small_data_end
    if irreducible_start is not None and np.isfinite(irreducible_start):
        allowed &= units < irreducible_start
    region = longest_power_law(units, values, allowed)
    labels = best["region"].copy()
    if baseline is not None:
        labels[~below] = AT_BASELINE
    if region.sum() >= MIN_POINTS:
        labels[below & ~region & best["in_fit"].to_numpy(bool)] = OUTSIDE
        labels[region] = FITTED
        best["in_fit"] = region
    best["region"] = labels
    judged = region if region.sum() >= MIN_POINTS else below
    return best, _verdict(best, region, judged, below if baseline is not None else None, name)


def longest_power_law(units: np.ndarray, values: np.ndarray, allowed: np.ndarray,
                      tolerance: float = LINE_TOLERANCE) -> np.ndarray:
    r"""The widest contiguous run of ``allowed`` shards that one log-log line fits within ``tolerance``.

    Every contiguous window :math:`i..j` of allowed shards with at least :data:`MIN_POINTS`
    points is fitted by least squares, :math:`\log \epsilon = a + \beta \log m`; among those
    whose RMS residual is at most ``tolerance`` the one spanning the most decades wins (ties:
    the smaller residual). Returns a boolean mask (all ``False`` when no window qualifies).
    """
    mask = np.zeros(len(units), dtype=bool)
    best_key = None
    x, y = np.log(units), np.log(np.where(values > 0, values, np.nan))
    for i in range(len(units)):
        for j in range(i + MIN_POINTS - 1, len(units)):
            if not allowed[i : j + 1].all():
                break
            intercept, slope = loglog_line(x[i : j + 1], y[i : j + 1])
            rms = float(np.sqrt(np.mean((y[i : j + 1] - intercept - slope * x[i : j + 1]) ** 2)))
            key = (x[j] - x[i], -rms)
            if rms <= tolerance and (best_key is None or key > best_key):
                best_key, mask = key, np.arange(len(units)) >= i
                mask &= np.arange(len(units)) <= j
    return mask


def _below_baseline(best: pd.DataFrame, metric: str, baseline: pd.DataFrame | None) -> tuple[np.ndarray, str]:
    if baseline is None or baseline.empty:
        return np.ones(len(best), dtype=bool), ""
    bars = best[["shard"]].merge(baseline, on="shard", how="left")
    below = (best[metric].to_numpy(float) <= (1 - BASELINE_MARGIN) * bars["baseline"].to_numpy(float))
    below |= bars["baseline"].isna().to_numpy()  # a shard without a baseline is not held against the curve
    last = bars.dropna(subset=["baseline"])
    return below, (str(last["baseline_name"].iloc[-1]) if len(last) else "")


def _verdict(best: pd.DataFrame, region: np.ndarray, judged: np.ndarray, below: np.ndarray | None,
             baseline_name: str) -> Verdict:
    rows = best[judged]
    reasons = rows["stop_reason"] if "stop_reason" in rows else pd.Series(dtype=object)
    improving = pd.to_numeric(rows["improving"], errors="coerce") if "improving" in rows else pd.Series(dtype=float)
    units = best.loc[region, "shard_units"]
    points = int(region.sum())
    decades = float(np.log10(units.max() / units.min())) if points >= 2 else 0.0
    capped = int(reasons.isin(CAP_REASONS).sum())
    below_count = None if below is None else int(below.sum())
    if below_count is not None and below_count < MIN_POINTS:
        kind = "no learning"
    elif len(rows) and capped / len(rows) > MAX_CAPPED_SHARE:
        kind = "starved"
    elif points < MIN_POINTS or decades < MIN_DECADES:
        kind = "too short"
    else:
        kind = "measured"
    return Verdict(kind=kind, decades=decades, points=points,
                   start=float(units.min()) if points else float("nan"),
                   end=float(units.max()) if points else float("nan"),
                   winners=len(best), judged=len(rows), capped=capped,
                   improving=int((improving == 1).sum()), improving_known=int(improving.notna().sum()),
                   below_baseline=below_count, baseline_name=baseline_name)


@dataclass(frozen=True)
class SizeVerdict:
    r"""What the winners' parameter counts measure: :math:`s(m) = \alpha_p m^{\beta_p}` and its growth.

    ``kind`` is ``"sublinear"`` (the interval of :math:`\beta_p` lies inside (0, 1)),
    ``"linear or faster"`` (it is above 0 and reaches 1), ``"not growing"`` (the interval
    holds 0), ``"pinned"`` (winners are the largest model their shard tried, so the grid's
    cap or the projection's largest step, not the data, may have set their size) or
    ``"not measured"`` (the learning curve measured no power law).
    """

    kind: str
    beta_p: float
    low: float
    high: float
    pinned: int
    points: int
    curve_kind: str

    @property
    def sublinear(self) -> bool:
        """Whether the data show a sublinear model size (the only verdict that lets a chapter say so)."""
        return self.kind == "sublinear"

    @property
    def text(self) -> str:
        interval = f"beta_p = {self.beta_p:.2f}, 95 % interval {self.low:.2f} to {self.high:.2f}"
        if self.kind == "not measured":
            return f"not measured: the learning curve's verdict is {self.curve_kind} ({interval})"
        if self.kind == "pinned":
            return f"pinned: {self.pinned} of {self.points} winners are the largest model their shard tried ({interval})"
        if self.kind == "not growing":
            return f"no growth measured: the interval holds zero ({interval})"
        if self.kind == "sublinear":
            return f"sublinear growth measured ({interval})"
        return f"not sublinear: the interval reaches 1 or more ({interval})"


def judge_model_size(best: pd.DataFrame, size_fit, verdict: Verdict, trials: pd.DataFrame | None = None,
                     ) -> SizeVerdict:
    """The model-size verdict of winners ``best`` (their ``in_fit`` rows) and their fit ``size_fit``.

    Parameters
    ----------
    best : DataFrame
        Winners with ``shard``, ``in_fit`` and ``num_params``.
    size_fit : ModelSizeFit
        Fitted on the same rows (``beta_p_`` and ``beta_p_ci_``).
    verdict : Verdict
        The learning curve's verdict: without a measured curve, no model-size claim.
    trials : DataFrame, optional
        Every trial of the sweep. A winner is *pinned* when it is the largest model its
        shard tried (of its family, whose search tried several sizes): the search wanted a
        larger one than the grid or the projection offered, or the grid's cap left it one
        size (:func:`pinned_winners`). More than one pinned winner makes the verdict
        ``"pinned"``.
    """
    rows = best[best["in_fit"]]
    low, high = (float(v) for v in size_fit.beta_p_ci_)
    pinned = 0 if trials is None else int(pinned_winners(rows, trials).sum())
    if not verdict.measured:
        kind = "not measured"
    elif pinned > 1:
        kind = "pinned"
    elif low <= 0:
        kind = "not growing"
    elif high < 1:
        kind = "sublinear"
    else:
        kind = "linear or faster"
    return SizeVerdict(kind, float(size_fit.beta_p_), low, high, pinned, len(rows), verdict.kind)


def pinned_winners(best: pd.DataFrame, trials: pd.DataFrame) -> pd.Series:
    """Which winners are the largest model tried on their shard (and family) by a search of several sizes.

    A search tries several sizes; where its projected candidates all clip to one size (the
    grid's cap), that shard tried one size only, and its winner is pinned there too. A family
    that only ever tried one size (a fixed-size sweep) pins nothing.
    """
    done = trials[trials["status"] == "done"]
    tried = done.groupby(["shard", "family"])["num_params"].max()
    searched = done.groupby("family")["num_params"].nunique() > 1
    largest = tried.reindex(pd.MultiIndex.from_frame(best[["shard", "family"]]))
    return pd.Series((best["num_params"].to_numpy(float) >= largest.to_numpy(float))
                     & best["family"].map(searched).eq(True).to_numpy(), index=best.index)


def claim(verdict: Verdict, what: str = "The learning curve") -> str:
    """One sentence a chapter may print about ``what``: a power law only when the verdict measured one."""
    if verdict.measured:
        return (f"{what} follows a power law over {verdict.decades:.1f} decades of data ({verdict.points} shards, "
                f"{verdict.capped} of {verdict.judged} winners stopped by a cap).")
    return f"{what} does not measure a power law here (verdict: {verdict.text})."


def size_claim(verdict: SizeVerdict, what: str = "The best model's size") -> str:
    """One sentence about the model-size curve: sublinear growth only when the verdict measured it."""
    if verdict.sublinear:
        return f"{what} grows sublinearly with the data: {verdict.text}."
    return f"{what} measures no sublinear growth here (verdict: {verdict.text})."
