"""Image classification as a sweep task: ResNets on MNIST-1D, CIFAR-10 or an image folder.

Training examples are images and each counts one unit (``unit = "images"``).
The task keeps its training pool in a class-balanced order
(:func:`class_balanced_order`), so the sweep engine's shards, which are prefixes
of that order, hold equally many images of every class and are nested. Model
families are ``"resnet-d<n>"`` (``n`` blocks per stage) and a family's size is the
ResNet width factor. Training minimises cross-entropy (the chapter's searches train
with Nesterov momentum and no weight decay); 2-D images are flipped and
brightness/contrast-jittered on the device. On CUDA the model runs channels-last
under bf16 autocast. On CPU, 2-D models and batches stay in the plain (N, C, H, W)
layout: with torch 2.13's CPU wheel, channels-last training of narrow ResNets (width
factors 0.0625 and 0.25; 1.0 was fine) hung within a few steps or corrupted memory. A
machine with CUDA builds its models channels-last even for a CPU run. The chapter's
per-profile settings live in :mod:`scaling_core.experiments.image`.
"""

from __future__ import annotations

import hashlib
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from scaling_core.baselines import class_prior_metrics
from scaling_core.data.images import ImageSet, augment, load_cifar10, load_image_folder
from scaling_core.data.mnist1d_variants import variant_pool
from scaling_core.models.resnet import ResNet, ResNetConfig
from scaling_core.sweep.task import FamilyPattern
from scaling_core.validation import ParameterError, check_choice, default_data_dir

DATASETS = ("mnist1d", "cifar10", "folder")
METRICS = ("val_top1_error", "val_top5_error", "val_xent")
"""The validation metrics, in the order :attr:`ImageTask.metrics` gives them unless ``stop_on`` moves one first."""
EVAL_BATCH = 1000
STATS_SAMPLE = 10_000
"""Input standardisation uses the channel statistics of this many pool images."""
RESNET_FAMILIES = FamilyPattern(r"resnet-d[1-9]\d*", "'resnet-d<n>' with n >= 1 blocks per stage")
"""The families an image task builds: ResNets by blocks per stage, sized by a width factor."""


# ----------------------------------------------------------------------------- shards


def class_balanced_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A seeded order of example indices whose prefixes are nested, class-balanced shards.

    The order runs in rounds: round ``r`` holds the ``r``-th image (in a seeded random
    order) of every class that has one, the classes themselves in a random order. A
    prefix of ``k * num_classes`` examples therefore holds exactly ``k`` images per
    class whenever every class has at least ``k``.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(labels))
    by_class = np.argsort(labels[shuffled], kind="stable")
    counts = np.bincount(labels[shuffled])
    class_start = np.cumsum(counts) - counts
    rank = np.empty(len(labels), dtype=np.int64)  # position of each shuffled example within its class
    rank[by_class] = np.arange(len(labels)) - np.repeat(class_start, counts)
    return shuffled[np.lexsort((rng.random(len(labels)), rank))]


def images_per_class_steps(smallest: int, largest: int) -> list[int]:
    """Images per class from ``smallest`` to ``largest`` in 2x steps (``largest`` always included)."""
    if not 1 <= smallest <= largest:
        raise ParameterError("images_per_class", (smallest, largest), "1 <= smallest <= largest")
    steps = [smallest * 2**i for i in range(int(np.log2(largest / smallest)) + 1)]
    return steps if steps[-1] == largest else steps + [largest]


def shard_sizes_by_class(num_classes: int, smallest: int, largest: int) -> list[int]:
    """Shard sizes in images: ``num_classes`` times :func:`images_per_class_steps`."""
    return [num_classes * k for k in images_per_class_steps(smallest, largest)]


# ----------------------------------------------------------------------------- task


def _fingerprint(*parts: np.ndarray | str) -> str:
    """A short hash of arrays (shape and bytes) and strings."""
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        if isinstance(part, str):
            digest.update(part.encode())
        else:
            digest.update(str(part.shape).encode())
            digest.update(np.ascontiguousarray(part).data)
    return digest.hexdigest()


class ImageTask:
    """A :class:`~scaling_core.sweep.task.Task` for image (or 1-D sequence) classification.

    Parameters
    ----------
    name : str
        Task identifier.
    train, val : ImageSet
        Training pool (kept in :func:`class_balanced_order`) and the validation set V.
    seed : int
        Seed of the example order.
    augment_train : bool
        Flip and jitter 2-D training batches on the device.
    norm : str
        ``"batch"`` or ``"group"``, the ResNet's normalisation.
    stop_on : str
        The metric early stopping watches (first of :attr:`metrics`): one of :data:`METRICS`.
    """

    unit = "images"
    metrics = METRICS
    graph_safe = True  # the step reads nothing back to the host

    families = RESNET_FAMILIES

    def __init__(self, name: str, train: ImageSet, val: ImageSet, seed: int = 0,
                 augment_train: bool = True, norm: str = "batch", stop_on: str = METRICS[0]):
        check_choice("stop_on", stop_on, METRICS)
        self.metrics = (stop_on, *(m for m in METRICS if m != stop_on))
        order = class_balanced_order(train.labels, seed)
        self.name, self.norm = name, norm
        # trials stack only with GroupNorm: BatchNorm under vmap and bf16 autocast fails on CUDA
        self.stackable = norm == "group"
        self.train = ImageSet(train.images[order], train.labels[order], train.class_names)
        self.val, self.class_names = val, train.class_names
        self.dim = train.images.ndim - 2  # (N, L, C) signals: 1; (N, H, W, C) images: 2
        self.augment_train = augment_train and self.dim == 2
        pixels = self.train.images[:STATS_SAMPLE].reshape(-1, self.train.images.shape[-1]).astype(np.float32)
        self.mean, self.std = pixels.mean(axis=0), pixels.std(axis=0) + 1e-8  # per channel, (C,)
        self.fingerprint = _fingerprint(self.train.images, self.train.labels, val.images, val.labels,
                                        f"augment={self.augment_train} norm={norm}"
                                        + ("" if stop_on == METRICS[0] else f" stop_on={stop_on}"))
        self._device_data: dict[str, tuple[torch.Tensor, ...]] = {}

    @staticmethod
    def _depth(family: str) -> int:
        if not (family.startswith("resnet-d") and family[8:].isdigit() and int(family[8:]) >= 1):
            raise ParameterError("family", family, "'resnet-d<n>' with n >= 1 blocks per stage")
        return int(family[8:])

    def example_order(self, seed: int) -> np.ndarray:
        """The order whose prefixes are the shards: :func:`class_balanced_order` of the pool."""
        return class_balanced_order(self.train.labels, seed)

    def example_units(self) -> np.ndarray:
        """One unit (image) per training example."""
        return np.ones(len(self.train.labels), dtype=np.int64)

    def build_model(self, family: str, size: float) -> torch.nn.Module:
        """A ResNet with ``n`` blocks per stage (family ``resnet-d<n>``) at width factor ``size``."""
        config = ResNetConfig(dim=self.dim, in_channels=self.train.images.shape[-1],
                              num_classes=len(self.class_names), blocks_per_stage=self._depth(family),
                              width_factor=float(size), norm=self.norm)
        model = ResNet(config)
        return (model.to(memory_format=torch.channels_last)  # on CUDA only: see the module docstring
                if self.dim == 2 and torch.cuda.is_available() else model)

    def _on(self, device: str) -> tuple[torch.Tensor, ...]:
        """Train and V images and labels held on ``device`` (moved once)."""
        if device not in self._device_data:
            arrays = (self.train.images, self.train.labels, self.val.images, self.val.labels)
            self._device_data[device] = tuple(torch.from_numpy(a).to(device) for a in arrays)
        return self._device_data[device]

    def _inputs(self, images: torch.Tensor) -> torch.Tensor:
        """Standardised model inputs: (B, H, W, C) uint8 -> (B, C, H, W) float; (B, L, 1) -> (B, 1, L)."""
        mean = torch.as_tensor(self.mean, dtype=torch.float32, device=images.device)
        std = torch.as_tensor(self.std, dtype=torch.float32, device=images.device)
        x = (images.float() - mean) / std  # (B, *S, C)
        if self.dim == 1:
            return x.transpose(1, 2).contiguous()  # (B, C, L)
        layout = torch.channels_last if images.is_cuda else torch.contiguous_format
        return x.permute(0, 3, 1, 2).contiguous(memory_format=layout)  # (B, C, H, W)

    def train_batches(self, indices: np.ndarray, batch_size: int, generator: torch.Generator,
                      device: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One shuffled epoch over ``indices`` as ``(inputs, labels)`` batches on ``device``."""
        images, labels, _, _ = self._on(device)
        indices = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        order = indices[torch.randperm(len(indices), generator=generator, device=generator.device).cpu()]
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size].to(device)
            x = self._inputs(images[chosen])
            yield (augment(x, generator) if self.augment_train else x), labels[chosen]

    def train_loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy of ``model`` on ``batch``."""
        x, y = batch
        return F.cross_entropy(model(x).float(), y)

    def evaluate(self, model: torch.nn.Module, device: str) -> dict[str, float]:
        r"""Top-1 and top-5 error and mean cross-entropy (nats) on V.

        Top-k error is the fraction of V whose label is not among the model's ``k``
        highest logits.
        """
        _, _, images, labels = self._on(device)
        top_k = min(5, len(self.class_names))
        xent = top1 = top5 = 0.0
        for start in range(0, len(labels), EVAL_BATCH):
            x, y = self._inputs(images[start:start + EVAL_BATCH]), labels[start:start + EVAL_BATCH]
            logits = model(x).float()  # (B, num_classes), under the trainer's autocast
            xent += F.cross_entropy(logits, y, reduction="sum").item()
            hits = logits.topk(top_k, dim=1).indices == y[:, None]  # (B, top_k)
            top1 += hits[:, 0].sum().item()
            top5 += hits.any(dim=1).sum().item()
        n = len(labels)
        return {"val_top1_error": 1 - top1 / n, "val_top5_error": 1 - top5 / n, "val_xent": xent / n}

    def baselines(self, indices: np.ndarray) -> dict[str, dict[str, float]]:
        """The shard's ``"class prior"`` scored on V (:func:`~scaling_core.baselines.class_prior_metrics`).

        Its top-5 error ranks ``min(5, classes)`` classes, as :meth:`evaluate` does.
        """
        prior = class_prior_metrics(self.train.labels[np.asarray(indices)], self.val.labels,
                                    len(self.class_names), k=min(5, len(self.class_names)))
        return {"class prior": {"val_top1_error": prior["top1_error"], "val_top5_error": prior["topk_error"],
                                "val_xent": prior["cross_entropy"]}}


# ----------------------------------------------------------------------------- factory


def _balanced_subset(data: ImageSet, size: int | None, seed: int, name: str) -> ImageSet:
    """The first ``size`` examples of :func:`class_balanced_order` (all when ``size`` is None)."""
    if size is not None and not 1 <= size <= len(data.labels):
        raise ParameterError(name, size, f"an integer in [1, {len(data.labels)}] (or None: all)")
    keep = class_balanced_order(data.labels, seed)[:size]
    return ImageSet(data.images[keep], data.labels[keep], data.class_names)


def _load_splits(dataset: str, data_dir, pool_size, val_size, seed, image_size, variant="default"):
    """(train pool, V) for ``dataset``."""
    if dataset == "mnist1d":
        x_train, y_train, x_val, y_val = variant_pool(pool_size or 4000, val_size, seed, variant)
        digits = tuple(str(d) for d in range(10))
        return ImageSet(x_train[:, :, None], y_train, digits), ImageSet(x_val[:, :, None], y_val, digits)
    folder = default_data_dir(data_dir)
    if dataset == "cifar10":
        train, test = load_cifar10(folder, "train"), load_cifar10(folder, "test")
    else:
        if folder is None:
            raise ParameterError("data_dir", data_dir, "a folder with train/ and val/ (or test/) image folders")
        held_out = folder / "val" if (folder / "val").is_dir() else folder / "test"
        train = load_image_folder(folder / "train", image_size)
        test = load_image_folder(held_out, image_size)
    return (_balanced_subset(train, pool_size, seed, "pool_size"),
            _balanced_subset(test, val_size, seed + 1, "val_size"))


def make_image_task(dataset: str = "mnist1d", data_dir=None, seed: int = 0, pool_size: int | None = None,
                    val_size: int = 1000, norm: str = "batch",
                    augment_train: bool = True, image_size: int | None = None,
                    variant: str = "default", stop_on: str = "val_top1_error") -> ImageTask:
    """Build an :class:`ImageTask`.

    Parameters
    ----------
    dataset : {"mnist1d", "cifar10", "folder"}
        ``mnist1d`` is generated offline; ``cifar10`` reads ``data_dir`` or downloads;
        ``folder`` reads ``data_dir/train`` and ``data_dir/val`` (or ``test``).
    data_dir : path, optional
        Folder of real datasets (default ``$SCALING_CORE_DATA``).
    seed : int
        Seed of the MNIST-1D pool, the choice of V and the example order.
    pool_size : int, optional
        Training pool size (a class-balanced subset); all training images when None
        (4,000 generated for MNIST-1D).
    val_size : int
        Size of V, drawn class-balanced from the held-out split (generated with the pool for MNIST-1D).
    norm, augment_train, image_size
        See :class:`ImageTask` and :func:`~scaling_core.data.images.load_image_folder`.
    variant : str
        MNIST-1D's generator settings (:data:`scaling_core.data.mnist1d_variants.VARIANTS`);
        other datasets take only ``"default"``.
    stop_on : str
        The validation metric early stopping watches (see :class:`ImageTask`).
    """
    check_choice("dataset", dataset, DATASETS)
    if dataset != "mnist1d":
        check_choice("variant", variant, ("default",))
    train, val = _load_splits(dataset, data_dir, pool_size, val_size, seed, image_size, variant)
    return ImageTask(f"images-{dataset}", train, val, seed, augment_train, norm, stop_on)
