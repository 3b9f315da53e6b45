"""Speech features, the output alphabet and error rates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scaling_core.data import speech_features as sf


def test_alphabet_has_blank_letters_space_apostrophe():
    assert sf.N_CLASSES == 29 and sf.BLANK == 0
    assert sf.encode("a z'")[0] == 1 and sf.encode("z")[0] == 26
    assert sf.decode(sf.encode("the lord's day")) == "the lord's day"
    assert sf.decode([0, 20, 0, 8, 5, 0]) == "the"


def test_normalize_transcript_keeps_only_the_alphabet():
    assert sf.normalize_transcript("And God said, Let there-be LIGHT!") == "and god said let there be light"
    assert sf.normalize_transcript("  The LORD\u2019s  'house' 42 ") == "the lord's house"


def test_encode_rejects_characters_outside_the_alphabet():
    with pytest.raises(ValueError, match="parameter 'text'"):
        sf.encode("Hello")


@pytest.mark.parametrize("a, b, distance", [
    ("kitten", "sitting", 3), ("", "abc", 3), ("abc", "", 3), ("flaw", "lawn", 2), ("same", "same", 0),
    (["the", "cat"], ["a", "cat", "sat"], 2),
])
def test_edit_distance_known_values(a, b, distance):
    assert sf.edit_distance(a, b) == distance == sf.edit_distance(b, a)


def test_error_rate_is_errors_over_reference_length():
    assert sf.error_rate(["abcd", "ef"], ["abxd", "ef"]) == pytest.approx(1 / 6)
    assert sf.error_rate(["ab"], ["abab"]) == pytest.approx(1.0)


def test_log_spectrogram_shape_and_per_bin_normalisation():
    rng = np.random.default_rng(0)
    audio = rng.normal(size=16000).astype(np.float32)  # 1 s at 16 kHz
    spec = sf.log_spectrogram(audio, 16000)
    assert spec.shape == (1 + 16000 // 160, 161) == (101, sf.n_features(16000))
    assert torch.allclose(spec.mean(0), torch.zeros(161), atol=1e-4)
    assert torch.allclose(spec.std(0), torch.ones(161), atol=1e-3)
    assert sf.log_spectrogram(audio[:8000], 8000).shape == (101, 81)


def test_log_spectrogram_is_gain_invariant_and_finds_a_tone():
    """A 1 kHz tone switched on halfway raises bin 1000 / 50 Hz = 20 most (8 kHz, 20 ms windows)."""
    t = np.arange(16000) / 8000
    audio = 0.01 * np.random.default_rng(1).normal(size=16000) + np.sin(2 * np.pi * 1000 * t) * (t >= 1)
    spec = sf.log_spectrogram(audio, 8000)  # (201, 81)
    assert torch.allclose(spec, sf.log_spectrogram(100 * audio, 8000), atol=5e-3)  # float32 rounding near the DC bin's floor
    rise = spec[110:].mean(0) - spec[:90].mean(0)  # (81,)
    assert int(rise.argmax()) == 20
    assert rise[20] > 1.5 and rise[40:].abs().max() < 1.0


def test_resample_changes_length_by_the_rate_ratio():
    audio = np.random.default_rng(2).normal(size=22050).astype(np.float32)
    out = sf.resample(audio, 22050, 16000)
    assert out.dtype == np.float32 and len(out) == 16000
    assert np.array_equal(sf.resample(audio, 8000, 8000), audio)


def test_mel_filterbank_is_triangles_on_the_mel_scale():
    """Each filter peaks at its centre, sums to 1 where neighbours cross, and centres space by mel."""
    bank = sf.mel_filterbank(16000, 320, 40)  # 161 bins of 50 Hz
    assert bank.shape == (161, 40) and bank.min() >= 0
    peaks = bank.argmax(0)
    assert torch.all(peaks[1:] > peaks[:-1])  # centres rise through the spectrum
    widths = (bank > 0).sum(0)
    assert widths[-1] > 4 * widths[5]  # high bands are wider in Hz, as on the mel scale
    inner = bank[peaks[5]:peaks[-5]].sum(1)
    assert torch.allclose(inner, torch.ones_like(inner), atol=1e-5)  # adjacent triangles sum to 1
    with pytest.raises(ValueError, match="parameter 'n_mels' got 0; allowed: a positive integer"):
        sf.mel_filterbank(16000, 320, 0)
    assert sf.mel_filterbank(16000, 320, 40) is bank  # built once, shared by every utterance


def test_log_mel_spectrogram_has_n_mels_normalised_bands_and_finds_a_tone():
    t = np.arange(16000) / 8000
    audio = 0.01 * np.random.default_rng(1).normal(size=16000) + np.sin(2 * np.pi * 1000 * t) * (t >= 1)
    spec = sf.log_spectrogram(audio, 8000, n_mels=40)
    assert spec.shape == (201, 40) == (201, sf.n_features(8000, 40))
    assert torch.allclose(spec.std(0), torch.ones(40), atol=1e-3)
    rise = spec[110:].mean(0) - spec[:90].mean(0)
    peak = sf.mel_filterbank(8000, 160, 40)[20]  # the bands that hold the 1 kHz bin
    assert int(rise.argmax()) == int(peak.argmax())
