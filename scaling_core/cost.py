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
before training: :data:`EVALUATIONS_TO_BEST` is the median measured on our one converged
sweep (the methodology chapter's ``paper`` store: every trial stopped early).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from scaling_core.paths import cache_dir


CALIBRATION = Path(__file__).resolve().parent / "assets" / "cost_calibration.json"
EVALUATIONS_TO_BEST = 6
"""Median evaluations before the best one, in the converged methodology ``paper`` sweep (215 trials)."""
EVAL_FORWARD = 1 / 3
"""A forward pass without gradients, as a share of a training step (at the same batch shape)."""
DECODE = {"speech": 2.0}
"""Evaluation passes per batch where V is also decoded (speech: greedy transcripts beside the loss)."""
COUNT_BATCH = 2
"""Batch size at which one step's kernels and FLOPs are counted (FLOPs scale with the batch)."""
TRIAL_OVERHEAD = 0.15
"""Seconds per trial outside its steps (building the model and optimizer, the first call's set-up),
measured on the methodology chapter's smoke sweep here."""


# ----------------------------------------------------------------------------- what a step looks like
@dataclass(frozen=True)
class Shapes:
    """A chapter's data as one training step sees it."""

    kind: str  # mnist1d, image1d, image2d, word, char, translation, speech
    units_per_example: float  # data units (words, seconds ...) per training example
    val_units: float  # units of V scored at each evaluation
    vocab: int = 0
    steps: int = 0  # sequence length (words, characters, tokens, frames)
    target_steps: int = 0  # target tokens or characters (translation, speech)
    features: int = 0
    ds2_layers: int = 4
    conv_channels: int = 32
    graph_safe: bool = False
    stackable: bool = False
    eval_batch: int = 256  # examples per evaluation batch (rows of V's stream for a word LM)


def chapter_shapes(chapter: str, config, spec) -> Shapes:
    """The :class:`Shapes` of a chapter's sweep ``spec`` (dataset statistics from the committed stores)."""
    kwargs = dict(spec.task.kwargs)
    dataset = kwargs.get("dataset", "mnist1d")
    if chapter == "methodology":
        return Shapes("mnist1d", 1, kwargs["n_val"], graph_safe=True, stackable=True, eval_batch=4096)
    if chapter == "image":
        two_d = dataset == "cifar10"
        return Shapes("image2d" if two_d else "image1d", 1, kwargs["val_size"], graph_safe=True, eval_batch=1000)
    if chapter == "word_lm":
        from scaling_core.tasks.language import DEFAULT_VOCAB_SIZES, WORD_LM_SCALES
        scale = WORD_LM_SCALES[kwargs.get("profile", config.profile)]
        return Shapes("word", 30.0, scale["val_units"], vocab=scale["vocab_size"] or DEFAULT_VOCAB_SIZES[dataset],
                      steps=80, graph_safe=True, eval_batch=scale.get("eval_rows", 10))
    if chapter == "char_lm":
        from scaling_core.tasks.language import CHAR_LM_SCALES
        scale = CHAR_LM_SCALES[kwargs.get("profile", config.profile)]
        return Shapes("char", 117.0, scale["val_units"], vocab=98, steps=150, graph_safe=True, stackable=True,
                      eval_batch=64)
    if chapter == "nmt":
        if dataset == "g2p":  # graphemes to IPA symbols; measured: batches padded to 30.5 / 28.1 symbols
            return Shapes("translation", 25.3, 25.3 * kwargs["val_size"], vocab=55, steps=31, target_steps=28,
                          stackable=True)
        # Multi30k, shared BPE vocabulary; measured: 15.7 target tokens a pair, batches padded to 26.0 / 18.4
        return Shapes("translation", 15.7, 15.7 * kwargs["val_size"], vocab=kwargs.get("vocab_size", 8000),
                      steps=26, target_steps=18, stackable=True)
    if chapter == "speech":
        from scaling_core.data.speech_features import n_features
        seconds = 1.39  # eSpeak utterances of 2-8 words; measured: batches padded to 148 frames, 35 characters
        return Shapes("speech", seconds, seconds * kwargs["n_val"], steps=148, target_steps=35,
                      features=n_features(kwargs.get("sample_rate") or 16000), ds2_layers=kwargs["ds2_layers"],
                      conv_channels=kwargs["conv_channels"], eval_batch=64)
    raise ValueError(f"parameter 'chapter' got {chapter!r}; allowed: the chapters that train sweeps")


def units_per_step(shapes: Shapes, batch_size: int) -> float:
    """Data units one optimizer step consumes (a word LM's step is ``batch x 80`` words of its stream)."""
    if shapes.kind == "word":
        return batch_size * shapes.steps
    return batch_size * shapes.units_per_example


def workload(shapes: Shapes, family: str, size: float, batch: int):
    """``(model, batch tensors, loss)`` of one training step of ``family`` at ``size`` on ``batch`` examples."""
    from scaling_core.models.attention_asr import AttentionASR, AttentionASRConfig
    from scaling_core.models.ds2 import DS2, DS2Config
    from scaling_core.models.resnet import ResNet, ResNetConfig
    from scaling_core.models.seq2seq import Seq2Seq, Seq2SeqConfig
    from scaling_core.tasks.language import build_language_model
    from scaling_core.tasks.mnist1d import FAMILIES

    g = torch.Generator().manual_seed(0)
    k = shapes.kind
    if k == "mnist1d":
        return FAMILIES[family](int(size)), (torch.randn(batch, 40, generator=g), torch.randint(0, 10, (batch,))), \
            _classify
    if k in ("image1d", "image2d"):
        dim = 1 if k == "image1d" else 2
        model = ResNet(ResNetConfig(dim=dim, in_channels=1 if dim == 1 else 3, blocks_per_stage=int(family[8:]),
                                    width_factor=float(size)))
        x = torch.randn(batch, 1, 40, generator=g) if dim == 1 else torch.randn(batch, 3, 32, 32, generator=g)
        return model, (x, torch.randint(0, 10, (batch,))), _classify
    if k in ("word", "char"):
        model = build_language_model(family, int(size), shapes.vocab)
        tokens = torch.randint(0, shapes.vocab, (batch, shapes.steps), generator=g)
        return model, (tokens, tokens.roll(-1, 1)), _next_token
    if k == "translation":
        width = max(2, 2 * round(float(size) / 2))
        model = Seq2Seq(Seq2SeqConfig(shapes.vocab, shapes.vocab, width, dropout=0.0))
        src = torch.randint(4, shapes.vocab, (batch, shapes.steps), generator=g)
        tgt = torch.randint(4, shapes.vocab, (batch, shapes.target_steps), generator=g)
        return model, (src, _lengths(shapes.steps, batch, g), tgt, tgt.roll(-1, 1)), _translate
    if k == "speech":
        if family == "ds2":
            model = DS2(DS2Config(n_features=shapes.features, hidden=int(size), n_layers=shapes.ds2_layers,
                                  conv_channels=shapes.conv_channels))
        else:
            model = AttentionASR(AttentionASRConfig(n_features=shapes.features, hidden=int(size)))
        features = torch.randn(batch, shapes.steps, shapes.features, generator=g)
        chars = torch.randint(1, 29, (batch, shapes.target_steps), generator=g)
        return model, (features, _lengths(shapes.steps, batch, g), chars, _lengths(shapes.target_steps, batch, g)), \
            _speech
    raise ValueError(f"parameter 'kind' got {k!r}")


def _lengths(longest: int, batch: int, generator) -> torch.Tensor:
    """Lengths of a padded batch: the longest first, the others in [3/4, 1] of it (packed LSTMs run per step)."""
    lengths = torch.randint(longest * 3 // 4, longest + 1, (batch,), generator=generator)
    lengths[0] = longest
    return lengths


def _classify(model, x, y):
    return F.cross_entropy(model(x).float(), y)


def _next_token(model, x, y):
    logits, _ = model(x)
    return F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())


def _translate(model, src, lens, tgt_in, tgt_out):
    return F.cross_entropy(model(src, lens, tgt_in).flatten(0, 1).float(), tgt_out.flatten(), reduction="sum") / len(src)


def _speech(model, *batch):
    return model.loss(*batch)


# ----------------------------------------------------------------------------- counting one step
class _KernelCounter(TorchDispatchMode):
    """Counts the operators a step dispatches that launch work (views and metadata ops excluded)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not getattr(func, "is_view", False) and func.overloadpacket not in _FREE:
            self.count += 1
        return func(*args, **(kwargs or {}))


_FREE = {torch.ops.aten.detach, torch.ops.aten.view, torch.ops.aten._unsafe_view, torch.ops.aten.t,
         torch.ops.aten.expand, torch.ops.aten.alias, torch.ops.aten.lift_fresh, torch.ops.aten.empty_like,
         torch.ops.aten.empty, torch.ops.aten.empty_strided}


@dataclass(frozen=True)
class StepCount:
    """Kernels and FLOPs of one training step (forward and backward) at batch :data:`COUNT_BATCH`."""

    kernels: int  # as trained one at a time (fused cuDNN/MKL LSTMs)
    loop_kernels: int  # as trained in a stack (loop LSTMs)
    flops: float


def count_step(shapes: Shapes, family: str, size: float) -> StepCount:
    """Kernels and FLOPs of one step of ``family`` at ``size`` (batch :data:`COUNT_BATCH`).

    The kernels of an architecture do not depend on its width and its FLOPs are a quadratic
    in the width, so three small widths are run and counted (:func:`_probe`) and the quadratic
    through them gives the FLOPs at ``size``.
    """
    kernels, loop_kernels, coefficients = _probe(shapes, family)
    return StepCount(kernels, loop_kernels, float(max(np.polyval(coefficients, float(size)), 0.0)))


@functools.lru_cache(maxsize=128)
def _probe(shapes: Shapes, family: str) -> tuple[int, int, tuple[float, float, float]]:
    """The counts of :func:`count_step`, kept on disk (keyed by the shapes and the models' source)."""
    key = hashlib.sha256(repr((shapes, family, torch.__version__, _models_source())).encode()).hexdigest()[:20]
    path = cache_dir("cost") / f"{key}.json"
    if path.exists():
        kernels, loop_kernels, coefficients = json.loads(path.read_text())
        return kernels, loop_kernels, tuple(coefficients)
    counted = _count(shapes, family)
    path.write_text(json.dumps([counted[0], counted[1], list(counted[2])]))
    return counted


@functools.lru_cache(maxsize=1)
def _models_source() -> str:
    folder = Path(__file__).resolve().parent
    files = sorted((folder / "models").glob("*.py")) + sorted((folder / "tasks").glob("*.py"))
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def _count(shapes: Shapes, family: str) -> tuple[int, int, tuple[float, float, float]]:
    from scaling_core.models.loop_lstm import with_loop_lstms

    widths = (0.25, 0.5, 1.0) if shapes.kind.startswith("image") else (16, 32, 64)
    flops, kernels = [], []
    for width in widths:
        for loop in (False, True):
            torch.manual_seed(0)
            model, batch, loss_fn = workload(shapes, family, width, COUNT_BATCH)
            model = with_loop_lstms(model) if loop else model
            with FlopCounterMode(display=False) as counted, _KernelCounter() as launched:
                loss_fn(model, *batch).backward()
            if loop:
                flops.append(counted.get_total_flops())
            if width == widths[0]:
                kernels.append(launched.count)
    return kernels[0], kernels[1], tuple(float(c) for c in np.polyfit(widths, flops, 2))


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
    """The trials of ``spec`` as its model search plans them, winners taken along the middle growth path."""
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


def trial_steps(trial: PlannedTrial, shapes: Shapes, trainer, batch: int) -> tuple[int, int]:
    """``(steps, evaluations)`` of one trial: early stopping after the best plus ``patience``, or a cap."""
    epoch = max(1, math.ceil(trial.shard_units / units_per_step(shapes, batch)))
    interval = max(trainer.min_eval_steps, math.ceil(trainer.eval_every_epochs * epoch))
    capped = min(trainer.max_steps, math.ceil(trainer.max_epochs * epoch))
    steps = min(capped, (EVALUATIONS_TO_BEST + trainer.patience) * interval)
    return steps, max(1, math.ceil(steps / interval))


def estimate(chapter: str, profile: str, dataset: str | None = None, workers: int | None = None) -> pd.DataFrame:
    """One row per sweep and family: trials, steps, FLOPs, estimated CPU and H200 minutes.

    ``workers`` (default the chapter's) divides the CPU minutes; H200 minutes are a sum.
    """
    from scaling_core.pending import chapter_config, first_specs

    module, config = chapter_config(chapter, profile, dataset)
    workers = workers or config.settings.get("workers") or _settings_workers(module, config)
    rows = []
    for spec in first_specs(module, config):
        shapes = chapter_shapes(chapter, config, spec)
        for trial in planned_trials(spec):
            count = count_step(shapes, trial.family, trial.size)
            for batch in trial.batch_sizes:
                share = trial.samples / len(trial.batch_sizes)  # expected trials drawing this batch size
                steps, evaluations = trial_steps(trial, shapes, spec.trainer, batch)
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


def _settings_workers(module, config) -> int:
    settings = getattr(module, "settings", None)
    return int(settings(config).get("workers", 1)) if callable(settings) else 1


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
