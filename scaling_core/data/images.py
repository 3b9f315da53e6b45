"""Image classification data: folders of image files, CIFAR-10, on-device augmentation.

Every loader returns an :class:`ImageSet`: ``images`` as a uint8 array
``(N, H, W, C)``, integer ``labels`` ``(N,)`` and the ``class_names`` the labels
index. (1-D signals such as MNIST-1D use the same container with float32
``(N, L, 1)`` images; see :mod:`scaling_core.data.mnist1d`.)

CIFAR-10 comes from one of two places. A data folder holding ``cifar10/`` (an
image-folder layout packed in tars ``train-part1.tar``, ``train-part2.tar``,
``test.tar``, or already unpacked as ``train/`` and ``test/``) is read directly;
otherwise the canonical python tarball from the University of Toronto is downloaded
once and checked against its SHA-256. Decoded arrays are cached as ``.npz``, keyed
by the SHA-256 of the files they were decoded from.

Files in a data folder that ships a ``SHA256SUMS`` are checked against it before
use (:mod:`scaling_core.data.integrity`); a damaged file, listed or not, stops the
load with a one-line :class:`~scaling_core.data.integrity.DataError` naming it.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, ImageOps

from scaling_core.data.integrity import (
    DEFAULT_TIMEOUT,
    check_tar,
    data_error,
    download,
    file_sha256,
    verify_file,
    verify_files,
)
from scaling_core.paths import cache_dir

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
"""SHA-256 of :data:`CIFAR10_URL` (170,498,071 bytes; the official md5 is c58f30108f718f92721af3b95e74349a)."""

CIFAR10_JPEG_TARS = {"train": ("train-part1.tar", "train-part2.tar"), "test": ("test.tar",)}


class ImageSet(NamedTuple):
    """Images, integer labels and the class names the labels index."""

    images: np.ndarray  # (N, H, W, C) uint8, or (N, L, 1) float32 for sequences
    labels: np.ndarray  # (N,) int64
    class_names: tuple[str, ...]


# ----------------------------------------------------------------------------- image folders


def decode_image(data: bytes | Path, image_size: int | None = None) -> np.ndarray:
    """Decode one image file to RGB uint8 ``(H, W, 3)``; center-crop and resize to a square if asked."""
    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
        image = image.convert("RGB")
        if image_size is not None:
            image = ImageOps.fit(image, (image_size, image_size))
        return np.asarray(image, dtype=np.uint8)


def _stack(decoded: list[np.ndarray], class_of: list[str], where: str) -> ImageSet:
    if not decoded:
        raise ValueError(f"no {'/'.join(IMAGE_SUFFIXES)} images found under {where}")
    shapes = {image.shape for image in decoded}
    if len(shapes) > 1:
        raise ValueError(f"images under {where} differ in size {sorted(shapes)[:3]}; pass image_size")
    class_names = tuple(sorted(set(class_of)))
    labels = np.searchsorted(class_names, class_of).astype(np.int64)
    return ImageSet(np.stack(decoded), labels, class_names)


def _decode_named(data: bytes | Path, image_size: int | None, where: Path, root, member: str | None = None):
    """:func:`decode_image`, with a failure named by file (and tar member) in one line."""
    try:
        return decode_image(data, image_size)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        inside = f"{member}: " if member else ""
        raise data_error(where, root, f"{inside}not a readable image ({error})") from error


def load_image_folder(root: str | Path, image_size: int | None = None) -> ImageSet:
    """Read an image-folder dataset ``root/<class>/*.jpg|jpeg|png`` (the ImageNet layout).

    Classes are the sub-folder names in sorted order; files are read in sorted order.

    Parameters
    ----------
    root : path
        Folder with one sub-folder per class.
    image_size : int, optional
        Side of the square every image is center-cropped and resized to. Needed
        when the images differ in size (ImageNet); CIFAR-style folders need none.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"image folder {root} does not exist")
    files = sorted(p for p in root.glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES)
    verify_files(files)
    decoded = [_decode_named(path, image_size, path, root) for path in files]
    return _stack(decoded, [path.parent.name for path in files], str(root))


def load_image_tars(
    tar_paths, split: str, image_size: int | None = None, root: str | Path | None = None
) -> ImageSet:
    """Read the members ``<split>/<class>/<file>`` of image-folder tars without unpacking them.

    Each tar is checked against its folder's ``SHA256SUMS`` (when one lists it) and
    for truncation; errors name the tar relative to ``root`` (the data folder).

    Raises
    ------
    DataError
        ``<tar>: checksum mismatch``, ``truncated tar``, ``corrupt tar`` or an
        unreadable member image.
    """
    decoded, class_of = [], []
    for tar_path in tar_paths:
        verify_file(tar_path)
        try:
            archive = tarfile.open(tar_path)
        except (tarfile.TarError, OSError, EOFError) as error:
            raise data_error(tar_path, root, f"not a tar file ({error})") from error
        with archive:
            for member in sorted(check_tar(archive, tar_path, root), key=lambda m: m.name):
                parts = Path(member.name).parts
                if member.isfile() and len(parts) == 3 and parts[0] == split \
                        and Path(parts[2]).suffix.lower() in IMAGE_SUFFIXES:
                    try:
                        blob = archive.extractfile(member).read()
                    except (tarfile.TarError, OSError, EOFError) as error:
                        raise data_error(tar_path, root, f"truncated tar: member {member.name} ({error})") from error
                    decoded.append(_decode_named(blob, image_size, Path(tar_path), root, member.name))
                    class_of.append(parts[1])
    return _stack(decoded, class_of, f"{split}/ in {[str(p) for p in tar_paths]}")


# ----------------------------------------------------------------------------- caching


def _npz_path(name: str) -> Path:
    return cache_dir("images") / f"{name}.npz"


def _save(name: str, data: ImageSet) -> None:
    """Write ``name.npz`` atomically (a private temporary name, then a rename)."""
    tmp = _npz_path(name).with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, images=data.images, labels=data.labels, class_names=np.array(data.class_names))
    tmp.replace(_npz_path(name))


def _load(name: str) -> ImageSet:
    with np.load(_npz_path(name)) as stored:
        return ImageSet(stored["images"], stored["labels"], tuple(stored["class_names"].tolist()))


def _cached(name: str, build) -> ImageSet:
    """Load ``name.npz`` from the cache, or ``build()`` it and save it there.

    A cache file that cannot be read is rebuilt (and replaced only once the rebuild
    succeeded).
    """
    if _npz_path(name).exists():
        try:
            return _load(name)
        except (OSError, ValueError, KeyError, EOFError):
            pass
    data = build()
    _save(name, data)
    return data


# ----------------------------------------------------------------------------- CIFAR-10


def _cifar10_jpeg_split(folder: Path, split: str, root: Path) -> ImageSet | None:
    """The ``split`` of a CIFAR-10 image folder (tars or unpacked), or None if absent.

    The tars are verified first; their decoded arrays are cached under the SHA-256 of
    their contents, so a changed (or restored) tar never meets a stale cache.
    """
    if (folder / split).is_dir():
        return load_image_folder(folder / split)
    tars = [folder / name for name in CIFAR10_JPEG_TARS[split]]
    if all(path.is_file() for path in tars):
        for path in tars:
            verify_file(path)
        content = hashlib.sha256("".join(file_sha256(p) for p in tars).encode()).hexdigest()[:20]
        return _cached(f"cifar10-jpeg-{split}-{content}", lambda: load_image_tars(tars, split, root=root))
    return None


def _unpickle_batch(archive: tarfile.TarFile, name: str) -> dict:
    member = archive.getmember(f"cifar-10-batches-py/{name}")
    return pickle.load(archive.extractfile(member), encoding="bytes")  # noqa: S301 (checksummed file)


def parse_cifar10_python(tarball: str | Path) -> dict[str, ImageSet]:
    """Parse the CIFAR-10 python tarball into ``{"train": ImageSet, "test": ImageSet}``.

    Each pickled batch holds ``data`` (N, 3072) uint8 in channel-major order, reshaped
    here to ``(N, 32, 32, 3)``, and ``labels``; ``batches.meta`` names the classes.
    """
    with tarfile.open(tarball) as archive:
        class_names = tuple(n.decode() for n in _unpickle_batch(archive, "batches.meta")[b"label_names"])
        splits = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
        result = {}
        for split, names in splits.items():
            batches = [_unpickle_batch(archive, name) for name in names]
            images = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32)
            labels = np.concatenate([b[b"labels"] for b in batches]).astype(np.int64)
            result[split] = ImageSet(images.transpose(0, 2, 3, 1).copy(), labels, class_names)
    return result


def load_cifar10(
    data_dir: str | Path | None = None,
    split: str = "train",
    *,
    url: str = CIFAR10_URL,
    sha256: str = CIFAR10_SHA256,
    timeout: float = DEFAULT_TIMEOUT,
) -> ImageSet:
    """CIFAR-10 ``split`` (``"train"``: 50,000 images, ``"test"``: 10,000), 32x32 RGB, 10 classes.

    Reads ``data_dir/cifar10`` (or ``data_dir`` itself) when it holds the JPEG
    image-folder copy; otherwise downloads ``url`` once, checks ``sha256`` and parses
    the pickled batches (``timeout``: seconds per network read). The decoded arrays
    are cached either way, keyed by content.

    Raises
    ------
    DataError
        A tar in ``data_dir`` fails its ``SHA256SUMS`` checksum or is truncated or
        corrupt, or the download's checksum differs from ``sha256``.
    DownloadError
        The download is unreachable or stalls for ``timeout`` seconds.
    """
    if split not in CIFAR10_JPEG_TARS:
        raise ValueError(f"parameter 'split' got {split!r}; allowed: 'train', 'test'")
    if data_dir is not None:
        for folder in (Path(data_dir) / "cifar10", Path(data_dir)):
            found = _cifar10_jpeg_split(folder, split, Path(data_dir))
            if found is not None:
                return found
    names = {name: f"cifar10-python-{sha256[:16]}-{name}" for name in CIFAR10_JPEG_TARS}
    if not _npz_path(names[split]).exists():
        tarball = download(url, sha256, name=f"cifar-10-python-{sha256[:16]}.tar.gz", timeout=timeout)
        for name, data in parse_cifar10_python(tarball).items():
            _save(names[name], data)
    return _load(names[split])


# ----------------------------------------------------------------------------- augmentation


def augment(
    batch: torch.Tensor,
    generator: torch.Generator,
    brightness: float = 0.2,
    contrast: float = 0.2,
) -> torch.Tensor:
    r"""Random horizontal flips and brightness/contrast jitter, batched on ``batch``'s device.

    For each image :math:`x` (values scaled to about unit range) with mean :math:`\bar x`,
    draws :math:`b \sim U(-\text{brightness}, \text{brightness})` and
    :math:`c \sim U(1 - \text{contrast}, 1 + \text{contrast})` and returns
    :math:`c (x - \bar x) + \bar x + b`, flipped left-right with probability 1/2.

    Parameters
    ----------
    batch : Tensor (B, C, H, W)
    generator : torch.Generator
        Source of the random draws (any device; draws are moved to the batch).
    """
    uniform = torch.rand((3, batch.shape[0], 1, 1, 1), generator=generator, device=generator.device)
    uniform = uniform.to(batch.device, batch.dtype)  # (3, B, 1, 1, 1): one draw per image and knob
    flip = uniform[0] < 0.5
    shift = (2 * uniform[1] - 1) * brightness
    scale = 1 + (2 * uniform[2] - 1) * contrast
    batch = torch.where(flip, batch.flip(-1), batch)
    mean = batch.mean(dim=(1, 2, 3), keepdim=True)
    return scale * (batch - mean) + mean + shift
