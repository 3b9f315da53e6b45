"""The generic trainer on a linear-regression task with known weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scaling_core.sweep.task import Task
from scaling_core.sweep.trial import Trial
from scaling_core.sweep.trainer import (
    OPTIMIZERS, TrainerSettings, make_optimizer, steps_per_epoch, train_trial,
)

TRUE_WEIGHTS = torch.tensor([2.0, -1.0, 0.5])
NOISE = 0.1


class Regression:
    """y = x . w + noise; the model is ``nn.Linear(3, 1, bias=False)``."""

    name, unit, fingerprint = "regression", "samples", "toy"
    metrics = ("val_loss",)
    families = {"linear": [1]}

    def __init__(self, n=512, seed=0):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n + 256, 3, generator=g)
        y = x @ TRUE_WEIGHTS + NOISE * torch.randn(n + 256, generator=g)
        self.x, self.y, self.x_val, self.y_val = x[:n], y[:n], x[n:], y[n:]

    def example_units(self):
        return np.ones(len(self.y))

    def build_model(self, family, size):
        return torch.nn.Linear(3, 1, bias=False)

    def train_batches(self, indices, batch_size, generator, device):
        shuffled = torch.as_tensor(indices)[torch.randperm(len(indices), generator=generator)]
        for start in range(0, len(shuffled), batch_size):
            batch = shuffled[start : start + batch_size]
            yield self.x[batch], self.y[batch]

    def train_loss(self, model, batch):
        x, y = batch
        return torch.mean((model(x).squeeze(1) - y) ** 2)

    def evaluate(self, model, device):
        return {"val_loss": float(torch.mean((model(self.x_val).squeeze(1) - self.y_val) ** 2))}


def _train(lr=0.05, settings=TrainerSettings(max_epochs=30, patience=3, min_eval_steps=1), seed=0,
           callbacks=(), config=None):
    task = Regression()
    torch.manual_seed(seed)
    model = task.build_model("linear", 1)
    trial = Trial("linear", 1, lr, 32, trial_seed=seed, settings=settings, **(config or {}))
    result = train_trial(task, model, np.arange(512), trial, "cpu", callbacks)
    return result, model


def test_regression_task_satisfies_the_protocol():
    assert isinstance(Regression(), Task)


def test_recovers_known_weights_and_noise_level():
    result, model = _train()
    assert result.status == "done"
    assert torch.allclose(model.weight.detach().squeeze(), TRUE_WEIGHTS, atol=0.03)
    assert result.metrics["val_loss"] == pytest.approx(NOISE**2, rel=0.35)
    assert result.train_loss == pytest.approx(NOISE**2, rel=0.5)


def test_best_metrics_are_the_best_evaluation():
    result, _ = _train()
    losses = [row["val_loss"] for row in result.history]
    best = int(np.argmin(losses))
    assert result.metrics["val_loss"] == losses[best]
    assert result.best_step == result.history[best]["step"]
    assert result.train_loss == result.history[best]["train_loss"]


def test_repeatable_for_a_seed_on_cpu():
    first, _ = _train(seed=4)
    again, _ = _train(seed=4)
    other, _ = _train(seed=5)
    assert first.history == again.history
    assert first.history != other.history


def test_early_stopping_after_patience_evaluations_without_improvement():
    settings = TrainerSettings(max_epochs=100, patience=2, min_eval_steps=1)
    result, _ = _train(lr=0.0, settings=settings)  # nothing learns: no evaluation improves
    assert len(result.history) == 1 + settings.patience
    assert result.epochs < settings.max_epochs


def test_stops_at_max_epochs_with_a_final_evaluation():
    settings = TrainerSettings(max_epochs=3, patience=100, min_eval_steps=1)
    result, _ = _train(settings=settings)
    assert result.epochs == 3 and result.steps == 3 * 16
    assert result.history[-1]["step"] == result.steps


def test_divergence_fails_the_trial_with_its_reason():
    result, _ = _train(lr=1e30)
    assert result.status == "failed"
    assert "non-finite training loss" in result.reason


def test_callbacks_see_every_evaluation():
    rows = []
    result, _ = _train(callbacks=(rows.append,))
    assert rows == result.history and len(rows) > 3


def test_eval_interval_is_an_epoch_but_at_least_min_eval_steps():
    settings = TrainerSettings(eval_every_epochs=1.0, min_eval_steps=20)
    assert settings.eval_interval(epoch_steps=2) == 20
    assert settings.eval_interval(epoch_steps=200) == 200
    assert math.isclose(TrainerSettings(eval_every_epochs=0.5, min_eval_steps=1).eval_interval(200), 100)


def test_steps_per_epoch_uses_the_tasks_own_count_when_it_has_one():
    task = Regression()
    indices = np.arange(100)
    assert steps_per_epoch(task, indices, 32) == 4
    task.steps_per_epoch = lambda idx, batch_size: len(idx) // (batch_size * 2)
    assert steps_per_epoch(task, indices, 10) == 5


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_fits_the_known_weights(name):
    lr = {"adam": 0.05, "sgd": 0.05, "nesterov": 0.02}[name]
    result, model = _train(lr=lr, config={"optimizer": name})
    assert result.status == "done"
    assert torch.allclose(model.weight.detach().squeeze(), TRUE_WEIGHTS, atol=0.05)


def test_optimizer_momentum_and_no_weight_decay():
    params = [torch.nn.Parameter(torch.zeros(2))]
    nesterov = make_optimizer("nesterov", params, 0.1).param_groups[0]
    assert nesterov["nesterov"] and nesterov["momentum"] == 0.9 and nesterov["weight_decay"] == 0
    assert make_optimizer("sgd", params, 0.1).param_groups[0]["momentum"] == 0
    with pytest.raises(ValueError, match="'optimizer'.*adam, sgd, nesterov"):
        make_optimizer("rmsprop", params, 0.1)


def test_settings_reject_bad_values():
    with pytest.raises(ValueError, match="patience"):
        TrainerSettings(patience=0)
