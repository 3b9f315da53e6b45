"""Costs of the speech task: corpus synthesis speed and one training step per model size.

Run: ``python benchmarks/speech_costs.py [--profile laptop] [--utterances 200] [--threads 1] [--n-mels N]``
(``--n-mels 0``: DS2's linear frequency bins instead of the profile's mel bands).
Prints the synthesis speed (seconds of audio per second and utterances per second)
and the mean wall time of a training step (forward, backward, Adam) and of an
evaluation of V for every family and size of the profile's grids (the searches it
leaves to the paper profile included).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from scaling_core.data.speech_synth import SynthSettings, synthetic_corpus
from scaling_core.experiments.speech import SCALES
from scaling_core.sweep.trainer import evaluate, make_optimizer
from scaling_core.tasks.speech import SpeechTask


def synthesis_speed(n: int, sample_rate: int) -> tuple[SpeechTask, float]:
    """Generate ``n`` + ``n // 4`` utterances in a fresh cache; report audio seconds per second."""
    os.environ["SCALING_CORE_CACHE"] = tempfile.mkdtemp(prefix="speech-bench-")
    start = time.perf_counter()
    train, val = synthetic_corpus(n, max(1, n // 4), seed=0, settings=SynthSettings(sample_rate=sample_rate))
    elapsed = time.perf_counter() - start
    audio = train.seconds.sum() + val.seconds.sum()
    print(f"synthesis: {len(train) + len(val)} utterances, {audio:.0f} s of audio in {elapsed:.1f} s "
          f"({audio / elapsed:.0f}x real time, {(len(train) + len(val)) / elapsed:.0f} utterances/s; "
          f"mean utterance {train.seconds.mean():.2f} s)")
    return train, val


def step_cost(task: SpeechTask, family: str, size: int, batch_size: int, steps: int = 5) -> float:
    """Mean seconds per training step on length-sorted batches of the task's shard."""
    torch.manual_seed(0)
    model = task.build_model(family, size)
    optimizer = make_optimizer("adam", model.parameters(), 1e-3)
    batches = task.train_batches(np.arange(len(task.example_units())), batch_size,
                                 torch.Generator().manual_seed(0), "cpu")
    times = []
    for _, batch in zip(range(steps), batches):
        start = time.perf_counter()
        optimizer.zero_grad()
        task.train_loss(model, batch).backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    evaluate(task, model, "cpu")
    evaluation = time.perf_counter() - start
    print(f"{family:9s} size {size:4d}: {model.num_params():9,d} parameters, "
          f"{np.mean(times[1:]):.3f} s/step (batch {batch_size}), eval of V {evaluation:.1f} s")
    return float(np.mean(times[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="laptop", choices=sorted(SCALES))
    parser.add_argument("--utterances", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-mels", type=int, default=None, help="mel bands (0: linear bins; default: the profile's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = SCALES[args.profile]
    train, val = synthesis_speed(args.utterances, settings["sample_rate"])
    task = SpeechTask("bench", train, val, settings["ds2_layers"], settings["conv_channels"],
                      n_mels=settings.get("n_mels") if args.n_mels is None else (args.n_mels or None))
    print(f"features: {task.n_features} per frame")
    for search in settings["searches"] + settings.get("paper_only", []):
        for size in search["grid"]:
            step_cost(task, search["family"], size, search["batch_sizes"][0])


if __name__ == "__main__":
    main()
