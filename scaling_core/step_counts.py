r"""One training step of every family, as the cost model sees it: its shapes, kernels and FLOPs.

:func:`chapter_shapes` says what a chapter's batches look like (sequence lengths and
vocabularies measured on its data), :func:`workload` builds the model and a batch of
those shapes, and :func:`count_step` counts the kernels one training step dispatches
(views excluded) and its floating-point operations, by running it on the CPU at batch
size :data:`COUNT_BATCH` under ``torch``'s dispatch and FLOP counters. The loss
functions are the tasks' training losses on plain tensors; the throughput benchmark
uses them too.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from scaling_core.paths import cache_dir

COUNT_BATCH = 2
"""Batch size at which one step's kernels and FLOPs are counted (FLOPs scale with the batch)."""


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
    encoder_layers: int | None = None  # translation: LSTM layers each side (nmt.model_layers)
    decoder_layers: int | None = None
    conv_channels: int = 32
    n_mels: int | None = None  # speech: mel bands (None: linear bins)
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
        return Shapes("word", 30.0, kwargs["val_units"], vocab=kwargs["vocab_size"], steps=80, graph_safe=True,
                      eval_batch=kwargs["eval_rows"])
    if chapter == "char_lm":
        return Shapes("char", 117.0, kwargs["val_units"], vocab=98, steps=150, graph_safe=True, stackable=True,
                      eval_batch=64)
    if chapter == "nmt":
        from scaling_core.experiments.nmt import model_layers

        layers = model_layers(config)
        if dataset == "g2p":  # graphemes to IPA symbols; measured: batches padded to 30.5 / 28.1 symbols
            return Shapes("translation", 25.3, 25.3 * kwargs["val_size"], vocab=55, steps=31, target_steps=28,
                          stackable=True, **layers)
        # Multi30k, shared BPE vocabulary; measured: 15.7 target tokens a pair, batches padded to 26.0 / 18.4
        return Shapes("translation", 15.7, 15.7 * kwargs["val_size"], vocab=kwargs.get("vocab_size", 8000),
                      steps=26, target_steps=18, stackable=True, **layers)
    if chapter == "speech":
        from scaling_core.data.speech_features import n_features
        seconds = 1.39  # eSpeak utterances of 2-8 words; measured: batches padded to 148 frames, 35 characters
        return Shapes("speech", seconds, seconds * kwargs["n_val"], steps=148, target_steps=35,
                      features=n_features(kwargs.get("sample_rate") or 16000, kwargs.get("n_mels")),
                      ds2_layers=kwargs["ds2_layers"], conv_channels=kwargs["conv_channels"], eval_batch=64,
                      n_mels=kwargs.get("n_mels"))
    raise ValueError(f"parameter 'chapter' got {chapter!r}; allowed: the chapters that train sweeps")


def units_per_step(shapes: Shapes, batch_size: int) -> float:
    """Data units one optimizer step consumes (a word LM's step is ``batch x 80`` words of its stream)."""
    if shapes.kind == "word":
        return batch_size * shapes.steps
    return batch_size * shapes.units_per_example


def workload(shapes: Shapes, family: str, size: float, batch: int):
    """``(model, batch tensors, loss)`` of one training step of ``family`` at ``size`` on ``batch`` examples."""
    from scaling_core.models.attention_asr import AttentionASR, AttentionASRConfig
    from scaling_core.tasks.speech import build_ds2
    from scaling_core.models.resnet import ResNet, ResNetConfig
    from scaling_core.models.seq2seq import Seq2Seq, Seq2SeqConfig
    from scaling_core.tasks.language import build_language_model
    from scaling_core.tasks.mnist1d import FAMILIES

    g = torch.Generator().manual_seed(0)
    k = shapes.kind
    if k == "mnist1d":
        return FAMILIES[family](int(size)), (torch.randn(batch, 40, generator=g), torch.randint(0, 10, (batch,))), \
            classification_loss
    if k in ("image1d", "image2d"):
        dim = 1 if k == "image1d" else 2
        model = ResNet(ResNetConfig(dim=dim, in_channels=1 if dim == 1 else 3, blocks_per_stage=int(family[8:]),
                                    width_factor=float(size)))
        x = torch.randn(batch, 1, 40, generator=g) if dim == 1 else torch.randn(batch, 3, 32, 32, generator=g)
        return model, (x, torch.randint(0, 10, (batch,))), classification_loss
    if k in ("word", "char"):
        model = build_language_model(family, int(size), shapes.vocab)
        tokens = torch.randint(0, shapes.vocab, (batch, shapes.steps), generator=g)
        return model, (tokens, tokens.roll(-1, 1)), next_token_loss
    if k == "translation":
        width = max(2, 2 * round(float(size) / 2))
        model = Seq2Seq(Seq2SeqConfig(shapes.vocab, shapes.vocab, width, encoder_layers=shapes.encoder_layers,
                                      decoder_layers=shapes.decoder_layers, dropout=0.0))
        src = torch.randint(4, shapes.vocab, (batch, shapes.steps), generator=g)
        tgt = torch.randint(4, shapes.vocab, (batch, shapes.target_steps), generator=g)
        return model, (src, _lengths(shapes.steps, batch, g), tgt, tgt.roll(-1, 1)), translation_loss
    if k == "speech":
        if family == "ds2":
            model = build_ds2(shapes.features, int(size), shapes.ds2_layers, shapes.conv_channels, shapes.n_mels)
        else:
            model = AttentionASR(AttentionASRConfig(n_features=shapes.features, hidden=int(size)))
        features = torch.randn(batch, shapes.steps, shapes.features, generator=g)
        chars = torch.randint(1, 29, (batch, shapes.target_steps), generator=g)
        return model, (features, _lengths(shapes.steps, batch, g), chars, _lengths(shapes.target_steps, batch, g)), \
            speech_loss
    raise ValueError(f"parameter 'kind' got {k!r}")


def _lengths(longest: int, batch: int, generator) -> torch.Tensor:
    """Lengths of a padded batch: the longest first, the others in [3/4, 1] of it (packed LSTMs run per step)."""
    lengths = torch.randint(longest * 3 // 4, longest + 1, (batch,), generator=generator)
    lengths[0] = longest
    return lengths


def classification_loss(model, x, y):
    """Cross-entropy of class logits."""
    return F.cross_entropy(model(x).float(), y)


def next_token_loss(model, x, y):
    """Mean next-token cross-entropy of a language model."""
    logits, _ = model(x)
    return F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())


def translation_loss(model, src, lens, tgt_in, tgt_out):
    """Per-sentence cross-entropy of a translation model (padding, id 0, ignored)."""
    logits = model(src, lens, tgt_in).flatten(0, 1).float()
    return F.cross_entropy(logits, tgt_out.flatten(), ignore_index=0, reduction="sum") / src.shape[0]


def speech_loss(model, *batch):
    """A speech model's own loss (CTC or output cross-entropy)."""
    return model.loss(*batch)


# ----------------------------------------------------------------------------- counting one step
class KernelCounter(TorchDispatchMode):
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
            with FlopCounterMode(display=False) as counted, KernelCounter() as launched:
                loss_fn(model, *batch).backward()
            if loop:
                flops.append(counted.get_total_flops())
            if width == widths[0]:
                kernels.append(launched.count)
    return kernels[0], kernels[1], tuple(float(c) for c in np.polyfit(widths, flops, 2))
