"""Training throughput per model family: one trial at a time against K stacked trials.

For every model family of the book, at the ``paper`` profile's batch shapes, this
times one optimizer step (forward, backward, update; bf16 autocast on CUDA) on
synthetic batches already on the device (data loading is not timed) in these modes:

- ``one``: one model as the trainer runs it (fused ``nn.LSTM``, loss read back every step);
- ``one-async``: the same without reading the loss back (fused Adam on CUDA);
- ``one-graph``: ``one-async`` captured in a CUDA graph and replayed (CUDA only);
- ``stack``: ``K`` models trained as one :class:`~scaling_core.sweep.stacked.ModelStack`;
- ``stack-graph``: the stacked step captured in a CUDA graph (CUDA only).

It prints one row per family, size, mode and ``K``: milliseconds per step, member
steps per second, units (words, images, seconds of audio ...) per second, the speed-up
over ``one`` and the peak device memory; ``--out`` also writes every row as JSON lines.

Usage::

    python benchmarks/bench_throughput.py --quick                 # CPU, CI-sized (about a minute)
    python benchmarks/bench_throughput.py --shapes laptop --out throughput-cpu.jsonl   # CPU, laptop shapes
    python benchmarks/bench_throughput.py --device cuda --budget 420 --out throughput.jsonl
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scaling_core.models.attention_asr import AttentionASR, AttentionASRConfig  # noqa: E402
from scaling_core.models.lstm_lm import LSTMConfig, LSTMLanguageModel  # noqa: E402
from scaling_core.models.resnet import ResNet, ResNetConfig  # noqa: E402
from scaling_core.models.rhn import RHNConfig, RHNLanguageModel  # noqa: E402
from scaling_core.models.seq2seq import Seq2Seq, Seq2SeqConfig  # noqa: E402
from scaling_core.step_counts import (  # noqa: E402
    classification_loss, next_token_loss, speech_loss, translation_loss,
)
from scaling_core.sweep.stacked import ModelStack, StackedOptimizer, clip_member_grads  # noqa: E402
from scaling_core.tasks.speech import build_ds2  # noqa: E402
from scaling_core.models.mnist1d_nets import MLP, ConvNet  # noqa: E402


@dataclass
class Recipe:
    """One family at one size: how to build it, a batch of the paper profile's shape and its loss."""

    family: str
    size: float
    build: Callable[[], torch.nn.Module]
    batch: Callable[[torch.Generator, tuple], tuple]  # (generator, leading shape) -> tensors
    loss: Callable[..., torch.Tensor]  # loss(model, *batch)
    units: float  # data units one member's step consumes
    unit: str
    clip: float | None = None


SHAPES = {
    # tiny shapes: a CPU check in seconds
    "quick": dict(mnist_batch=8, res_batch=8, cifar_batch=4, cifar_side=16,
                  word=dict(vocab=500, batch=4, steps=10), char=dict(vocab=98, batch=4, steps=12),
                  s2s=dict(vocab=300, batch=4, src_len=8, tgt_len=9),
                  audio=dict(batch=3, frames=40, features=41, chars=8), ds2_layers=2, conv=4,
                  sizes=dict(mlp=(16,), cnn=(4,), resnet1d=(0.125,), resnet2d=(0.125,), lstm2=(8,), lstm4=(),
                             rhn5=(8,), rhn10=(8,), seq2seq=(16,), ds2=(8,), attention=(8,))),
    # the laptop profile's batch shapes and widths (KJV words and characters, g2p, 8 kHz eSpeak on 40 mel bands)
    "laptop": dict(mnist_batch=48, res_batch=48, cifar_batch=48, cifar_side=32,
                   word=dict(vocab=2000, batch=20, steps=80), char=dict(vocab=98, batch=32, steps=150),
                   s2s=dict(vocab=60, batch=64, src_len=28, tgt_len=26),
                   audio=dict(batch=16, frames=142, features=40, chars=21), n_mels=40, ds2_layers=1, conv=8,
                   sizes=dict(mlp=(16, 128), cnn=(8, 32), resnet1d=(0.0625, 0.25), resnet2d=(0.0625,), lstm2=(16, 64),
                              lstm4=(32,), rhn5=(16, 64), rhn10=(16, 64), seq2seq=(32, 128), ds2=(32, 128),
                              attention=(48,))),
    # the paper profile's batch shapes (KJV words, characters, Multi30k, 16 kHz eSpeak)
    "paper": dict(mnist_batch=64, res_batch=128, cifar_batch=256, cifar_side=32,
                  word=dict(vocab=5000, batch=32, steps=80), char=dict(vocab=98, batch=128, steps=150),
                  s2s=dict(vocab=8000, batch=128, src_len=20, tgt_len=22),
                  audio=dict(batch=32, frames=160, features=161, chars=28), ds2_layers=4, conv=32,
                  sizes=dict(mlp=(64, 512), cnn=(16, 64), resnet1d=(0.125, 0.5), resnet2d=(0.125, 0.5),
                             lstm2=(64, 256), lstm4=(256,), rhn5=(64, 256), rhn10=(128, 512), seq2seq=(64, 256),
                             ds2=(64, 256), attention=(64, 256))),
}
"""Batch shapes and model sizes of each shape set (``--shapes``)."""


def recipes(shapes: str = "paper") -> list[Recipe]:
    """The families at the batch shapes and sizes of ``SHAPES[shapes]``."""
    z = SHAPES[shapes]
    sizes = z["sizes"]

    def lengths(low, high, batch):
        return lambda g, lead: torch.randint(low, high + 1, (*lead, batch), generator=g)

    def classify(shape, batch):
        return lambda g, lead: (torch.randn(*lead, batch, *shape, generator=g),
                                torch.randint(0, 10, (*lead, batch), generator=g))

    def tokens(vocab, batch, steps):
        return lambda g, lead: (torch.randint(0, vocab, (*lead, batch, steps), generator=g),
                                torch.randint(0, vocab, (*lead, batch, steps), generator=g))

    def translation(vocab, batch, src_len, tgt_len):
        def make(g, lead):
            src_lens = lengths(src_len // 2, src_len, batch)(g, lead)
            src = torch.randint(4, vocab, (*lead, batch, src_len), generator=g)
            src = src.masked_fill(torch.arange(src_len) >= src_lens[..., None], 0)
            return (src, src_lens, torch.randint(4, vocab, (*lead, batch, tgt_len), generator=g),
                    torch.randint(4, vocab, (*lead, batch, tgt_len), generator=g))
        return make

    def speech(batch, frames, features, chars):
        def make(g, lead):
            return (torch.randn(*lead, batch, frames, features, generator=g),
                    lengths(frames * 3 // 4, frames, batch)(g, lead),
                    torch.randint(1, 29, (*lead, batch, chars), generator=g),
                    lengths(chars // 2, chars, batch)(g, lead))
        return make

    word, char, s2s, audio = z["word"], z["char"], z["s2s"], z["audio"]
    mnist, res, cifar = z["mnist_batch"], z["res_batch"], z["cifar_batch"]
    side, n_feat, layers, conv = z["cifar_side"], audio["features"], z["ds2_layers"], z["conv"]
    out = []
    for w in sizes["mlp"]:
        out.append(Recipe("mlp", w, lambda w=w: MLP(w), classify((40,), mnist), classification_loss, mnist, "samples"))
    for c in sizes["cnn"]:
        out.append(Recipe("cnn", c, lambda c=c: ConvNet(c), classify((40,), mnist), classification_loss, mnist, "samples"))
    for f in sizes["resnet1d"]:
        out.append(Recipe("resnet1d-d3", f, lambda f=f: ResNet(ResNetConfig(dim=1, in_channels=1, blocks_per_stage=3,
                                                                           width_factor=f, norm="group")),
                          classify((1, 40), res), classification_loss, res, "samples"))
    for f in sizes["resnet2d"]:
        out.append(Recipe("resnet2d-d3", f, lambda f=f: ResNet(ResNetConfig(dim=2, in_channels=3, blocks_per_stage=3,
                                                                           width_factor=f, norm="group")),
                          classify((3, side, side), cifar), classification_loss, cifar, "images"))
    for family, depth in (("lstm2", 2), ("lstm4", 4)):
        for w in sizes[family]:
            out.append(Recipe(family, w, lambda w=w, n=depth: LSTMLanguageModel(LSTMConfig(word["vocab"], w, n)),
                              tokens(word["vocab"], word["batch"], word["steps"]), next_token_loss,
                              word["batch"] * word["steps"], "words"))
    for w in sizes["rhn5"]:
        out.append(Recipe("rhn5", w, lambda w=w: RHNLanguageModel(RHNConfig(word["vocab"], w, 5)),
                          tokens(word["vocab"], word["batch"], word["steps"]), next_token_loss,
                          word["batch"] * word["steps"], "words"))
    for w in sizes["rhn10"]:
        out.append(Recipe("rhn10", w, lambda w=w: RHNLanguageModel(RHNConfig(char["vocab"], w, 10)),
                          tokens(char["vocab"], char["batch"], char["steps"]), next_token_loss,
                          char["batch"] * char["steps"], "characters", clip=1.0))
    for w in sizes["seq2seq"]:
        out.append(Recipe("seq2seq", w, lambda w=w: Seq2Seq(Seq2SeqConfig(s2s["vocab"], s2s["vocab"], w, dropout=0.0)),
                          translation(s2s["vocab"], s2s["batch"], s2s["src_len"], s2s["tgt_len"]), translation_loss,
                          s2s["batch"] * s2s["tgt_len"], "tokens", clip=5.0))
    seconds = audio["batch"] * audio["frames"] * 0.01
    for h in sizes["ds2"]:
        out.append(Recipe("ds2", h, lambda h=h: build_ds2(n_feat, h, layers, conv, z.get("n_mels")),
                          speech(**audio), speech_loss, seconds, "seconds", clip=5.0))
    for h in sizes["attention"]:
        out.append(Recipe("attention", h, lambda h=h: AttentionASR(AttentionASRConfig(n_features=n_feat, hidden=h)),
                          speech(**audio), speech_loss, seconds, "seconds", clip=5.0))
    return out


# ----------------------------------------------------------------------------- timing
def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _autocast(device: str, enabled: bool, cache: bool = True):
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=enabled and device.startswith("cuda"),
                          cache_enabled=cache)


def _time(step: Callable[[], object], device: str, min_seconds: float, max_steps: int) -> tuple[float, int]:
    """Seconds per call of ``step`` (after two warm-up calls) and how many calls were timed."""
    for _ in range(2):
        step()
    _sync(device)
    start = time.perf_counter()
    step()
    _sync(device)
    once = time.perf_counter() - start
    n = max(2, min(max_steps, math.ceil(min_seconds / max(once, 1e-6))))
    start = time.perf_counter()
    for _ in range(n):
        step()
    _sync(device)
    return (time.perf_counter() - start) / n, n


def _models(recipe: Recipe, k: int, device: str) -> list[torch.nn.Module]:
    models = []
    for seed in range(k):
        torch.manual_seed(seed)
        models.append(recipe.build().to(device))
    return models


def _batch(recipe: Recipe, lead: tuple, device: str) -> tuple:
    generator = torch.Generator().manual_seed(0)
    return tuple(t.to(device) for t in recipe.batch(generator, lead))


def _one_step(recipe, device, amp, sync, fused):
    model = _models(recipe, 1, device)[0]
    options = {"fused": True} if fused else {}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=fused, **options)
    batch = _batch(recipe, (), device)

    def step():
        model.train()
        with _autocast(device, amp, cache=not fused):
            loss = recipe.loss(model, *batch)
        optimizer.zero_grad(set_to_none=not fused)
        loss.backward()
        if recipe.clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.clip)
        optimizer.step()
        return float(loss.detach()) if sync else loss.detach()
    return step


def _stack_step(recipe, device, amp, k, graph):
    stack = ModelStack(_models(recipe, k, device))
    optimizer = StackedOptimizer("adam", stack.parameters(), [1e-3] * k)
    batch = _batch(recipe, (k,), device)

    def step():
        with _autocast(device, amp, cache=not graph):
            losses = stack.map(recipe.loss, *batch)
        optimizer.zero_grad()
        losses.sum().backward()
        if recipe.clip is not None:
            clip_member_grads(stack.parameters(), recipe.clip)
        optimizer.step()
        return losses.detach()
    return step


def _captured(step: Callable[[], object], device: str, zero_grad: Callable[[], None]) -> Callable[[], None]:
    """``step`` captured in a CUDA graph after three warm-up calls on a side stream; returns the replay."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(stream)
    zero_grad()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def measure(recipe: Recipe, mode: str, k: int, device: str, args) -> dict:
    """One row: time one step of ``recipe`` in ``mode`` with ``k`` members."""
    amp = not args.no_amp
    row = {"family": recipe.family, "size": recipe.size, "mode": mode, "K": k, "device": device, "amp": amp}
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    try:
        if mode in ("one", "one-async"):
            step = _one_step(recipe, device, amp, sync=mode == "one", fused=mode == "one-async" and
                             device.startswith("cuda"))
        elif mode == "one-graph":
            step = _one_step(recipe, device, amp, sync=False, fused=True)
            step = _captured(step, device, lambda: None)
        else:
            step = _stack_step(recipe, device, amp, k, graph=mode == "stack-graph")
            if mode == "stack-graph":
                step = _captured(step, device, lambda: None)
        seconds, n = _time(step, device, args.min_seconds, args.max_steps)
        row.update(status="ok", ms_per_step=1000 * seconds, timed_steps=n,
                   member_steps_per_s=k / seconds, units_per_s=k * recipe.units / seconds, unit=recipe.unit)
    except torch.cuda.OutOfMemoryError:
        row.update(status="oom")
    except Exception as error:  # noqa: BLE001 - a failed mode is a result of the benchmark
        row.update(status="error", error=f"{type(error).__name__}: {str(error).splitlines()[0][:160]}")
        if amp and device.startswith("cuda") and mode.startswith("stack"):  # is bf16 autocast the cause?
            gc.collect()
            retry = measure(recipe, mode, k, device, argparse.Namespace(**{**vars(args), "no_amp": True}))
            if retry["status"] == "ok":
                return {**retry, "amp": False, "amp_error": row["error"]}
    if device.startswith("cuda"):
        row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return row


def plan(device: str, quick: bool) -> list[tuple[str, int]]:
    """(mode, K) in the order they are measured: the most informative first, so a budget cuts the least."""
    if quick:
        return [("one", 1), ("one-async", 1), ("stack", 1), ("stack", 4)]
    if not device.startswith("cuda"):  # a CPU: stacks of 16 and 64 would take minutes each
        return [("one", 1), ("stack", 4)]
    passes = [("one", 1), ("stack", 16), ("stack", 64), ("one-async", 1), ("stack", 1), ("stack", 4)]
    if device.startswith("cuda"):
        passes[4:4] = [("stack-graph", 16), ("one-graph", 1)]
        passes.append(("stack-graph", 64))
    return passes


def _cell(row: dict, key: str, spec: str) -> str:
    return format(row[key], spec) if row.get("status") == "ok" and key in row else "-"


def table(rows: list[dict]) -> str:
    """The rows as an aligned text table, with each row's speed-up over ``one`` of its family and size."""
    base = {(r["family"], r["size"]): r["member_steps_per_s"] for r in rows if r["mode"] == "one" and r["status"] == "ok"}
    order = {m: i for i, m in enumerate(("one", "one-async", "one-graph", "stack", "stack-graph"))}
    lines = [f"{'family':<12}{'size':>7} {'mode':<12}{'K':>3}{'ms/step':>10}{'steps/s':>10}{'units/s':>11} "
             f"{'unit':<11}{'x one':>7}{'GiB':>7}  status"]
    for r in sorted(rows, key=lambda r: (r["family"], r["size"], order[r["mode"]], r["K"])):
        one = base.get((r["family"], r["size"]))
        speed = f"{r['member_steps_per_s'] / one:.2f}" if r["status"] == "ok" and one else "-"
        memory = f"{r['peak_gib']:.2f}" if "peak_gib" in r else "-"
        status = r["status"] + (" " + r["error"] if "error" in r else "")
        lines.append(f"{r['family']:<12}{r['size']:>7g} {r['mode']:<12}{r['K']:>3}{_cell(r, 'ms_per_step', '.2f'):>10}"
                     f"{_cell(r, 'member_steps_per_s', '.1f'):>10}{_cell(r, 'units_per_s', '.3g'):>11} "
                     f"{r.get('unit', ''):<11}{speed:>7}{memory:>7}  {status}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="tiny shapes and K <= 4 (a CPU check)")
    parser.add_argument("--shapes", choices=sorted(SHAPES), default=None,
                        help="batch shapes and sizes (default: quick with --quick, else paper)")
    parser.add_argument("--budget", type=float, default=600.0, help="stop starting new rows after this many seconds")
    parser.add_argument("--min-seconds", type=float, default=0.3, help="time each row over at least this long")
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--families", default="", help="comma-separated families (default: all)")
    parser.add_argument("--no-amp", action="store_true", help="float32 on CUDA (no bf16 autocast)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (sweeps' workers use 1)")
    parser.add_argument("--out", default="", help="also write every row as JSON lines here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    wanted = set(filter(None, args.families.split(",")))
    shapes = args.shapes or ("quick" if args.quick else "paper")
    chosen = [r for r in recipes(shapes) if not wanted or r.family in wanted]
    header = {"torch": torch.__version__, "python": platform.python_version(), "device": args.device, "shapes": shapes,
              "name": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor(),
              "threads": torch.get_num_threads()}
    print(json.dumps(header), flush=True)
    out = open(args.out, "w") if args.out else None
    rows = []
    for mode, k in plan(args.device, shapes == "quick"):
        for recipe in chosen:
            if time.perf_counter() - started > args.budget:
                break
            row = measure(recipe, mode, k, args.device, args)
            row["elapsed_s"] = round(time.perf_counter() - started, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if out:
                out.write(json.dumps({**header, **row}) + "\n")
                out.flush()
    print(table(rows))
    print(f"total {time.perf_counter() - started:.0f} s, {len(rows)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
