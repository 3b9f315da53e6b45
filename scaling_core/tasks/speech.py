"""Speech recognition as a sweep task: DS2-style CTC and attention models on spoken English.

Training examples are utterances and each counts its duration in seconds
(``unit = "seconds"``); :meth:`SpeechTask.shard_summary` also reports a shard's hours
and utterance count. Inputs are normalised log-spectrograms
(:func:`~scaling_core.data.speech_features.log_spectrogram`) on linear bins or
``n_mels`` mel bands, outputs the characters a-z, space and apostrophe. Families:

* ``"ds2"``: two 2-D convolutions, ``ds2_layers`` bidirectional LSTMs, CTC
  (:mod:`scaling_core.models.ds2`); size = LSTM width. On mel bands the convolutions
  use :data:`MEL_CONV_KERNELS`, DS2's kernels scaled to the shorter frequency axis.
* ``"attention"``: 3-layer pyramidal BiLSTM encoder and attention decoder
  (:mod:`scaling_core.models.attention_asr`); size = encoder and decoder width.

The sweep engine trains both with the optimizer of the model search (Adam by
default), no weight decay or noise. The search metric is the character error rate
of greedy decoding on V. The chapter's per-profile settings live in
:data:`scaling_core.experiments.speech.SCALES`.
"""

from __future__ import annotations

import hashlib
from typing import Iterator

import numpy as np
import torch

from scaling_core.data.speech import Utterances, load_fsdd, load_librispeech_folder
from scaling_core.data.speech_features import (
    N_CLASSES, decode, encode, error_rate, log_spectrogram, n_features)
from scaling_core.data.speech_synth import SynthSettings, synthetic_corpus
from scaling_core.models.attention_asr import AttentionASR, AttentionASRConfig
from scaling_core.models.ds2 import DS2, DS2Config
from scaling_core.validation import ParameterError, check_choice, default_data_dir

DATASETS = ("espeak", "fsdd", "librispeech")
FAMILIES = ("ds2", "attention")
METRICS = ("val_cer", "val_loss", "val_wer")
EVAL_BATCH = 64
MEL_CONV_KERNELS = ((11, 11), (11, 11))
"""DS2 convolution kernels (frequency, time) on mel bands: DS2's 41 and 21 frequency taps
span a quarter and an eighth of 161 linear bins; 11 taps span about a quarter of 40 bands."""

def _fingerprint(data: Utterances, val: Utterances, settings: str) -> str:
    digest = hashlib.blake2b(settings.encode(), digest_size=8)
    for part in (data, val):
        digest.update("\n".join(part.transcripts).encode())
        for audio in part.audio:
            digest.update(np.ascontiguousarray(audio).data)
    return digest.hexdigest()


def pad_batch(features: list[torch.Tensor], targets: list[np.ndarray]) -> tuple[torch.Tensor, ...]:
    """Zero-padded ``features (B, T, F)``, ``lengths (B,)``, ``targets (B, U)``, ``target_lengths (B,)``."""
    lengths = torch.tensor([len(f) for f in features])
    target_lengths = torch.tensor([len(t) for t in targets])
    x = torch.nn.utils.rnn.pad_sequence([f.float() for f in features], batch_first=True)
    y = torch.zeros(len(targets), int(target_lengths.max()), dtype=torch.long)
    for row, target in enumerate(targets):
        y[row, : len(target)] = torch.from_numpy(target)
    return x, lengths, y, target_lengths


def length_sorted_batches(lengths: np.ndarray, indices: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """``indices`` sorted by ``lengths`` (stable), cut into consecutive batches of ``batch_size``."""
    indices = np.asarray(indices)
    ordered = indices[np.argsort(lengths[indices], kind="stable")]
    return [ordered[i: i + batch_size] for i in range(0, len(ordered), batch_size)]


class SpeechTask:
    """A :class:`~scaling_core.sweep.task.Task` for character-level speech recognition.

    Parameters
    ----------
    name : str
        Task identifier.
    train, val : Utterances
        Training utterances (in the order shards take prefixes of) and V.
    ds2_layers : int
        Bidirectional LSTM layers of the DS2 family (4 in the paper).
    conv_channels : int
        Channels of the DS2 convolutions (32 in DS2).
    search_metric : {"val_cer", "val_loss"}
        What early stopping and the engine's search minimise (``metrics[0]``). CER stays
        at 1 while a CTC model still outputs only blanks, so stopping on it can end a
        trial before it learns; the validation loss falls all along.
    n_mels : int, optional
        Mel bands of the features; ``None``: the linear STFT bins, as in DS2.
    """

    unit = "seconds"

    families = FAMILIES

    def __init__(self, name: str, train: Utterances, val: Utterances,
                 ds2_layers: int = 4, conv_channels: int = 32, search_metric: str = "val_cer",
                 n_mels: int | None = None):
        check_choice("search_metric", search_metric, METRICS)
        self.metrics = (search_metric, *(m for m in METRICS if m != search_metric))
        if train.sample_rate != val.sample_rate:
            raise ValueError("train and val utterances differ in sample rate")
        self.name = name
        self.ds2_layers, self.conv_channels = ds2_layers, conv_channels
        self.sample_rate, self.n_mels = train.sample_rate, n_mels
        self.n_features = n_features(train.sample_rate, n_mels)
        self.train_seconds, self.val_transcripts = train.seconds, list(val.transcripts)
        self.fingerprint = _fingerprint(train, val, f"{self.sample_rate}" + (f" mel{n_mels}" if n_mels else ""))
        self.train_data = self._prepare(train)
        self.val_data = self._prepare(val)

    def _prepare(self, data: Utterances) -> tuple[list[torch.Tensor], list[np.ndarray], np.ndarray]:
        """Features (float16, ``(T, F)`` each), encoded transcripts and frame counts."""
        features = [log_spectrogram(a, data.sample_rate, self.n_mels).half() for a in data.audio]
        targets = [encode(t) for t in data.transcripts]
        if any(len(t) == 0 for t in targets):
            raise ValueError("every transcript needs at least one character")
        return features, targets, np.array([len(f) for f in features])

    def example_units(self) -> np.ndarray:
        """Seconds of audio per training utterance."""
        return self.train_seconds

    def shard_summary(self, indices: np.ndarray) -> dict[str, float]:
        """A shard's size: ``seconds``, ``hours`` and ``utterances``."""
        seconds = float(self.train_seconds[np.asarray(indices)].sum())
        return {"seconds": seconds, "hours": seconds / 3600, "utterances": int(len(indices))}

    def build_model(self, family: str, size: float) -> torch.nn.Module:
        """A DS2 (``"ds2"``) or attention (``"attention"``) model of width ``size``."""
        check_choice("family", family, FAMILIES)
        if family == "ds2":
            return build_ds2(self.n_features, int(size), self.ds2_layers, self.conv_channels, self.n_mels)
        return AttentionASR(AttentionASRConfig(n_features=self.n_features, n_classes=N_CLASSES,
                                               hidden=int(size)))

    def train_batches(self, indices: np.ndarray, batch_size: int, generator: torch.Generator,
                      device: str) -> Iterator[tuple[torch.Tensor, ...]]:
        """One epoch: utterances sorted by length into batches, the batches in shuffled order."""
        features, targets, lengths = self.train_data
        batches = length_sorted_batches(lengths, indices, batch_size)
        order = torch.randperm(len(batches), generator=generator, device=generator.device).cpu()
        for b in order.tolist():
            chosen = batches[b]
            batch = pad_batch([features[i] for i in chosen], [targets[i] for i in chosen])
            yield tuple(t.to(device) for t in batch)

    def train_loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """CTC loss (DS2) or output cross-entropy (attention), per character."""
        return model.loss(*batch)

    def evaluate(self, model: torch.nn.Module, device: str) -> dict[str, float]:
        r"""Character and word error rates of greedy decoding on V, and the mean loss.

        CER :math:`= \sum_u d(r_u, h_u) / \sum_u |r_u|` over characters, with :math:`d`
        the edit distance; WER the same over words.
        """
        features, targets, lengths = self.val_data
        hypotheses, loss_sum = [""] * len(targets), 0.0
        for chosen in length_sorted_batches(lengths, np.arange(len(targets)), EVAL_BATCH):
            batch = tuple(t.to(device) for t in pad_batch([features[i] for i in chosen],
                                                          [targets[i] for i in chosen]))
            loss_sum += float(model.loss(*batch)) * len(chosen)
            for i, labels in zip(chosen, model.decode(batch[0], batch[1])):
                hypotheses[i] = decode(labels)
        references = self.val_transcripts
        return {"val_cer": error_rate(references, hypotheses),
                "val_loss": loss_sum / len(references),
                "val_wer": error_rate([r.split() for r in references], [h.split() for h in hypotheses])}

    def baselines(self, indices: np.ndarray) -> dict[str, dict[str, float]]:
        """``"empty output"``: an empty transcript for every V utterance, scored like :meth:`evaluate`.

        Every reference character (word) is then a deletion, so CER and WER are 1 whatever
        the shard (``indices`` is unused). The loss of a model with no output is undefined: left out.
        """
        references, empty = self.val_transcripts, [""] * len(self.val_transcripts)
        return {"empty output": {"val_cer": error_rate(references, empty),
                                 "val_wer": error_rate([r.split() for r in references], [h.split() for h in empty])}}


def build_ds2(n_features: int, hidden: int, n_layers: int, conv_channels: int,
              n_mels: int | None = None) -> DS2:
    """A DS2 model of LSTM width ``hidden`` on ``n_features`` bins (mel bands take :data:`MEL_CONV_KERNELS`)."""
    kernels = {"conv_kernels": MEL_CONV_KERNELS} if n_mels else {}
    return DS2(DS2Config(n_features=n_features, n_classes=N_CLASSES, hidden=hidden, n_layers=n_layers,
                         conv_channels=conv_channels, **kernels))


def _load(dataset: str, data_dir, n_train: int, n_val: int, seed: int, sample_rate: int | None):
    """(train, val) utterances of ``dataset``."""
    if dataset == "espeak":
        return synthetic_corpus(n_train, n_val, seed, SynthSettings(sample_rate=sample_rate or 16000))
    if dataset == "fsdd":
        train, val = load_fsdd(data_dir, "train", sample_rate), load_fsdd(data_dir, "test", sample_rate)
    else:
        folder = default_data_dir(data_dir)
        parts = {p: sorted(folder.glob(f"{p}*")) if folder else [] for p in ("train", "dev")}
        if not (parts["train"] and parts["dev"]):
            raise ParameterError("data_dir", data_dir, "a LibriSpeech folder with train-*/ and dev-*/")
        train = load_librispeech_folder(parts["train"][0], sample_rate, n_train)
        val = load_librispeech_folder(parts["dev"][0], sample_rate, n_val)
    rng = np.random.default_rng(seed)
    keep_train = rng.permutation(len(train))[:n_train]
    return train.subset(keep_train), val.subset(np.arange(min(n_val, len(val))))


def make_speech_task(dataset: str = "espeak", data_dir=None, n_train: int = 2000, n_val: int = 200,
                     seed: int = 0, ds2_layers: int = 4,
                     conv_channels: int = 32, sample_rate: int | None = None,
                     search_metric: str = "val_cer", n_mels: int | None = None) -> SpeechTask:
    """Build a :class:`SpeechTask`.

    Parameters
    ----------
    dataset : {"espeak", "fsdd", "librispeech"}
        ``espeak``: the synthetic corpus (generated and cached); ``fsdd``: the Free
        Spoken Digit Dataset in ``data_dir/fsdd`` (official train/test split);
        ``librispeech``: ``data_dir`` holding LibriSpeech ``train-*/`` and ``dev-*/`` folders.
    data_dir : path, optional
        Folder of real datasets (default ``$SCALING_CORE_DATA``).
    n_train, n_val : int
        Training utterances (in a seeded random order for real data) and size of V.
    seed : int
        Seed of the corpus (eSpeak) or of the training order (real data).
    ds2_layers, conv_channels : int
        DS2 depth and convolution channels.
    sample_rate : int, optional
        Audio rate: default 16 kHz for eSpeak, the files' own rate for real data.
    search_metric : {"val_cer", "val_loss"}
        The metric early stopping minimises (see :class:`SpeechTask`).
    n_mels : int, optional
        Mel bands of the features; ``None``: linear STFT bins.
    """
    check_choice("dataset", dataset, DATASETS)
    train, val = _load(dataset, data_dir, n_train, n_val, seed, sample_rate)
    return SpeechTask(f"speech-{dataset}", train, val, ds2_layers, conv_channels,
                      search_metric, n_mels)
