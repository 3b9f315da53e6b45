"""The image Task: class-balanced nested shards, batching, training, metrics and factory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from scaling_core.models.resnet import ResNetConfig, expected_num_params
from scaling_core.profiles import ParameterError
from scaling_core.sweep.task import Task, TaskSpec
from scaling_core.sweep.trainer import evaluate, make_optimizer
from scaling_core.tasks.images import (
    METRICS,
    class_balanced_order,
    images_per_class_steps,
    make_image_task,
    shard_sizes_by_class,
)


@pytest.fixture(scope="module")
def mnist1d_task():
    return make_image_task("mnist1d", seed=0, pool_size=400, val_size=200)


@pytest.mark.parametrize("seed", [0, 1])
def test_class_balanced_prefixes_hold_k_per_class(seed):
    labels = np.repeat(np.arange(4), [9, 5, 12, 7])
    order = class_balanced_order(labels, seed)
    assert sorted(order) == list(range(len(labels)))
    for k in range(1, 6):  # every class has at least 5
        np.testing.assert_array_equal(np.bincount(labels[order[: 4 * k]], minlength=4), [k] * 4)
    np.testing.assert_array_equal(order, class_balanced_order(labels, seed))


def test_class_balanced_order_depends_on_seed():
    labels = np.tile(np.arange(5), 20)
    assert not np.array_equal(class_balanced_order(labels, 0), class_balanced_order(labels, 1))


def test_images_per_class_steps_double_up_to_the_full_set():
    assert images_per_class_steps(1, 5000) == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 5000]
    assert images_per_class_steps(2, 16) == [2, 4, 8, 16]
    assert shard_sizes_by_class(10, 1, 4) == [10, 20, 40]
    with pytest.raises(ParameterError, match="images_per_class"):
        images_per_class_steps(0, 8)


def test_mnist1d_task_follows_the_protocol(mnist1d_task):
    task = mnist1d_task
    assert isinstance(task, Task)
    assert task.unit == "images" and task.metrics[0] == "val_top1_error"
    np.testing.assert_array_equal(task.example_units(), np.ones(400))
    assert np.bincount(task.train.labels[:50]).tolist() == [5] * 10  # the fixed order is class-balanced
    for seed in (0, 1):
        order = task.example_order(seed)
        assert sorted(order) == list(range(400))
        assert np.bincount(task.train.labels[order[:30]]).tolist() == [3] * 10
    model = task.build_model("resnet-d2", 0.25)
    assert model.num_params() == expected_num_params(
        ResNetConfig(dim=1, in_channels=1, blocks_per_stage=2, width_factor=0.25))


def test_train_batches_cover_the_shard_once(mnist1d_task):
    shard = np.arange(70)
    batches = list(mnist1d_task.train_batches(shard, 32, torch.Generator().manual_seed(0), "cpu"))
    assert [len(y) for _, y in batches] == [32, 32, 6]
    assert batches[0][0].shape == (32, 1, 40)
    labels = torch.cat([y for _, y in batches]).numpy()
    np.testing.assert_array_equal(np.sort(labels), np.sort(mnist1d_task.train.labels[shard]))


def train_a_few_epochs(task, model, indices, batch_size: int, epochs: int) -> None:
    """Nesterov SGD at 0.05 over ``indices`` for ``epochs`` passes, in a seeded order."""
    optimizer = make_optimizer("nesterov", model.parameters(), lr=0.05)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for batch in task.train_batches(indices, batch_size, generator, "cpu"):
            optimizer.zero_grad()
            task.train_loss(model, batch).backward()
            optimizer.step()


def test_training_improves_validation_metrics(mnist1d_task):
    task = mnist1d_task
    torch.manual_seed(0)
    model = task.build_model("resnet-d1", 0.25)
    before = evaluate(task, model, "cpu")
    train_a_few_epochs(task, model, np.arange(400), batch_size=32, epochs=8)
    after = evaluate(task, model, "cpu")
    assert set(task.metrics) <= set(after)
    assert after["val_xent"] < before["val_xent"] - 0.3
    assert after["val_top1_error"] < 0.7 < before["val_top1_error"]
    assert 0 <= after["val_top5_error"] <= after["val_top1_error"] <= 1


def test_bad_family_and_dataset_are_rejected(mnist1d_task, monkeypatch):
    monkeypatch.delenv("SCALING_CORE_DATA", raising=False)  # no folder from the environment either
    with pytest.raises(ParameterError, match="family"):
        mnist1d_task.build_model("vgg", 0.5)
    with pytest.raises(ParameterError, match="dataset"):
        make_image_task("imagenet")
    with pytest.raises(ParameterError, match="data_dir"):
        make_image_task("folder", data_dir=None)
    with pytest.raises(ParameterError, match="variant"):  # generator settings exist for MNIST-1D only
        make_image_task("cifar10", variant="hard")


def _image_folder(root, n_per_class, seed):
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_per_class), ("val", 2)):
        for name in ("ant", "bee", "cow"):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")


def test_folder_task_batches_are_augmented_images(tmp_path):
    _image_folder(tmp_path, 4, seed=0)
    task = make_image_task("folder", data_dir=tmp_path, val_size=6)
    assert task.class_names == ("ant", "bee", "cow") and len(task.val.labels) == 6
    x, y = next(task.train_batches(np.arange(12), 12, torch.Generator().manual_seed(0), "cpu"))
    assert x.shape == (12, 3, 8, 8) and x.is_contiguous()  # channels-last only on CUDA
    plain = task._inputs(task._on("cpu")[0][:12])
    assert not torch.allclose(torch.sort(x.flatten()).values, torch.sort(plain.flatten()).values)
    model = task.build_model("resnet-d1", 0.125)
    assert task.train_loss(model, (x, y)).item() > 0
    assert set(evaluate(task, model, "cpu")) >= set(task.metrics)


def test_task_spec_builds_the_task_once():
    spec = TaskSpec("scaling_core.tasks.images:make_image_task",
                    {"dataset": "mnist1d", "pool_size": 100, "val_size": 50})
    assert spec.build() is spec.build()
    assert spec.build().fingerprint != make_image_task("mnist1d", seed=1, pool_size=100, val_size=50).fingerprint


def test_fingerprint_tracks_data_and_training_choices(tmp_path):
    _image_folder(tmp_path / "a", 2, seed=0)
    _image_folder(tmp_path / "b", 2, seed=1)
    fingerprints = {
        make_image_task("folder", data_dir=tmp_path / name, val_size=6, augment_train=augment).fingerprint
        for name in ("a", "b") for augment in (True, False)
    }
    assert len(fingerprints) == 4
    same = make_image_task("folder", data_dir=tmp_path / "a", val_size=6).fingerprint
    assert same in fingerprints


def test_pool_and_val_sizes_are_validated(tmp_path):
    _image_folder(tmp_path, 2, seed=0)
    with pytest.raises(ParameterError, match="val_size"):
        make_image_task("folder", data_dir=tmp_path, val_size=7)
    with pytest.raises(ParameterError, match="pool_size"):
        make_image_task("folder", data_dir=tmp_path, val_size=6, pool_size=0)


@pytest.mark.parametrize("stop_on", ["val_top1_error", "val_xent"])
def test_early_stopping_keeps_the_evaluation_best_on_the_chosen_metric(stop_on):
    from scaling_core.sweep.trainer import TrainerSettings, train_trial
    from scaling_core.sweep.trial import Trial

    task = make_image_task("mnist1d", seed=0, pool_size=400, val_size=200, stop_on=stop_on)
    assert task.metrics[0] == stop_on and sorted(task.metrics) == sorted(METRICS)
    torch.manual_seed(0)
    trial = Trial(family="resnet-d1", size=0.25, lr=0.2, batch_size=32, optimizer="nesterov",
                  settings=TrainerSettings(max_epochs=40, patience=40, min_eval_steps=5))
    result = train_trial(task, task.build_model("resnet-d1", 0.25), np.arange(400), trial)
    history = [row[stop_on] for row in result.history]
    assert len(history) > 5 and result.metrics[stop_on] == min(history)
    at_best = result.history[[row["step"] for row in result.history].index(result.best_step)]
    assert all(result.metrics[metric] == at_best[metric] for metric in METRICS)  # all at the stopping metric's best
    with pytest.raises(ParameterError, match="stop_on"):
        make_image_task("mnist1d", pool_size=400, val_size=200, stop_on="val_loss")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA machines build channels-last models")
def test_a_narrow_2d_resnet_trains_on_cpu_in_the_plain_layout(tmp_path):
    """Channels-last training of a width-0.25 ResNet hung after one step on torch 2.13's CPU wheel."""
    _image_folder(tmp_path, 4, seed=0)
    task = make_image_task("folder", data_dir=tmp_path, val_size=6)
    model = task.build_model("resnet-d1", 0.25)
    assert all(p.is_contiguous() for p in model.parameters())
    train_a_few_epochs(task, model, np.arange(12), batch_size=4, epochs=10)
    assert np.isfinite(task.evaluate(model, "cpu")["val_xent"])
