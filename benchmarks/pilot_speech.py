"""Pilot runs that size the speech chapter's laptop profile.

Each variant is a full settings dict of :data:`scaling_core.experiments.speech.SCALES`
run through the chapter's own sweeps (the model search, then the fixed DS2 widths) into
a scratch store (``results/scratch/pilot-speech-<variant>.sqlite``, ignored by git), so a
pilot costs what the chapter would. It prints each family's winner per shard (how it
stopped, its epochs) and one summary row per variant: wall time, trials, each curve's
verdict (power-law span in decades, capped winners) and winners pinned at the grid's
largest width. Usage::

    python benchmarks/pilot_speech.py mel40 --search-only
"""

from __future__ import annotations

import dataclasses
import time

from pilots import converging_trainer, parser, print_summary, scratch_store, variant_of, verdict_cells

from scaling_core.experiments import curves, speech
from scaling_core.experiments.contract import configure
from scaling_core.sweep.shard_baselines import shard_baselines

LAPTOP = speech.SCALES["laptop"]


def variant(**changes) -> dict:
    return variant_of(LAPTOP, **changes)


MEL40_DATA = {"espeak": {"n_train": 4400, "n_val": 300, "shard_seconds": (45, 5760)}, "fsdd": LAPTOP["data"]["fsdd"]}
"""45 s to 96 min of eSpeak audio (FSDD as the profile has it)."""
CONVERGING = converging_trainer(3, 1000, 1_000_000)

# the attention model alone on the mel40 front end, 45 s to 24 min of audio, one worker
ATTENTION = variant(data={**MEL40_DATA, "espeak": {**MEL40_DATA["espeak"], "shard_seconds": (45, 1440)}},
                    n_mels=40, workers=1, searches=[speech.ATTENTION_LAPTOP], trainer=CONVERGING)

VARIANTS = {
    "current": variant(),
    # 40 mel bands (a 2.5x cheaper DS2 step), 45 s to 96 min of audio, caps out of reach
    "mel40": variant(data=MEL40_DATA, n_mels=40, trainer=CONVERGING,
                     searches=[speech._search("ds2", [32, 64], [0.0, 0.5], 3e-3, [16], max_size=256)]),
    "mel40-attention": ATTENTION,
    # the same on two workers, after the LSTMs stopped packing sequences (an attention step about 3x cheaper)
    "mel40-attention-dense": variant_of(ATTENTION, workers=2),
}


def main() -> None:
    command = parser(__doc__, VARIANTS)
    command.add_argument("--search-only", action="store_true", help="skip the fixed-width sweeps")
    args = command.parse_args()
    summary = []
    for name in args.variants:
        settings = VARIANTS[name]
        config = dataclasses.replace(configure("speech", "laptop", args.seed), settings=settings)
        specs = speech.sweep_specs(config)[:1 if args.search_only else None]
        store = scratch_store("speech", name)
        start = time.time()
        frames = [curves.run(spec, store, "cpu", settings["workers"], progress=True) for spec in specs]
        seconds = time.time() - start
        baselines = shard_baselines(specs[0], store)
        best, verdicts = speech.composite_curves(frames[0], config, baselines)
        columns = ["shard_units", "size", "lr", speech.METRIC, "val_loss", "stop_reason", "epochs",
                   "best_epoch", "wall_time", "in_fit"]
        print(f"\n## {name}: {sum(len(f) for f in frames)} trials in {seconds:.0f} s")
        for family, rows in best.items():
            print(f"\n{family}: {verdicts[family].kind}")
            print(rows[[c for c in columns if c in rows]].to_string(index=False))
            top = max(s["max_size"] for s in settings["searches"] if s["family"] == family)
            summary.append((f"{name} {family}", seconds, sum(len(f) for f in frames), verdicts[family],
                            int((rows["size"] >= top).sum()), len(rows)))
        for spec, frame in zip(specs[1:], frames[1:]):
            print(f"\n{spec.name}")
            print(frame.sort_values("shard_units")[[c for c in columns if c in frame]].to_string(index=False))
    print_summary(["variant", "wall s", "trials", "verdict", "decades", "capped winners", "pinned winners"],
                  [[name, f"{seconds:.0f}", n, *verdict_cells(v), f"{pinned}/{shards}"]
                   for name, seconds, n, v, pinned, shards in summary])


if __name__ == "__main__":
    main()
