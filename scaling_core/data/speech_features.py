"""Speech features, the output alphabet and the character error rate.

Features are log-power spectrograms on 20 ms windows every 10 ms, computed with
:func:`torch.stft` from power-normalised audio and normalised per utterance, either
on the STFT's linear frequency bins (as in DS2) or pooled into ``n_mels`` mel bands
(a cheaper front end: 40 bands instead of 81 bins at 8 kHz). The
output alphabet is the 26 English letters, space and apostrophe; index 0 is the
CTC blank (and the attention decoder's end-of-sentence token).
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    r"""Triangular mel filters, shape ``(n_fft // 2 + 1, n_mels)``, applied to a power spectrum.

    Band centres are equally spaced on the HTK mel scale
    :math:`\mathrm{mel}(f) = 2595 \log_{10}(1 + f / 700)` between 0 Hz and the Nyquist
    frequency; filter :math:`k` rises linearly from centre :math:`k - 1` to 1 at centre
    :math:`k` and falls to 0 at centre :math:`k + 1` (peak height 1, no area normalisation).
    Built once per ``(sample_rate, n_fft, n_mels)`` and shared (read-only) by every utterance.
    """
    if n_mels < 1:
        raise ValueError(f"parameter 'n_mels' got {n_mels!r}; allowed: a positive integer")
    to_mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    to_hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    centres = to_hz(np.linspace(0.0, to_mel(sample_rate / 2), n_mels + 2))
    bins = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)[:, None]
    rising = (bins - centres[None, :-2]) / (centres[1:-1] - centres[:-2])
    falling = (centres[None, 2:] - bins) / (centres[2:] - centres[1:-1])
    return torch.from_numpy(np.clip(np.minimum(rising, falling), 0.0, None).astype(np.float32))


def log_spectrogram(samples: np.ndarray | torch.Tensor, sample_rate: int,
                    n_mels: int | None = None) -> torch.Tensor:
    r"""Normalised log-power spectrogram on 20 ms Hann windows every 10 ms.

    The waveform :math:`x` is first scaled to unit mean power,
    :math:`\tilde x = x / \sqrt{\overline{x^2}}`; then
    :math:`S_{t,f} = \log(P_{t,f} + 10^{-6})` with the power
    :math:`P = |\mathrm{STFT}(\tilde x)|^2` on the linear bins, or :math:`P = |\mathrm{STFT}
    (\tilde x)|^2 M` pooled by the mel filters :math:`M` of :func:`mel_filterbank` when
    ``n_mels`` is given; each frequency bin is then standardised over the utterance's frames
    (zero mean, unit variance), which removes a fixed channel gain and spectral tilt.

    Parameters
    ----------
    samples : array or tensor, shape ``(n_samples,)``
        Mono waveform.
    sample_rate : int
        Samples per second; the window is ``0.02 * sample_rate`` samples.
    n_mels : int, optional
        Mel bands; ``None`` keeps the STFT's linear bins.

    Returns
    -------
    torch.Tensor
        float32, shape ``(n_frames, n_features(sample_rate, n_mels))`` with
        ``n_frames = 1 + n_samples // hop``.
    """
    x = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    x = x / x.pow(2).mean().clamp_min(1e-10).sqrt()
    n_fft, hop = n_fft_for(sample_rate), round(HOP_SECONDS * sample_rate)
    spec = torch.stft(x, n_fft, hop_length=hop, window=torch.hann_window(n_fft),
                      return_complex=True)  # (freq, frames)
    power = spec.abs().pow(2).T  # (frames, freq)
    if n_mels is not None:
        power = power @ mel_filterbank(sample_rate, n_fft, n_mels)  # (frames, n_mels)
    log_power = torch.log(power + 1e-6)
    mean, std = log_power.mean(0, keepdim=True), log_power.std(0, keepdim=True)
    return (log_power - mean) / (std + 1e-5)


def n_fft_for(sample_rate: int) -> int:
    """Window length in samples for a 20 ms window."""
    return round(WINDOW_SECONDS * sample_rate)


def n_features(sample_rate: int, n_mels: int | None = None) -> int:
    """Features per frame of :func:`log_spectrogram`: ``n_mels``, or the linear bins (161 at 16 kHz, 81 at 8 kHz)."""
    return n_mels if n_mels is not None else n_fft_for(sample_rate) // 2 + 1


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
