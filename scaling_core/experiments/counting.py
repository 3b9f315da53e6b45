"""Tables and charts of the counting-model chapter (paper Section 2 and Appendix B)."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
from scipy import special

from scaling_core import charts, counting
from scaling_core.counting import LOSSES, THEORY_EXPONENTS, NoisyContexts
from scaling_core.fit import PowerLawConstantFit, PowerLawFit
from scaling_core.profiles import ChapterConfig, ParameterError

_SLIDER_BIASES = tuple(float(p) for p in np.round(np.arange(0.05, 0.51, 0.05), 2))

SCALES = {
    "smoke": {
        "m_max": 10**6, "grid_points": 13,  # exact sums: log grid of training-set sizes
        "mc_draws": 2_000, "bootstrap_draws": 200,  # Monte Carlo training sets, fit resamples
        "biases": (0.5, 0.2, 0.05), "slider_biases": (0.1, 0.2, 0.3, 0.4, 0.5), "slider_points": 13,
        "step_j": (1, 2, 5, 50, 500),  # m = 2j - 1, 2j, 2j + 1 in the step table
        "toy_contexts": 100_000, "toy_m_max": 10**7, "toy_points": 15, "toy_repeats": 2,  # noisy-label toy
    },
    "laptop": {
        "m_max": 10**6, "grid_points": 49, "mc_draws": 20_000, "bootstrap_draws": 1_000,
        "biases": (0.5, 0.2, 0.05, 0.01), "slider_biases": _SLIDER_BIASES, "slider_points": 25,
        "step_j": (1, 2, 5, 50, 500, 5000),
        "toy_contexts": 1_000_000, "toy_m_max": 10**8, "toy_points": 25, "toy_repeats": 3,
    },
    "paper": {
        "m_max": 10**6, "grid_points": 97, "mc_draws": 100_000, "bootstrap_draws": 2_000,
        "biases": (0.5, 0.2, 0.05, 0.01), "slider_biases": _SLIDER_BIASES, "slider_points": 25,
        "step_j": (1, 2, 5, 50, 500, 5000, 50_000),
        "toy_contexts": 1_000_000, "toy_m_max": 10**8, "toy_points": 41, "toy_repeats": 5,
    },
}
"""Per-profile settings: size grid, Monte Carlo draws, biases shown, and the noisy-label toy."""

DATASETS = ("coin",)
"""The chapter's one "dataset": coin flips of a known bias, generated (nothing is loaded)."""

TABLE1_ROWS: list[dict] = []
"""No Table 1 row: the counting model's exponent is proved (-1/2), not measured by a sweep."""


def sweep_specs(config: ChapterConfig) -> list:
    """No sweeps: every number of this chapter is an exact sum or a Monte Carlo estimate."""
    return []


def store(config: ChapterConfig) -> None:
    """No results store: the chapter computes everything it shows in seconds."""
    return None


def run(config: ChapterConfig) -> pd.DataFrame:
    """The chapter's main table: expected L1 loss of a fair coin on the profile's size grid."""
    sizes = size_grid(config["m_max"], config["grid_points"])
    return expected_loss_table(sizes, p=0.5, loss="l1", draws=config["mc_draws"], seed=config.seed)


MIN_EXPECTED_MINORITY = 10.0
"""Exponents are fitted where ``m p (1-p) >= 10``: the large-``m`` regime the theory describes."""


def size_grid(m_max: int, points: int) -> np.ndarray:
    """Distinct integer training-set sizes from 1 to ``m_max``, evenly spaced in ``log m``."""
    return np.unique(np.round(np.geomspace(1, m_max, points)).astype(np.int64))


def closed_form(sizes, p: float, loss: str) -> np.ndarray:
    """Exact closed forms where one exists (``l1``: de Moivre; ``l2``: ``p(1-p)/m``), else NaN."""
    if loss == "l1":
        return counting.closed_form_l1(sizes, p)
    if loss == "l2":
        return p * (1 - p) / np.asarray(sizes, dtype=float)
    return np.full(len(sizes), np.nan)


def expected_loss_table(sizes, p: float = 0.5, loss: str = "l1", draws: int = 2_000, seed: int = 0) -> pd.DataFrame:
    """Exact sum, closed form, asymptote and Monte Carlo estimate of ``E[L](m)`` at each size.

    Columns: ``m``, ``exact``, ``closed_form``, ``asymptote``, ``ratio`` (exact / asymptote),
    ``mc_mean``, ``mc_stderr`` and ``mc_z = (mc_mean - exact) / mc_stderr``.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))
    estimates = [counting.monte_carlo_loss(int(m), p, loss, draws, s) for m, s in zip(sizes, seeds)]
    table = pd.DataFrame({
        "m": sizes,
        "exact": counting.expected_loss(sizes, p, loss),
        "closed_form": closed_form(sizes, p, loss),
        "asymptote": counting.asymptote(sizes, p, loss),
        "mc_mean": [e.mean for e in estimates],
        "mc_stderr": [e.stderr for e in estimates],
    })
    table["ratio"] = table.exact / table.asymptote
    table["mc_z"] = (table.mc_mean - table.exact) / table.mc_stderr
    return table


def fit_exponent(sizes, values, bootstrap: int = 0, seed: int = 0) -> dict:
    """Power law ``values = alpha m**beta`` by :class:`scaling_core.fit.PowerLawFit`.

    Returns ``alpha``, ``beta`` and the 95 % interval ``beta_low``, ``beta_high``:
    asymptotic (t-based), or from ``bootstrap`` resamples when ``bootstrap > 0``. On exact
    values the interval measures how far the curve is from a pure power law over the
    fitted range, not sampling noise.
    """
    fit = PowerLawFit().fit(np.asarray(sizes, dtype=float), np.asarray(values, dtype=float))
    if bootstrap:
        fit.bootstrap(n=bootstrap, seed=seed)
    return {"alpha": fit.alpha_, "beta": fit.beta_, "beta_low": fit.beta_ci_[0], "beta_high": fit.beta_ci_[1]}


def fit_region(sizes, p: float) -> np.ndarray:
    """The sizes with ``m p (1-p) >= MIN_EXPECTED_MINORITY``."""
    sizes = np.asarray(sizes)
    return sizes[sizes * p * (1 - p) >= MIN_EXPECTED_MINORITY]


def theory_constant(p: float, loss: str) -> float:
    """``C(p)`` of the asymptote ``C(p) m**beta`` (see :func:`scaling_core.counting.asymptote`)."""
    return float(counting.asymptote(1, p, loss))


def exponent_table(sizes, biases=(0.5, 0.2, 0.05), losses=LOSSES) -> pd.DataFrame:
    """Fitted and theoretical exponent and constant of ``E[L](m)`` for each loss and bias.

    A ``"rmse"`` row per bias adds ``sqrt(E[(p_hat - p)^2])``, whose exponent is half the ``l2`` one.
    """
    rows = []
    for loss in losses:
        for p in biases:
            region = fit_region(sizes, p)
            values = counting.expected_loss(region, p, loss)
            rows.append({"loss": loss, "p": p, **fit_exponent(region, values),
                         "beta_theory": THEORY_EXPONENTS[loss], "alpha_theory": theory_constant(p, loss)})
            if loss == "l2":
                rows.append({"loss": "rmse", "p": p, **fit_exponent(region, np.sqrt(values)),
                             "beta_theory": -0.5, "alpha_theory": np.sqrt(p * (1 - p))})
    return pd.DataFrame(rows)


def step_table(j_values) -> pd.DataFrame:
    """Fair-coin ``E|p_hat - 1/2|`` at ``m = 2j - 1, 2j, 2j + 1`` next to ``binom(2j, j) / 2**(2j+1)``."""
    j = np.asarray(j_values, dtype=np.int64)
    return pd.DataFrame({
        "j": j,
        "E[L](2j-1)": counting.expected_loss(2 * j - 1),
        "E[L](2j)": counting.expected_loss(2 * j),
        "E[L](2j+1)": counting.expected_loss(2 * j + 1),
        "binom(2j,j)/2^(2j+1)": np.exp(special.gammaln(2 * j + 1) - 2 * special.gammaln(j + 1) - (2 * j + 1) * np.log(2)),
    })


def _log(title: str) -> dict:
    return charts.log_axis(title)


def comparison_chart(table: pd.DataFrame, title: str = "") -> alt.LayerChart:
    """Exact sum (line), asymptote (dashed) and Monte Carlo mean ± 2 standard errors (points)."""
    curves_order = ["exact", "asymptote"]
    curves = table.melt(id_vars="m", value_vars=["exact", "asymptote"], var_name="curve", value_name="loss")
    lines = alt.Chart(curves).mark_line().encode(
        x=alt.X("m:Q", **_log("training-set size m")), y=alt.Y("loss:Q", **_log("expected loss")),
        color=alt.Color("curve:N", title=None, scale=alt.Scale(domain=curves_order)),
        strokeDash=alt.StrokeDash("curve:N", title=None, scale=alt.Scale(domain=curves_order, range=[[1, 0], [6, 3]])))
    monte_carlo = table.assign(low=table.mc_mean - 2 * table.mc_stderr, high=table.mc_mean + 2 * table.mc_stderr)
    points = alt.Chart(monte_carlo).mark_point(color="black", filled=True, size=25).encode(
        x="m:Q", y="mc_mean:Q", tooltip=["m", "exact", "mc_mean", "mc_stderr", "ratio"])
    bars = alt.Chart(monte_carlo).mark_rule(color="black").encode(x="m:Q", y="low:Q", y2="high:Q")
    return charts.finish(alt.layer(lines, bars, points).properties(title=title))


def bias_loss_frame(sizes, biases, losses=LOSSES) -> pd.DataFrame:
    """Long table of exact expected loss and asymptote over (bias, loss, size)."""
    frames = [pd.DataFrame({"p": p, "loss": loss, "m": sizes, "exact": counting.expected_loss(sizes, p, loss),
                            "asymptote": counting.asymptote(sizes, p, loss)})
              for p in biases for loss in losses]
    return pd.concat(frames, ignore_index=True)


def _fit_labels(sizes, biases, losses) -> pd.DataFrame:
    rows = []
    for p in biases:
        region = fit_region(sizes, p)
        for loss in losses:
            fit = fit_exponent(region, counting.expected_loss(region, p, loss))
            rows.append({"p": p, "loss": loss, "label": f"fitted exponent {fit['beta']:.3f}, "
                         f"constant {fit['alpha']:.3g} (theory {THEORY_EXPONENTS[loss]:g}, {theory_constant(p, loss):.3g})"})
    return pd.DataFrame(rows)


def interactive_bias_chart(sizes, biases, losses=LOSSES) -> alt.LayerChart:
    """Exact ``E[L](m)`` with a slider for the coin bias ``p`` and radio buttons for the loss.

    The fair coin stays in grey for reference; a caption line gives the fitted exponent.
    """
    spacing = np.diff(sorted(biases))
    if len(biases) < 2 or not np.allclose(spacing, spacing[0]):
        raise ParameterError("biases", biases, "two or more evenly spaced values (the slider's stops)")
    data = bias_loss_frame(sizes, biases, losses)
    bias = alt.param(name="bias", value=max(biases), bind=alt.binding_range(
        min=min(biases), max=max(biases), step=float(spacing[0]), name="coin bias p "))
    chosen = alt.param(name="chosen_loss", value=losses[0], bind=alt.binding_radio(options=list(losses), name="loss "))
    same_loss = f"datum.loss == {chosen.name}"
    selected = f"abs(datum.p - {bias.name}) < 1e-6 && {same_loss}"
    x = alt.X("m:Q", **_log("training-set size m"))
    base = alt.Chart(data).encode(x=x)
    fair = base.mark_line(color="lightgray").encode(y="exact:Q").transform_filter(f"datum.p == 0.5 && {same_loss}")
    exact = base.mark_line(point=True).encode(y=alt.Y("exact:Q", **_log("exact expected loss")),
                                              tooltip=["p", "loss", "m", "exact", "asymptote"])
    tail = base.mark_line(strokeDash=[5, 3], color="black").encode(y="asymptote:Q")
    label = alt.Chart(_fit_labels(sizes, biases, losses)).mark_text(align="left", x=5, y=-8).encode(
        text="label:N").transform_filter(selected)
    return charts.finish(alt.layer(fair, exact.transform_filter(selected), tail.transform_filter(selected), label).add_params(
        bias, chosen).properties(title="Counting model: exact expected loss (dashed: asymptote)"))


def three_regions_table(world: NoisyContexts, sizes, repeats: int = 3, seed: int = 0) -> pd.DataFrame:
    """Learning curve of the noisy-label counting classifier with each size's region.

    Regions: ``small data`` while the excess over the floor is above 90 % of the
    best-guess excess, ``irreducible`` once it is below 10 % of the floor, else ``power law``.
    """
    error, stderr = world.learning_curve(sizes, repeats, seed)
    excess = error - world.irreducible_error
    region = np.where(excess >= 0.9 * (world.best_guess_error - world.irreducible_error), "small data",
                      np.where(excess <= 0.1 * world.irreducible_error, "irreducible error", "power law"))
    return pd.DataFrame({"m": np.asarray(sizes), "error": error, "stderr": stderr, "excess": excess, "region": region})


def power_law_region_fit(table: pd.DataFrame) -> dict:
    """Exponent of the excess error over the known floor, fitted on the ``power law`` rows."""
    rows = table[table.region == "power law"]
    return fit_exponent(rows.m, rows.excess)


def floor_fit(table: pd.DataFrame) -> dict:
    """``alpha m**beta + gamma`` fitted to the error beyond the small-data region (floor unknown)."""
    rows = table[table.region != "small data"]
    fit = PowerLawConstantFit().fit(rows.m.to_numpy(dtype=float), rows.error.to_numpy())
    return {"alpha": fit.alpha_, "beta": fit.beta_, "gamma": fit.gamma_,
            "gamma_low": fit.gamma_ci_[0], "gamma_high": fit.gamma_ci_[1]}


def fit_table(fits: dict, digits: int = 4):
    """Fits (the dicts of :func:`fit_exponent`, :func:`floor_fit`; by name) as one table for reading.

    One row per fit: alpha, beta with its 95 % interval, and gamma with its interval where
    the form has a floor.
    """
    from scaling_core import formatting

    rows = [{"fit": name, "alpha": fit.get("alpha"), "beta": fit.get("beta"),
             "95 % interval of beta": formatting.interval(fit.get("beta_low"), fit.get("beta_high"), digits),
             "gamma (floor)": fit.get("gamma"),
             "95 % interval of gamma": formatting.interval(fit.get("gamma_low"), fit.get("gamma_high"), digits)}
            for name, fit in fits.items()]
    frame = pd.DataFrame(rows)
    frame = frame.drop(columns=[c for c in frame if frame[c].isna().all() or (frame[c] == formatting.MISSING).all()])
    return formatting.display(frame, digits=digits, empty="No fit was made.")


def three_regions_chart(table: pd.DataFrame, world: NoisyContexts) -> alt.LayerChart:
    """The toy's learning curve on log-log axes with its three regions shaded and the two limits drawn."""
    edges = np.sqrt(table.m.to_numpy()[1:] * table.m.to_numpy()[:-1])
    bounds = np.concatenate([[table.m.min()], edges, [table.m.max()]])
    spans = (table.assign(start=bounds[:-1], end=bounds[1:]).groupby("region", sort=False)
             .agg(start=("start", "min"), end=("end", "max")).reset_index())
    spans["middle"] = np.sqrt(spans.start * spans.end)
    x = alt.X("m:Q", **_log("training-set size m"))
    shade = alt.Chart(spans).mark_rect(opacity=0.15).encode(
        x=alt.X("start:Q", **_log("training-set size m")), x2="end:Q",
        color=charts.region_color(spans))
    names = alt.Chart(spans).mark_text(y=10, fontWeight="bold").encode(x="middle:Q", text="region:N")
    limits = pd.DataFrame({"limit": ["best guess", "irreducible error"],
                           "error": [world.best_guess_error, world.irreducible_error]})
    rules = alt.Chart(limits).mark_rule(strokeDash=[4, 4], color="gray").encode(y="error:Q")
    series = table.assign(**{"test error": table.error, "excess over the floor": table.excess}).melt(
        id_vars=["m", "region"], value_vars=["test error", "excess over the floor"], var_name="curve", value_name="value")
    curve = alt.Chart(series).mark_line(point=alt.OverlayMarkDef(color="black"), color="black").encode(
        x=x, y=alt.Y("value:Q", **_log("test error (noisy labels)")), tooltip=["m", "curve", "value", "region"],
        strokeDash=alt.StrokeDash("curve:N", sort=["test error"], title=None))
    return charts.finish(alt.layer(shade, names, rules, curve).properties(title="Three regions of a learning curve (toy)"))
