"""The eSpeak NG ctypes wrapper: audio comes out, phonemes match the words, bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest

from scaling_core.data import espeak


def test_synthesize_returns_float_audio_at_the_library_rate():
    samples, rate = espeak.synthesize("hello world")
    assert rate == espeak.sample_rate() == 22050
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert 0.3 < len(samples) / rate < 3.0  # two words last about a second
    assert 0.05 < np.abs(samples).max() <= 1.0


def test_longer_text_takes_longer_and_faster_rate_takes_less_time():
    short, _ = espeak.synthesize("the cat")
    long, _ = espeak.synthesize("the cat sat on the mat and looked at the dog for a while")
    fast, _ = espeak.synthesize("the cat sat on the mat and looked at the dog for a while", rate=350)
    assert len(long) > 2.5 * len(short)
    assert len(fast) < 0.75 * len(long)


def test_repeated_synthesis_has_the_same_length_and_spectrum():
    """eSpeak NG output is not bit-identical between calls, but its timing and spectrum are."""
    first, _ = espeak.synthesize("in the beginning", variant="f3")
    second, _ = espeak.synthesize("in the beginning", variant="f3")
    assert len(first) == len(second)
    spectra = [np.abs(np.fft.rfft(x)) for x in (first, second)]
    assert np.corrcoef(*spectra)[0, 1] > 0.9


def test_variants_change_the_voice():
    names = espeak.variants()
    assert len(names) > 50 and {"f3", "m2", "klatt"} <= set(names)
    male, _ = espeak.synthesize("seven", variant="m1")
    female, _ = espeak.synthesize("seven", variant="f1")
    assert len(male) != len(female) or not np.allclose(male, female, atol=1e-2)


def test_text_to_phonemes_follows_the_words():
    assert espeak.text_to_phonemes("hello") == "həlˈoʊ"
    assert espeak.text_to_phonemes("hello", ipa=False) == "h@l'oU"
    words = espeak.text_to_phonemes("cat sat. mat").split()
    assert words == ["kˈæt", "sˈæt", "mˈæt"]


@pytest.mark.parametrize(
    "kwargs, name", [({"rate": 10}, "rate"), ({"pitch": 101}, "pitch"), ({"variant": "nope"}, "variant"), ({"voice": "xx"}, "voice")]
)
def test_bad_parameters_raise_a_one_line_error(kwargs, name):
    with pytest.raises(ValueError, match=f"parameter '{name}'"):
        espeak.synthesize("hi", **kwargs)
