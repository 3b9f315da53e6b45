"""Speech features, the output alphabet and the character error rate.

Features are log-power spectrograms on 20 ms windows every 10 ms, computed with
:func:`torch.stft` from power-normalised audio and normalised per utterance. The
output alphabet is the 26 English letters, space and apostrophe; index 0 is the
CTC blank (and the attention decoder's end-of-sentence token).
"""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import scipy.signal
import torch

BLANK = 0
"""Index of the CTC blank (never a character)."""
CHARACTERS = "abcdefghijklmnopqrstuvwxyz '"
"""The output characters; character ``CHARACTERS[i]`` has index ``i + 1``."""
N_CLASSES = len(CHARACTERS) + 1
"""Output classes: blank, 26 letters, space, apostrophe (29)."""
WINDOW_SECONDS = 0.020
"""Spectrogram window length (20 ms, as in the paper)."""
HOP_SECONDS = 0.010
"""Spectrogram hop (10 ms)."""

_INDEX = {c: i + 1 for i, c in enumerate(CHARACTERS)}
_OUTSIDE_ALPHABET = re.compile(r"[^a-z' ]+")


def normalize_transcript(text: str) -> str:
    """Lower-case ``text``, turn hyphens and other symbols into spaces, keep a-z, space, ``'``."""
    words = _OUTSIDE_ALPHABET.sub(" ", text.lower().replace("\u2019", "'")).split()
    words = (w.strip("'") for w in words)
    return " ".join(w for w in words if w)


def encode(text: str) -> np.ndarray:
    """Character indices (1..28) of a normalised transcript, shape ``(len(text),)``."""
    try:
        return np.array([_INDEX[c] for c in text], dtype=np.int64)
    except KeyError as err:
        raise ValueError(f"parameter 'text' has {err.args[0]!r} outside {CHARACTERS!r}") from None


def decode(indices) -> str:
    """The characters of a sequence of indices; blanks are dropped."""
    return "".join(CHARACTERS[i - 1] for i in indices if i != BLANK)


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling (:func:`scipy.signal.resample_poly`) from ``rate_in`` to ``rate_out`` Hz."""
    if rate_in == rate_out:
        return samples.astype(np.float32, copy=False)
    ratio = Fraction(rate_out, rate_in)
    out = scipy.signal.resample_poly(samples, ratio.numerator, ratio.denominator)
    return out.astype(np.float32)


def log_spectrogram(samples: np.ndarray | torch.Tensor, sample_rate: int) -> torch.Tensor:
    r"""Normalised log-power spectrogram on 20 ms Hann windows every 10 ms.

    The waveform :math:`x` is first scaled to unit mean power,
    :math:`\tilde x = x / \sqrt{\overline{x^2}}`; then
    :math:`S_{t,f} = \log(|\mathrm{STFT}(\tilde x)_{t,f}|^2 + 10^{-6})`, and each
    frequency bin is standardised over the utterance's frames (zero mean, unit
    variance), which removes a fixed channel gain and spectral tilt.

    Parameters
    ----------
    samples : array or tensor, shape ``(n_samples,)``
        Mono waveform.
    sample_rate : int
        Samples per second; the window is ``0.02 * sample_rate`` samples.

    Returns
    -------
    torch.Tensor
        float32, shape ``(n_frames, n_fft // 2 + 1)`` with
        ``n_frames = 1 + n_samples // hop``.
    """
    x = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    x = x / x.pow(2).mean().clamp_min(1e-10).sqrt()
    n_fft, hop = n_fft_for(sample_rate), round(HOP_SECONDS * sample_rate)
    spec = torch.stft(x, n_fft, hop_length=hop, window=torch.hann_window(n_fft),
                      return_complex=True)  # (freq, frames)
    log_power = torch.log(spec.abs().pow(2) + 1e-6).T  # (frames, freq)
    mean, std = log_power.mean(0, keepdim=True), log_power.std(0, keepdim=True)
    return (log_power - mean) / (std + 1e-5)


def n_fft_for(sample_rate: int) -> int:
    """Window length in samples for a 20 ms window."""
    return round(WINDOW_SECONDS * sample_rate)


def n_features(sample_rate: int) -> int:
    """Frequency bins of :func:`log_spectrogram` at ``sample_rate`` (161 at 16 kHz, 81 at 8 kHz)."""
    return n_fft_for(sample_rate) // 2 + 1


def edit_distance(reference, hypothesis) -> int:
    """Levenshtein distance (insertions, deletions, substitutions) between two sequences.

    Dynamic programming row by row: :math:`D_{i,j} = \\min(D_{i-1,j} + 1, D_{i,j-1} + 1,
    D_{i-1,j-1} + [r_i \\ne h_j])`.
    """
    previous = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, start=1):
        current = [i]
        for j, h in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def error_rate(references: list, hypotheses: list) -> float:
    r"""Corpus error rate :math:`\sum_u d(r_u, h_u) / \sum_u |r_u|` (CER on strings, WER on word lists)."""
    if len(references) != len(hypotheses):
        raise ValueError("references and hypotheses differ in length")
    errors = sum(edit_distance(r, h) for r, h in zip(references, hypotheses))
    return errors / max(1, sum(len(r) for r in references))
