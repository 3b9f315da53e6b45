"""A synthetic speech corpus spoken by eSpeak NG: the embedded default for the speech chapter.

Texts are short fragments of King James Bible verses (split at punctuation, 2 to 8
words, normalised to the output alphabet). Each utterance is spoken by eSpeak NG
with settings drawn from a seeded generator: an English accent, one of about a
hundred voice variants, a speaking rate and a pitch; white noise is then added at a
random signal-to-noise ratio. Validation texts come from held-out Bible chapters and
never occur among the training texts.

The corpus is synthetic: one formant synthesizer with a closed set of voices is far
less varied than human speech, so learning curves on it flatten sooner and their
exponents need not match those measured on recorded speech.

eSpeak NG output is close to but not always bit-identical between runs (lengths and
spectra agree; the waveform phase differs), so a generated corpus is cached as 16-bit
audio under :func:`scaling_core.paths.cache_dir` and the cache defines it. The texts
and settings are exactly reproducible from the seed, and the corpus of ``n``
utterances is the first ``n`` of any larger one with the same seed.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from scaling_core.data import espeak
from scaling_core.data.kjv import load_kjv, split_by_chapter
from scaling_core.data.speech import Utterances
from scaling_core.data.speech_features import normalize_transcript, resample
from scaling_core.paths import cache_dir

CORPUS_VERSION = 1
"""Bumped whenever generation changes, so old caches are not reused."""
ENGLISH_VOICES = ("en-us", "en", "en-029", "en-gb-x-rp", "en-gb-scotland", "en-us-nyc")
"""eSpeak NG English accents: American, British, Caribbean, RP, Scottish, New York."""
VAL_CHAPTER_FRACTION = 0.1
"""Fraction of Bible chapters whose fragments are reserved for validation."""
_CLAUSE_BREAK = re.compile(r"[,;:.?!()]")


@dataclass(frozen=True)
class SynthSettings:
    """Ranges of the per-utterance random draws (all uniform)."""

    rate: tuple[int, int] = (130, 240)  # words per minute (eSpeak default 175)
    pitch: tuple[int, int] = (20, 80)  # base pitch, eSpeak scale 0-100 (default 50)
    snr_db: tuple[float, float] = (10.0, 40.0)  # signal-to-noise ratio of the added white noise
    words: tuple[int, int] = (2, 8)  # words per utterance (fragments outside are dropped)
    sample_rate: int = 16000  # stored rate; eSpeak's 22,050 Hz is resampled polyphase


def sentence_fragments(texts, min_words: int, max_words: int) -> list[str]:
    """Distinct normalised clauses of ``texts`` with ``min_words``..``max_words`` words, in order."""
    fragments = (normalize_transcript(f) for t in texts for f in _CLAUSE_BREAK.split(t))
    kept = (f for f in fragments if min_words <= len(f.split()) <= max_words)
    return list(dict.fromkeys(kept))


def text_pools(seed: int, settings: SynthSettings) -> tuple[list[str], list[str]]:
    """Training and validation fragments, each shuffled by ``seed``; no text is in both."""
    train_df, val_df = split_by_chapter(load_kjv(), VAL_CHAPTER_FRACTION, seed)
    train = sentence_fragments(train_df.text, *settings.words)
    val = sorted(set(sentence_fragments(val_df.text, *settings.words)) - set(train))
    rng = np.random.default_rng([seed, 1])
    return list(rng.permutation(train)), list(rng.permutation(val))


def draw_voice(rng: np.random.Generator, settings: SynthSettings) -> dict:
    """One utterance's speaking settings: accent, variant, rate, pitch and noise level."""
    variants = (None,) + espeak.variants()
    return {
        "voice": str(rng.choice(ENGLISH_VOICES)),
        "variant": variants[rng.integers(len(variants))],
        "rate": int(rng.integers(settings.rate[0], settings.rate[1] + 1)),
        "pitch": int(rng.integers(settings.pitch[0], settings.pitch[1] + 1)),
        "snr_db": float(rng.uniform(*settings.snr_db)),
    }


def speak(text: str, voice: dict, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    r"""Synthesise ``text``, resample, add white noise at ``voice["snr_db"]``; int16 samples.

    The noise has standard deviation :math:`\sigma = \mathrm{rms}(x) \cdot 10^{-\mathrm{SNR}/20}`.
    """
    audio, rate = espeak.synthesize(text, voice["voice"], voice["rate"], voice["pitch"],
                                    voice["variant"])
    audio = resample(audio, rate, sample_rate)
    rms = float(np.sqrt(np.mean(audio**2))) if len(audio) else 0.0
    audio = audio + rng.normal(0.0, rms * 10 ** (-voice["snr_db"] / 20), len(audio))
    return np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)


def generate_split(texts: list[str], n: int, seed: int, stream: int,
                   settings: SynthSettings) -> tuple[list[np.ndarray], pd.DataFrame]:
    """Speak the first ``n`` texts (cycling if ``n`` exceeds the pool); utterance ``i`` draws
    its settings and noise from ``default_rng([seed, stream, i])``."""
    audio, rows = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, stream, i])
        voice = draw_voice(rng, settings)
        text = texts[i % len(texts)]
        audio.append(speak(text, voice, rng, settings.sample_rate))
        rows.append({"id": f"{stream}-{i}", "text": text, **voice})
    return audio, pd.DataFrame(rows)


def corpus_key(n_train: int, n_val: int, seed: int, settings: SynthSettings) -> str:
    """A short hash of everything that determines the corpus."""
    spec = {"version": CORPUS_VERSION, "n_train": n_train, "n_val": n_val, "seed": seed,
            "settings": asdict(settings), "voices": ENGLISH_VOICES}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _save(path, audio: list[np.ndarray], info: pd.DataFrame) -> None:
    lengths = np.array([len(a) for a in audio], dtype=np.int64)
    np.savez(path, samples=np.concatenate(audio), lengths=lengths,
             info=np.array(info.to_json(orient="records")))


def _load(path, sample_rate: int) -> Utterances:
    with np.load(path) as stored:
        offsets = np.concatenate([[0], np.cumsum(stored["lengths"])])
        samples = stored["samples"].astype(np.float32) / 32768.0
        info = pd.read_json(io.StringIO(str(stored["info"])), orient="records",
                            dtype=False)
    audio = [samples[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
    return Utterances(audio, list(info["text"]), sample_rate, info)


def synthetic_corpus(n_train: int, n_val: int, seed: int = 0,
                     settings: SynthSettings = SynthSettings()) -> tuple[Utterances, Utterances]:
    """The eSpeak NG corpus: ``n_train`` training and ``n_val`` validation utterances.

    Generated once (about 500x faster than real time on one core) and cached under
    ``cache_dir("speech", key)`` with ``key`` = :func:`corpus_key`.

    Parameters
    ----------
    n_train, n_val : int
        Utterances in each split (positive).
    seed : int
        Seed of the chapter split, the text order, and every voice and noise draw.
    settings : SynthSettings
        Ranges of the random draws and the stored sample rate.

    Returns
    -------
    train, val : Utterances
        ``info`` has ``id``, ``text``, ``voice``, ``variant``, ``rate``, ``pitch``,
        ``snr_db`` and ``seconds``.
    """
    for name, value in (("n_train", n_train), ("n_val", n_val)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"parameter {name!r} got {value!r}; allowed: a positive integer")
    folder = cache_dir("speech", corpus_key(n_train, n_val, seed, settings))
    paths = {"train": folder / "train.npz", "val": folder / "val.npz"}
    if not all(p.exists() for p in paths.values()):
        train_texts, val_texts = text_pools(seed, settings)
        for split, texts, n, stream in (("train", train_texts, n_train, 0), ("val", val_texts, n_val, 1)):
            _save(paths[split].with_suffix(".tmp.npz"), *generate_split(texts, n, seed, stream, settings))
        for path in paths.values():
            path.with_suffix(".tmp.npz").replace(path)
    return _load(paths["train"], settings.sample_rate), _load(paths["val"], settings.sample_rate)
