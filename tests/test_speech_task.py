"""The speech Task: units, batching, models, metrics, profiles and the factory's errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scaling_core.data.speech_features import encode
from scaling_core.profiles import ParameterError
from scaling_core.sweep.task import Task
from scaling_core.sweep.trainer import evaluate, make_optimizer
from scaling_core.tasks.speech import MEL_CONV_KERNELS, SpeechTask, length_sorted_batches, make_speech_task


@pytest.fixture(scope="module")
def task(tmp_path_factory) -> SpeechTask:
    """20 training and 6 validation eSpeak utterances at 8 kHz, in the session's isolated cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SCALING_CORE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        return make_speech_task("espeak", n_train=20, n_val=6, seed=1, sample_rate=8000, ds2_layers=1,
                                conv_channels=4)


class LookupDecoder(torch.nn.Module):
    """A stand-in model that decodes an utterance by its frame count (and has a constant loss)."""

    def __init__(self, by_frames: dict[int, str]):
        super().__init__()
        self.by_frames = by_frames
        self.weight = torch.nn.Parameter(torch.zeros(()))

    def loss(self, features, lengths, targets, target_lengths):
        return self.weight + 1.5

    def decode(self, features, lengths):
        return [encode(self.by_frames.get(int(n), "")).tolist() for n in lengths]


def test_task_follows_the_protocol(task):
    assert isinstance(task, Task) and task.unit == "seconds" and task.metrics[0] == "val_cer"
    assert task.name == "speech-espeak" and task.n_features == 81 and len(task.fingerprint) == 16


def test_example_units_are_seconds_of_audio(task):
    units = task.example_units()
    assert units.shape == (20,) and 0.2 < units.min() and units.max() < 6
    summary = task.shard_summary(np.arange(10))
    assert summary["utterances"] == 10 and summary["seconds"] == pytest.approx(units[:10].sum())
    assert summary["hours"] == pytest.approx(summary["seconds"] / 3600)


def test_length_sorted_batches_cover_the_shard_once():
    lengths = np.array([5, 1, 4, 2, 3, 9])
    batches = length_sorted_batches(lengths, np.array([0, 1, 2, 3, 4]), 2)
    assert [b.tolist() for b in batches] == [[1, 3], [4, 2], [0]]


def test_train_batches_are_padded_length_sorted_and_shuffled(task):
    indices = np.arange(3, 19)
    seen, orders = [], []
    for seed in (0, 1):
        generator = torch.Generator().manual_seed(seed)
        batches = list(task.train_batches(indices, 4, generator, "cpu"))
        orders.append([int(b[1].max()) for b in batches])
        if seed == 0:
            for features, lengths, targets, target_lengths in batches:
                assert features.shape == (4, int(lengths.max()), 81)
                assert targets.shape == (4, int(target_lengths.max()))
                assert int(lengths.max()) - int(lengths.min()) <= np.ptp(task.train_data[2]) / 2
                seen.extend(int(length) for length in lengths)
    assert sorted(seen) == sorted(task.train_data[2][indices].tolist())
    assert orders[0] != orders[1] and sorted(orders[0]) == sorted(orders[1])


@pytest.mark.parametrize("family", ["ds2", "attention"])
def test_models_train_and_evaluate(task, family):
    torch.manual_seed(0)
    model = task.build_model(family, 16)
    optimizer = make_optimizer("adam", model.parameters(), lr=3e-3)
    batch = next(task.train_batches(np.arange(20), 8, torch.Generator().manual_seed(0), "cpu"))
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        loss = task.train_loss(model, batch)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    metrics = evaluate(task, model, "cpu")
    assert set(metrics) >= set(task.metrics) and model.training
    assert metrics["val_cer"] > 0.3 and np.isfinite(metrics["val_loss"])


def test_mel_features_feed_a_ds2_with_the_mel_kernels(task, tmp_path, monkeypatch):
    monkeypatch.setenv("SCALING_CORE_CACHE", str(tmp_path))
    mel = make_speech_task("espeak", n_train=20, n_val=6, seed=1, sample_rate=8000, ds2_layers=1,
                           conv_channels=4, n_mels=40)
    assert mel.n_features == 40 and mel.train_data[0][0].shape[1] == 40
    assert mel.fingerprint != task.fingerprint  # a store never mixes the two front ends
    model = mel.build_model("ds2", 16)
    assert model.config.conv_kernels == MEL_CONV_KERNELS
    batch = next(mel.train_batches(np.arange(20), 8, torch.Generator().manual_seed(0), "cpu"))
    assert torch.isfinite(mel.train_loss(model, batch))


def test_evaluate_scores_perfect_empty_and_partial_transcripts(task):
    frames = task.val_data[2].tolist()
    assert len(set(frames)) == len(frames)  # frame counts identify V's utterances
    perfect = dict(zip(frames, task.val_transcripts))
    assert evaluate(task, LookupDecoder(perfect), "cpu") == {"val_cer": 0.0, "val_loss": 1.5, "val_wer": 0.0}
    assert evaluate(task, LookupDecoder({}), "cpu") == {"val_cer": 1.0, "val_loss": 1.5, "val_wer": 1.0}
    first_word_only = {n: t.split()[0] for n, t in perfect.items()}
    metrics = evaluate(task, LookupDecoder(first_word_only), "cpu")
    dropped = sum(len(t) - len(t.split()[0]) for t in task.val_transcripts)
    assert metrics["val_cer"] == pytest.approx(dropped / sum(len(t) for t in task.val_transcripts))
    words = [len(t.split()) for t in task.val_transcripts]
    assert metrics["val_wer"] == pytest.approx((sum(words) - len(words)) / sum(words))


def test_search_metric_comes_first(task):
    stopping_on_loss = SpeechTask("loss", *_utterances(), 1, 2, search_metric="val_loss")
    assert stopping_on_loss.metrics == ("val_loss", "val_cer", "val_wer")
    with pytest.raises(ParameterError, match="'search_metric'"):
        SpeechTask("bad", *_utterances(), 1, 2, search_metric="val_accuracy")


def _utterances():
    """Three training and two validation utterances of noise with short transcripts."""
    from scaling_core.data.speech import Utterances
    rng = np.random.default_rng(0)
    audio = [rng.normal(0, 0.1, 4000).astype(np.float32) for _ in range(3)]
    return Utterances(audio, ["a b", "c", "d e"], 8000), Utterances(audio[:2], ["a", "b"], 8000)


def test_bad_arguments_are_refused(task):
    with pytest.raises(ParameterError, match="'family'"):
        task.build_model("transformer", 16)
    with pytest.raises(ParameterError, match="'dataset'"):
        make_speech_task("timit")
    with pytest.raises(ParameterError, match="'data_dir'"):
        make_speech_task("librispeech", data_dir="/nonexistent")


def test_fsdd_task(shared_data):
    fsdd = make_speech_task("fsdd", data_dir=shared_data, n_train=30, n_val=10, ds2_layers=1, conv_channels=2)
    assert fsdd.n_features == 81 and len(fsdd.example_units()) == 30 and len(fsdd.val_transcripts) == 10
    assert set(fsdd.val_transcripts) <= {"zero", "one", "two", "three", "four", "five", "six", "seven",
                                         "eight", "nine"}
