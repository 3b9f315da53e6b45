"""Image loaders (folders, tars, the CIFAR-10 python tarball via a local URL) and augmentation."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from scaling_core.data.images import augment, load_cifar10, load_image_folder, load_image_tars
from scaling_core.download import sha256_of

CLASSES = ("cat", "dog", "emu")


def _random_images(n, size=(6, 5), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size[1], size[0], 3), dtype=np.uint8)


def _write_folder(root, images, suffix=".png"):
    """Write images i to root/<CLASSES[i % 3]>/<i>.png; return the labels in loader order."""
    for i, image in enumerate(images):
        folder = root / CLASSES[i % 3]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:03d}{suffix}")


def test_image_folder_reads_classes_and_pixels(tmp_path):
    images = _random_images(9)
    _write_folder(tmp_path, images)
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    data = load_image_folder(tmp_path)
    assert data.class_names == CLASSES
    assert data.images.shape == (9, 5, 6, 3) and data.images.dtype == np.uint8
    # sorted by class, then by file name: cat 0 3 6, dog 1 4 7, emu 2 5 8
    order = [0, 3, 6, 1, 4, 7, 2, 5, 8]
    np.testing.assert_array_equal(data.labels, [0, 0, 0, 1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(data.images, images[order])  # PNG is lossless


def test_image_folder_decodes_jpeg_close_to_source(tmp_path):
    smooth = np.tile(np.linspace(0, 255, 16, dtype=np.uint8)[None, :, None], (16, 1, 3))
    _write_folder(tmp_path, [smooth], suffix=".jpg")
    data = load_image_folder(tmp_path)
    assert np.abs(data.images[0].astype(int) - smooth).mean() < 4


def test_image_folder_of_mixed_sizes_needs_image_size(tmp_path):
    _write_folder(tmp_path, [_random_images(1, (8, 6))[0], _random_images(1, (5, 9))[0]])
    with pytest.raises(ValueError, match="image_size"):
        load_image_folder(tmp_path)
    assert load_image_folder(tmp_path, image_size=4).images.shape == (2, 4, 4, 3)


def test_missing_or_empty_folder_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_image_folder(tmp_path / "absent")
    with pytest.raises(ValueError, match="no .* images"):
        load_image_folder(tmp_path)


def test_tars_read_like_the_unpacked_folder(tmp_path):
    images = _random_images(12)
    _write_folder(tmp_path / "train", images)
    parts = [tmp_path / "part1.tar", tmp_path / "part2.tar"]
    for tar_path, classes in zip(parts, (CLASSES[:1], CLASSES[1:])):
        with tarfile.open(tar_path, "w") as archive:
            for name in classes:
                archive.add(tmp_path / "train" / name, arcname=f"train/{name}")
    from_tars = load_image_tars(parts, "train")
    from_folder = load_image_folder(tmp_path / "train")
    assert from_tars.class_names == from_folder.class_names
    np.testing.assert_array_equal(from_tars.labels, from_folder.labels)
    np.testing.assert_array_equal(from_tars.images, from_folder.images)


def _cifar_python_tarball(path, per_batch=2, seed=0):
    """A tarball in the layout of cifar-10-python.tar.gz with tiny batches; returns (train, test) arrays."""
    rng = np.random.default_rng(seed)
    splits = {f"data_batch_{i}": per_batch for i in range(1, 6)} | {"test_batch": per_batch + 1}
    made = {}
    with tarfile.open(path, "w:gz") as archive:
        def add(name, obj):
            blob = pickle.dumps(obj)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))

        add("batches.meta", {b"label_names": [f"class{k}".encode() for k in range(10)]})
        for name, n in splits.items():
            images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
            labels = rng.integers(0, 10, n).tolist()
            add(name, {b"data": images.transpose(0, 3, 1, 2).reshape(n, 3072), b"labels": labels})
            made[name] = (images, labels)
    train = [made[f"data_batch_{i}"] for i in range(1, 6)]
    return (np.concatenate([t[0] for t in train]), sum((t[1] for t in train), [])), made["test_batch"]


def test_cifar10_download_path_from_a_local_url(tmp_path):
    tarball = tmp_path / "cifar-10-python.tar.gz"
    (train_x, train_y), (test_x, test_y) = _cifar_python_tarball(tarball)
    url, sha256 = tarball.as_uri(), sha256_of(tarball)
    train = load_cifar10(None, "train", url=url, sha256=sha256)
    assert train.class_names == tuple(f"class{k}" for k in range(10))
    np.testing.assert_array_equal(train.images, train_x)  # channel-major rows -> (N, 32, 32, 3)
    np.testing.assert_array_equal(train.labels, train_y)
    tarball.unlink()  # both splits now come from the cache
    test = load_cifar10(None, "test", url=url, sha256=sha256)
    np.testing.assert_array_equal(test.images, test_x)
    np.testing.assert_array_equal(test.labels, test_y)


def test_cifar10_download_with_wrong_checksum_fails(tmp_path):
    tarball = tmp_path / "cifar-10-python.tar.gz"
    _cifar_python_tarball(tarball, seed=1)
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_cifar10(None, "train", url=tarball.as_uri(), sha256="0" * 64)


def test_cifar10_rejects_unknown_split():
    with pytest.raises(ValueError, match="'split'.*'train', 'test'"):
        load_cifar10(None, "validation")


def test_cifar10_jpeg_test_split_from_shared_tars(shared_data):
    test = load_cifar10(shared_data, "test")
    assert test.images.shape == (10_000, 32, 32, 3) and test.images.dtype == np.uint8
    assert test.class_names[:3] == ("airplane", "automobile", "bird") and len(test.class_names) == 10
    np.testing.assert_array_equal(np.bincount(test.labels), [1000] * 10)
    assert 100 < test.images.mean() < 140  # natural images, not blank or saturated


def test_augment_flips_and_jitters_reproducibly():
    batch = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32).reshape(2, 3, 2, 4).repeat(50, 1, 1, 1) / 50
    same = augment(batch, torch.Generator().manual_seed(0), brightness=0, contrast=0)
    is_flipped = [torch.allclose(out, x.flip(-1), atol=1e-6) for out, x in zip(same, batch)]
    is_kept = [torch.allclose(out, x, atol=1e-6) for out, x in zip(same, batch)]
    assert all(f or k for f, k in zip(is_flipped, is_kept)) and 20 < sum(is_flipped) < 80

    first = augment(batch, torch.Generator().manual_seed(3))
    torch.testing.assert_close(first, augment(batch, torch.Generator().manual_seed(3)))
    assert first.shape == batch.shape and not torch.equal(first, augment(batch, torch.Generator().manual_seed(4)))
    shift = (first.mean(dim=(1, 2, 3)) - batch.mean(dim=(1, 2, 3))).abs()  # contrast keeps the mean
    assert shift.max() <= 0.2 + 1e-5 and shift.std() > 0.01
