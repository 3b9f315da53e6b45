"""The image chapter's names, metrics, profiles and the paper's values.

Kept apart from :mod:`scaling_core.experiments.image` (which re-exports every name) so that
the chapter's code reads without a page of settings first, and so that
:mod:`scaling_core.experiments.image_tables` shares them.
"""

from __future__ import annotations

import math

from scaling_core.experiments import curves
from scaling_core.formatting import counted, join_words
from scaling_core.models.resnet import PAPER_MAX_WIDTH, WIDTH_FACTOR_RANGE

CHAPTER = "image"
DATASETS = ("mnist1d", "cifar10")
"""The chapter's datasets; the first is the embedded default."""
TASK_FACTORY = "scaling_core.tasks.images:make_image_task"
NUM_CLASSES = 10
"""MNIST-1D and CIFAR-10 both have ten classes."""
METRICS = ("val_top1_error", "val_top5_error", "val_xent")
MIN_ERRORS = 5
"""An error below ``MIN_ERRORS / |V|`` (fewer than five mistakes on V) is below V's resolution."""
SMALL_DATA = curves.SMALL_DATA
UNRESOLVED = "below V's resolution"
METRIC_NAMES = {"val_top1_error": "top-1 error", "val_top5_error": "top-5 error", "val_xent": "cross-entropy"}
"""The metrics as the prose names them."""


WIDTH_GROWTH = (0.25, 0.5)
"""Growth exponents of the width factor. Parameters grow as the width squared, so these grow
the model as ``m^0.5`` (sublinear) and ``m^1`` (linear) in parameters."""


def _search(family: str, grid, lr_range, batch_sizes, samples: int, growth=WIDTH_GROWTH,
            max_width: float = PAPER_MAX_WIDTH, bracket: int = 0) -> dict:
    """One width search for a depth, with Nesterov momentum 0.9 and no weight decay (``bracket``:
    wider widths tried on a shard whose winner is the widest it tried, :class:`SearchSpec`)."""
    return dict(family=family, grid=list(grid), growth=list(growth), samples=samples, lr_range=list(lr_range),
                batch_sizes=list(batch_sizes), min_size=WIDTH_FACTOR_RANGE[0], max_size=max_width,
                integer_sizes=False, optimizer="nesterov", bracket=bracket)


def _scale(pool_size, val_size, images_per_class, families, lr_range, batch_sizes, samples, trainer,
           bootstrap, workers, variant="default", stop_on="val_top1_error", each_metric_best=False,
           **search_options) -> dict:
    """A profile's settings for one dataset.

    ``variant`` (MNIST-1D's generator settings) and ``stop_on`` (the metric early stopping
    watches) go to the task; ``each_metric_best`` is how the chapter reads the stored metrics
    (:func:`scaling_core.experiments.image.read_metrics`); ``search_options`` (``growth``,
    ``max_width``) go to every search.
    """
    return dict(pool_size=pool_size, val_size=val_size, images_per_class=images_per_class,
                families=families, trainer=trainer, bootstrap=bootstrap, region_bootstrap=bootstrap // 5,
                workers=workers, variant=variant, stop_on=stop_on, each_metric_best=each_metric_best,
                searches=[_search(f, grid, lr_range, batch_sizes, samples, **search_options)
                          for f, grid in families.items()])


EVALUATIONS_TO_BEST = 10
"""Median evaluations up to and including the best one over the 76 trials of the converged
MNIST-1D laptop store (every one stopped early; 14.5 evaluations in all, median), for the cost
model (:func:`scaling_core.cost.evaluations_to_best`; measured by
:func:`scaling_core.cost.measured_evaluations_to_best`)."""

CONVERGE = dict(max_epochs=100_000, max_steps=100_000, patience=5, min_eval_steps=20)
"""Trainer settings whose caps no converging trial reaches: every trial stops on V."""
HARD_MNIST1D = dict(variant="hard", each_metric_best=True, growth=(0.0, 0.25, 0.5))
"""The embedded image data and search: MNIST-1D's harder generator settings, every metric at its
own best evaluation (early stopping watches top-1 error), and a width that may also stay put from
one shard to the next (sized by ``benchmarks/pilot_image.py``; numbers in the chapter's
reproduction notes)."""


SCALES = {
    "smoke": {  # well under a minute on one CPU core
        "mnist1d": _scale(320, 500, (1, 32), {"resnet-d1": [0.0625, 0.125, 0.25]}, (0.01, 0.3), (32,), 1,
                          dict(max_epochs=15, max_steps=80, patience=2), bootstrap=100, workers=1, **HARD_MNIST1D),
        "cifar10": _scale(160, 500, (1, 16), {"resnet-d1": [0.0625, 0.125]}, (0.01, 0.2), (32,), 1,
                          dict(max_epochs=10, max_steps=60, patience=2), bootstrap=100, workers=1),
    },
    # minutes on two CPU cores; on MNIST-1D each depth's search brackets its winner (pilots `current`, `projected`)
    "laptop": {
        "mnist1d": _scale(20_480, 4000, (2, 2048),
                          {"resnet-d1": [0.0625, 0.125, 0.25, 0.5], "resnet-d2": [0.0625, 0.125, 0.25]},
                          (0.01, 0.3), (32, 64), 1, CONVERGE, bootstrap=1000, workers=2, max_width=3.0,
                          bracket=3, **HARD_MNIST1D),
        "cifar10": _scale(2560, 2000, (1, 256), {"resnet-d1": [0.0625, 0.125, 0.25]}, (0.01, 0.2), (32, 64), 1,
                          CONVERGE, bootstrap=1000, workers=2, each_metric_best=True, growth=(0.0, 0.25, 0.5)),
    },
    "paper": {  # one GPU, data held on the device; minutes of an H200 by `scaling-core cost image -p profile paper`
        "mnist1d": _scale(40_960, 10_000, (2, 4096),
                          {"resnet-d1": [0.0625, 0.125, 0.25, 0.5], "resnet-d2": [0.0625, 0.125, 0.25, 0.5],
                           "resnet-d3": [0.0625, 0.125, 0.25, 0.5]},
                          (0.01, 0.3), (64, 128), 2, CONVERGE, bootstrap=2000, workers=4, max_width=4.0,
                          **HARD_MNIST1D),
        "cifar10": _scale(None, 10_000, (1, 5000),
                          {"resnet-d1": [0.0625, 0.125, 0.25, 0.5], "resnet-d3": [0.0625, 0.125, 0.25, 0.5]},
                          (0.01, 0.3), (128, 256), 3, dict(max_epochs=100, max_steps=20_000, patience=8),
                          bootstrap=2000, workers=4),
    },
}
"""``SCALES[profile][dataset]``: training pool and V sizes, images per class of the smallest
and largest shard (2x steps between), the width grid of each depth, one Nesterov-SGD search
per depth (learning rates log-uniform in the range, no weight decay), the trainer's stopping
rules, bootstrap resamples (a fifth as many for the slower three-region fits) and local workers. ``pool_size=None`` takes all 50,000 CIFAR-10
training images."""

PAPER_BETA_G = {"val_top1_error": -0.309, "val_top5_error": -0.488, "val_xent": -0.35}
"""The paper's Table 1 exponents for ImageNet ResNets."""
PAPER_BETA_P = 0.573
"""The paper's model-size exponent for ImageNet ResNets."""

def best_guess(metric: str, num_classes: int = NUM_CLASSES) -> float:
    r"""The metric of a model that guesses from the class prior alone (balanced classes).

    Top-1 error :math:`1 - 1/K`, top-5 error :math:`1 - \min(5, K)/K`, cross-entropy
    :math:`\log K` nats, for :math:`K` classes.
    """
    guesses = {"val_top1_error": 1 - 1 / num_classes, "val_top5_error": 1 - min(5, num_classes) / num_classes,
               "val_xent": math.log(num_classes)}
    if metric not in guesses:
        raise ValueError(f"parameter 'metric' got {metric!r}; allowed: {', '.join(guesses)}")
    return guesses[metric]


TABLE1_ROWS = [
    dict(domain="Image classification", model="ResNet", sweep="image-{profile}-seed{seed}", family=None,
         metric=metric, unit="images", fit_from_units=None, paper_beta_g=PAPER_BETA_G[metric],
         paper_beta_p=PAPER_BETA_P if metric == "val_top1_error" else None, best_guess=best_guess(metric))
    for metric in METRICS
]
"""The chapter's Table 1 rows. ``fit_from_units`` is None because the power law starts where
``ThreeRegionFit(best_guess=row["best_guess"])`` puts the end of the small-data region
(see :func:`scaling_core.experiments.image.metric_curve`), not at a fixed size."""


def describe_data(scale: dict) -> str:
    """One sentence on how MNIST-1D is generated at a profile (its ``variant`` beside the published settings; plain text)."""
    from scaling_core.data.mnist1d_variants import VARIANTS, published_settings

    changed = VARIANTS[scale.get("variant", "default")]
    if not changed:
        return "The signals come from MNIST-1D's published generator settings."
    names = {"shear_scale": "shear", "scale_coeff": "scaling", "corr_noise_scale": "correlated noise",
             "iid_noise_scale": "independent noise"}
    published = published_settings()
    pairs = [f"{names.get(k, k)} {v:g} (published: {published[k]:g})" for k, v in changed.items()]
    return f"The signals are generated with harder settings than MNIST-1D's published ones: {join_words(pairs)}."


def describe_search(scale: dict) -> str:
    """Two sentences on the width growth and the stopping rule of a profile's searches (plain text, for glue)."""
    search = scale["searches"][0]
    growth = join_words([f"{g:g}" for g in search["growth"]], "or")
    params = join_words([f"{2 * g:g}" for g in search["growth"] if g > 0], "or")
    watched = METRIC_NAMES[scale.get("stop_on", METRICS[0])]
    stay = "stay put or " if 0 in search["growth"] else ""
    each = (" Every metric is then read at its own best evaluation on V (early stopping for each metric),"
            " so a model that grows overconfident after its best top-1 error keeps its best cross-entropy."
            if scale.get("each_metric_best") else " All three metrics are read at that best evaluation.")
    bracket = search.get("bracket", 0)
    brackets = (f" Where a shard's winner is the widest width its depth tried there, the next wider width "
                f"(continuing the spacing of the two widest) is tried on the same shard, and again while it wins, "
                f"up to {counted(bracket, 'time')} a shard: a winner inside the widths tried "
                f"has a narrower and a wider rival that fit V worse." if bracket else "")
    return (f"On each larger shard (twice the one before) the previous winner's width is grown by 2 to the "
            f"power g, with g = {growth}, so that its parameters {stay}grow as m to the power "
            f"{params}, up to a width factor of {search['max_size']:g}.{brackets} "
            f"Early stopping watches the {watched} of V.{each}")
