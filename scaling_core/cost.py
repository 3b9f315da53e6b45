r"""What a chapter's sweeps cost: planned trials, steps, FLOPs, and minutes on this CPU and on one H200.

``scaling-core cost <chapter> -p profile paper`` plans every trial of the chapter's
sweeps the way the model search will (the grid on the smallest shard, then the
projections of the previous winner, taken along the middle growth exponent), counts
each trial's optimizer steps (:func:`trial_steps`) and prices one step of each model
(:func:`step_seconds`):

.. math::

    t_\text{step} = c_\text{op}\, n_\text{op} + \frac{K F}{R},

with :math:`n_\text{op}` the kernels one training step dispatches and :math:`F` its
floating-point operations (both counted by running the step on the CPU at batch size 2,
:func:`count_step`), :math:`K` the trials stacked together, and the constants fitted
per device and mode (eager, CUDA graph, stacked) to the throughput benchmark's
measurements: :math:`R` per mode, :math:`c_\text{op}` per mode and model family (a fused
LSTM kernel, a convolution and an element-wise kernel take very different times;
``benchmarks/calibrate_cost.py`` writes them to ``scaling_core/assets/cost_calibration.json``).
An evaluation on V is priced as forward passes over V in the task's own evaluation batches
(a third of an eager training step per batch, twice where V is also decoded). The estimates are sums of trial times, as if trials ran one after another on
the device: on the CPU divided by the workers, on the GPU not (processes sharing one GPU
take turns).

Steps per trial: an epoch is the shard over the units a step consumes; evaluations come
every ``max(min_eval_steps, eval_every_epochs x epoch)`` steps; a trial stops after its
best evaluation plus ``patience`` more, or at a cap. Where the best comes is not known
before training: :data:`EVALUATIONS_TO_BEST` is the median measured on our first converged
sweep (the methodology chapter's ``paper`` store: every trial stopped early); a chapter module
whose own converged trials measured another median says so in its ``EVALUATIONS_TO_BEST``
(:func:`evaluations_to_best`). Every one of these constants is measured one way,
by :func:`measured_evaluations_to_best` on a committed store.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scaling_core.step_counts import COUNT_BATCH, Shapes, StepCount, chapter_shapes, count_step, units_per_step
from scaling_core.sweep.store import Store


CALIBRATION = Path(__file__).resolve().parent / "assets" / "cost_calibration.json"
EVALUATIONS_TO_BEST = 6
"""Median evaluations up to and including the best one, in the converged methodology ``paper``
sweep (215 trials; :func:`measured_evaluations_to_best`)."""
EVAL_FORWARD = 1 / 3
"""A forward pass without gradients, as a share of a training step (at the same batch shape)."""
DECODE = {"speech": 2.0}
"""Evaluation passes per batch where V is also decoded (speech: greedy transcripts beside the loss)."""
TRIAL_OVERHEAD = 0.15
"""Seconds per trial outside its steps (building the model and optimizer, the first call's set-up),
measured on the methodology chapter's smoke sweep here."""


# ----------------------------------------------------------------------------- pricing a step
@functools.lru_cache(maxsize=1)
def calibration() -> dict:
    """The fitted constants ``{"devices": {device: {mode: {c_op: {family: s}, rate}}}}`` (``benchmarks/calibrate_cost.py``)."""
    if not CALIBRATION.exists():
        raise FileNotFoundError(f"{CALIBRATION} is missing; run benchmarks/calibrate_cost.py")
    return json.loads(CALIBRATION.read_text())


def calibrated_family(shapes: Shapes, family: str) -> str:
    """The benchmark family whose constants price ``family`` in a chapter of ``shapes``."""
    if shapes.kind in ("image1d", "image2d"):
        return "resnet1d-d3" if shapes.kind == "image1d" else "resnet2d-d3"
    if shapes.kind in ("word", "char"):
        if family.startswith("lstm"):
            return "lstm2" if int(family[4:]) <= 2 else "lstm4"
        return "rhn10" if shapes.kind == "char" else "rhn5"
    return {"translation": "seq2seq"}.get(shapes.kind, family)


FALLBACK_MODES = {"graph": "one", "stack-graph": "stack", "stack": "one"}
"""A mode a family was not measured in is priced as the next slower one."""


def step_seconds(count: StepCount, shapes: Shapes, family: str, batch: int, device: str, mode: str,
                 members: float = 1.0) -> float:
    r"""Seconds of one training step of ``members`` stacked trials: :math:`c_\text{op} n_\text{op} + K F / R`.

    ``mode`` is ``one`` (eager), ``graph`` (CUDA graph), ``stack`` or ``stack-graph``; ``c_op`` is the
    fitted per-kernel time of the family's benchmark model in that mode on ``device``.
    """
    key = calibrated_family(shapes, family)
    fits = calibration()["devices"][device]
    while key not in fits.get(mode, {}).get("c_op", {}):
        if mode not in FALLBACK_MODES:
            raise ValueError(f"no calibration for family {key!r} on {device}; run benchmarks/calibrate_cost.py")
        mode = FALLBACK_MODES[mode]
    fit = fits[mode]
    kernels = count.loop_kernels if mode.startswith("stack") else count.kernels
    flops = count.flops * batch / COUNT_BATCH * (members if mode.startswith("stack") else 1.0)
    return fit["c_op"][key] * kernels + flops / fit["rate"]


def evaluation_seconds(count: StepCount, shapes: Shapes, family: str, device: str) -> float:
    """One evaluation on V: its batches of ``shapes.eval_batch`` examples, forward only, eagerly."""
    per_batch = units_per_step(shapes, shapes.eval_batch)
    batches = math.ceil(shapes.val_units / per_batch) * DECODE.get(shapes.kind, 1.0)
    return batches * EVAL_FORWARD * step_seconds(count, shapes, family, shapes.eval_batch, device, "one")


def device_mode(shapes: Shapes, device: str, members: float) -> tuple[str, float]:
    """How the trainer runs a trial on ``device``: the calibrated mode and the trials per stack."""
    if device == "cpu":
        return "one", 1.0
    stacked = shapes.stackable and members > 1
    if shapes.graph_safe:
        return ("stack-graph" if stacked else "graph"), (members if stacked else 1.0)
    return ("stack" if stacked else "one"), (members if stacked else 1.0)


# ----------------------------------------------------------------------------- planning trials
@dataclass(frozen=True)
class PlannedTrial:
    sweep: str
    shard: int
    shard_units: float
    family: str
    size: float
    samples: int  # learning-rate draws at this size
    batch_sizes: tuple[int, ...]


def planned_trials(spec) -> list[PlannedTrial]:
    """The trials of ``spec`` as its model search plans them, winners taken along the middle growth path.

    A bracketing search's wider sizes (``SearchSpec.bracket``) are not planned: how many it
    tries depends on which candidates win, so its estimate is a lower bound.
    """
    trials = []
    for search in spec.searches:
        grid = sorted(set(search.grid))
        best, previous_units = grid[len(grid) // 2], None
        middle = sorted(search.growth)[len(search.growth) // 2]
        for shard, units in enumerate(spec.shard_sizes):
            if previous_units is None:
                sizes = grid
            else:
                ratio = units / previous_units
                sizes = sorted({_clip(best * ratio**g, search) for g in search.growth})
                best = _clip(best * ratio**middle, search)
            trials += [PlannedTrial(spec.name, shard, units, search.family, s, search.samples, search.batch_sizes)
                       for s in sizes]
            previous_units = units
    return trials


def _clip(size: float, search) -> float:
    size = min(max(size, search.min_size), search.max_size)
    return float(round(size)) if search.integer_sizes else float(size)


def trial_steps(trial: PlannedTrial, shapes: Shapes, trainer, batch: int,
                to_best: int = EVALUATIONS_TO_BEST) -> tuple[int, int]:
    """``(steps, evaluations)`` of one trial: early stopping after the best plus ``patience``, or a cap.

    ``to_best``: evaluations up to and including the best one (a chapter's own measured
    median, see :func:`evaluations_to_best` and :func:`measured_evaluations_to_best`).
    """
    epoch = max(1, math.ceil(trial.shard_units / units_per_step(shapes, batch)))
    interval = max(trainer.min_eval_steps, math.ceil(trainer.eval_every_epochs * epoch))
    capped = min(trainer.max_steps, math.ceil(trainer.max_epochs * epoch))
    steps = min(capped, (to_best + trainer.patience) * interval)
    return steps, max(1, math.ceil(steps / interval))


def measured_evaluations_to_best(trials: pd.DataFrame) -> int:
    r"""Evaluations up to and including the best one, the median over trials that stopped early.

    For trial :math:`i` with evaluations at steps :math:`s_{i1} < s_{i2} < \dots` and its best
    (the step whose weights it kept) at :math:`b_i`,

    .. math::

        n_i = \#\{j : s_{ij} \le b_i\}, \qquad
        \text{to\_best} = \left\lceil \operatorname{median}_i n_i \right\rceil,

    over the trials whose ``stop_reason`` is ``"early_stop"`` (a capped trial's best is not
    where it would have stopped). Rounded up, so a step count built on it does not
    under-price. :func:`trial_steps` adds ``patience`` evaluations after the best.

    Parameters
    ----------
    trials : pandas.DataFrame
        Trials with ``history`` (each a list of evaluation rows with ``step``), ``best_step``
        and ``stop_reason``, as :meth:`scaling_core.sweep.store.Store.to_frame` gives them
        with ``history=True``.

    Returns
    -------
    int
        The measured median; raises ``ValueError`` if no trial stopped early.
    """
    stopped = trials[(trials["stop_reason"] == "early_stop") & trials["best_step"].notna()]
    if stopped.empty:
        raise ValueError("parameter 'trials' holds no trial that stopped early: nothing to measure")
    counts = [sum(1 for row in history if row["step"] <= best)
              for history, best in zip(stopped["history"], stopped["best_step"])]
    return math.ceil(float(pd.Series(counts).median()))


def store_evaluations_to_best(path) -> int:
    """:func:`measured_evaluations_to_best` over every trial of the results store at ``path``."""
    with Store(path, readonly=True) as store:
        return measured_evaluations_to_best(store.to_frame(history=True))


def evaluations_to_best(module) -> int:
    """The chapter module's own ``EVALUATIONS_TO_BEST`` (measured on its converged trials), else the default."""
    return int(getattr(module, "EVALUATIONS_TO_BEST", EVALUATIONS_TO_BEST))


def estimate(chapter: str, profile: str, dataset: str | None = None, workers: int | None = None,
             config=None) -> pd.DataFrame:
    """One row per sweep and family: trials, steps, FLOPs, estimated CPU and H200 minutes.

    ``workers`` (default the chapter's) divides the CPU minutes; H200 minutes are a sum.
    ``config`` (a :class:`~scaling_core.profiles.ChapterConfig`) prices settings other than
    the profile's own, such as a search the profile leaves out.
    """
    from scaling_core.experiments.contract import chapter_workers
    from scaling_core.pending import chapter_config

    module, profile_config = chapter_config(chapter, profile, dataset)
    config = config or profile_config
    workers = workers or chapter_workers(config)
    rows = []
    for spec in module.sweep_specs(config):
        shapes = chapter_shapes(chapter, config, spec)
        for trial in planned_trials(spec):
            count = count_step(shapes, trial.family, trial.size)
            for batch in trial.batch_sizes:
                share = trial.samples / len(trial.batch_sizes)  # expected trials drawing this batch size
                steps, evaluations = trial_steps(trial, shapes, spec.trainer, batch, evaluations_to_best(module))
                row = {"sweep": spec.name, "family": trial.family, "trials": share, "steps": share * steps,
                       "flops": share * steps * count.flops * batch / COUNT_BATCH}
                for device in ("cpu", "h200"):
                    mode, members = device_mode(shapes, device, share)
                    step = step_seconds(count, shapes, trial.family, batch, device, mode, members) / members
                    seconds = TRIAL_OVERHEAD + steps * step + evaluations * evaluation_seconds(
                        count, shapes, trial.family, device)
                    row[f"{device}_minutes"] = share * seconds / 60
                rows.append(row)
    frame = pd.DataFrame(rows).groupby(["sweep", "family"], sort=False, as_index=False).sum()
    frame["cpu_minutes"] /= max(1, int(workers))
    frame["trials"] = frame["trials"].round().astype(int)
    return frame


def format_estimate(frame: pd.DataFrame, chapter: str, profile: str) -> str:
    """The estimate as a text table with a total row."""
    total = frame[["trials", "steps", "flops", "cpu_minutes", "h200_minutes"]].sum()
    lines = [f"{chapter} at {profile}: {int(total['trials'])} trials, {total['steps']:.3g} steps, "
             f"{total['flops']:.3g} FLOPs; about {total['cpu_minutes']:.0f} min on this CPU "
             f"and {total['h200_minutes']:.1f} min on one H200",
             f"{'sweep':<34}{'family':<11}{'trials':>7}{'steps':>10}{'FLOPs':>10}{'CPU min':>9}{'H200 min':>9}"]
    for row in frame.itertuples():
        lines.append(f"{row.sweep:<34}{row.family:<11}{row.trials:>7}{row.steps:>10.3g}{row.flops:>10.3g}"
                     f"{row.cpu_minutes:>9.1f}{row.h200_minutes:>9.2f}")
    return "\n".join(lines)
