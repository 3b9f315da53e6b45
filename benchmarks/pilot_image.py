"""Pilot runs that size the image chapter's laptop profile.

Each variant is a full settings dict of :data:`scaling_core.experiments.image.SCALES` (MNIST-1D)
run through the chapter's own sweep, curves and verdicts into a scratch store
(``results/scratch/pilot-image-<variant>.sqlite``, ignored by git), so a pilot costs what the
chapter would. It prints each metric's winners (how they stopped) and one summary row per
variant: wall time, trials, each metric's verdict (power-law span in decades, capped winners),
the small-data boundary of top-1 error and the top-1 winners that are the largest model their
shard tried (the model-size verdict's *pinned*, :func:`~scaling_core.experiments.verdicts.pinned_winners`). Usage::

    python benchmarks/pilot_image.py hard
"""

from __future__ import annotations

import copy
import dataclasses
import time

from pilots import parser, print_summary, scratch_store, verdict_cells, with_searches

from scaling_core.experiments import curves, image, image_scales, verdicts
from scaling_core.experiments.contract import configure
from scaling_core.sweep.shard_baselines import shard_baselines

LAPTOP = image.SCALES["laptop"]["mnist1d"]
PROJECTED = with_searches(LAPTOP, bracket=0)
"""The laptop profile before 2026-12-02's retrain: the same searches without bracketing (a shard
whose winner is the widest width its depth tried there tries no wider one)."""
TO_1024 = {**copy.deepcopy(PROJECTED), "pool_size": 10_240, "images_per_class": (2, 1024)}


def variant(images_per_class=(1, 1024), families=None, trainer=image_scales.CONVERGE, samples=2,
            batch_sizes=(32, 64), lr_range=(0.01, 0.3), growth=image_scales.WIDTH_GROWTH,
            max_width=image_scales.PAPER_MAX_WIDTH, **changes) -> dict:
    families = families or {"resnet-d1": [0.0625, 0.125, 0.25, 0.5], "resnet-d2": [0.0625, 0.125, 0.25]}
    pool = 10 * images_per_class[1]
    settings = image_scales._scale(pool, 4000, images_per_class, families, lr_range, batch_sizes, samples,
                                   dict(trainer), bootstrap=1000, workers=2, growth=growth, max_width=max_width)
    settings.update(changes)
    return settings


VARIANTS = {
    # the laptop profile: "hard" to 2,048 per class, widths to 3, one draw, each depth's search bracketing its winner
    # (while a shard's winner is the widest width its depth tried there, the next wider one, continuing the spacing
    # of its two widest, is tried, up to three times a shard)
    "current": copy.deepcopy(LAPTOP),
    "projected": PROJECTED,  # the laptop profile before 2026-12-02's retrain (`current --seed 1` and `2` ran it then)
    # the previous laptop profile, to 1,024 per class: its top-1 power law spanned 1.2 decades (1.5 on other seeds)
    "to-1024": TO_1024,
    # harder generator settings (wider shears and scales, more noise), 2-2,048 signals per class; the width may
    # also stay put (growth 0), so a winner can lie inside the widths tried
    "hard": variant((2, 2048), variant="hard", growth=(0.0, 0.25, 0.5)),
    # the same, early stopping on cross-entropy (smoother than top-1 error), widths up to 3 (the first pilot's
    # winners reached 1.5 from 640 signals on), to 1,024 per class
    "hard-xent": variant((2, 1024), variant="hard", growth=(0.0, 0.25, 0.5), max_width=3.0, stop_on="val_xent"),
    # the previous laptop profile with wider growth steps (0, 0.375 or 0.75): 3 of its 5 top-1 winners were the widest
    # width their shard tried (g = 0.5), so the search is offered a wider candidate and may still stay put
    "grow-75": with_searches(TO_1024, growth=[0.0, 0.375, 0.75]),
}


def main() -> None:
    args = parser(__doc__, VARIANTS).parse_args()
    summary = []
    for name in args.variants:
        settings = VARIANTS[name]
        config = configure("image", "laptop", args.seed)
        config = dataclasses.replace(config, settings={**config.settings, "mnist1d": settings})
        spec = image.sweep_specs(config)[0]
        store = scratch_store("image", name)
        start = time.time()
        trials = image.read_metrics(curves.run(spec, store, workers=settings["workers"], history=True,
                                               progress=True), config)
        seconds = time.time() - start
        learning = image.learning_curves(trials, config, shard_baselines(spec, store))
        top1 = learning["val_top1_error"].best
        top1 = top1[top1["in_fit"]]  # the winners the model-size verdict judges
        pinned = int(verdicts.pinned_winners(top1, trials).sum())
        print(f"\n## {name}: {len(trials)} trials in {seconds:.0f} s")
        for metric, curve in learning.items():
            columns = ["shard_units", "family", "size", "lr", "batch_size", metric, "stop_reason", "best_epoch",
                       "wall_time", "region"]
            print(f"\n### {metric}: small-data region to {curve.small_data_end:.0f} images; {curve.verdict.text}")
            print(curve.best[[c for c in columns if c in curve.best]].to_string(index=False))
        summary.append((name, seconds, len(trials), learning, pinned, len(top1)))
    print_summary(["variant", "wall s", "trials", *[f"{image.METRIC_NAMES[m]} {h}" for m in image.METRICS
                                                    for h in ("verdict", "decades", "capped")],
                   "top-1 small-data end (images)", "top-1 winners the largest model their shard tried"],
                  [[name, f"{seconds:.0f}", n, *[c for m in image.METRICS for c in verdict_cells(learning[m].verdict)],
                    f"{learning['val_top1_error'].small_data_end:.0f}", f"{pinned}/{shards}"]
                   for name, seconds, n, learning, pinned, shards in summary])


if __name__ == "__main__":
    main()
