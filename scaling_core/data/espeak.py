"""A small ctypes wrapper over the eSpeak NG speech synthesizer.

The library and its voice data come with the ``espeakng-loader`` wheel, so no system
install is needed. eSpeak NG is a formant synthesizer: it turns text into phonemes
with its pronunciation rules and dictionaries, then renders the phonemes as 16-bit
mono audio at 22,050 Hz.

The library keeps global state, so it is initialised once per process and every
call holds a lock. Repeated synthesis of the same text is close to, but not always
bit-identical with, the previous one; corpora built from it are therefore cached.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from pathlib import Path

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
"""``espeak_AUDIO_OUTPUT``: synthesise in the calling thread, hand audio to the callback."""
CHARS_UTF8 = 1
"""``espeakCHARS_UTF8``: the input text is UTF-8."""
PHONEMES_IPA = 0x02
"""``espeak_TextToPhonemes`` phoneme mode bit: International Phonetic Alphabet output."""
PARAMETER_RATE, PARAMETER_PITCH = 1, 3
"""``espeak_PARAMETER`` ids: words per minute, base pitch (0-100)."""
EE_OK = 0
"""``espeak_ERROR``: success."""

RATE_RANGE = (80, 450)
"""Speaking rates (words per minute) eSpeak NG accepts."""
PITCH_RANGE = (0, 100)
"""Base pitches eSpeak NG accepts."""

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_LOCK = threading.RLock()
_STATE: dict = {}


def _on_audio(wav, num_samples, events) -> int:
    """Synthesis callback: append one chunk of 16-bit samples to the current buffer."""
    if num_samples > 0:
        chunk = np.ctypeslib.as_array(wav, shape=(num_samples,)).copy()
        _STATE["chunks"].append(chunk)
    return 0  # 0 = continue synthesis


def _declare(lib: ctypes.CDLL) -> None:
    """Declare the C signatures of the functions used here."""
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_TextToPhonemes.argtypes = [
        ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int,
    ]


def _library() -> ctypes.CDLL:
    """The initialised library (loaded and initialised on first use only)."""
    with _LOCK:
        if "lib" not in _STATE:
            import espeakng_loader  # here, not at import: cached transcriptions and audio need no eSpeak

            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            _declare(lib)
            data_path = espeakng_loader.get_data_path().encode()
            sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
            if sample_rate <= 0:
                raise RuntimeError(f"espeak_Initialize failed (returned {sample_rate})")
            _STATE["callback"] = _SYNTH_CALLBACK(_on_audio)  # kept alive for the C side
            lib.espeak_SetSynthCallback(_STATE["callback"])
            _STATE.update(lib=lib, sample_rate=sample_rate, voice=None, chunks=[])
        return _STATE["lib"]


def sample_rate() -> int:
    """The synthesizer's output sample rate in Hz (22,050 for eSpeak NG)."""
    _library()
    return _STATE["sample_rate"]


@functools.cache
def variants() -> tuple[str, ...]:
    """Names of the voice variants shipped with the data (usable as ``variant=``)."""
    import espeakng_loader

    folder = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    names = (p.name for p in folder.iterdir() if p.is_file())
    return tuple(sorted(n for n in names if " " not in n and not n.endswith(".md")))


def _set_voice(lib: ctypes.CDLL, voice: str, variant: str | None) -> None:
    """Select ``voice`` (+ ``variant``) unless it is already selected."""
    if variant is not None and variant not in variants():
        raise ValueError(f"parameter 'variant' got {variant!r}; allowed: None or one of variants()")
    name = voice if variant is None else f"{voice}+{variant}"
    if _STATE["voice"] != name:
        if lib.espeak_SetVoiceByName(name.encode()) != EE_OK:
            raise ValueError(f"parameter 'voice' got {voice!r}; allowed: an eSpeak NG voice "
                             "such as 'en', 'en-us', 'en-029', 'en-gb-x-rp'")
        _STATE["voice"] = name


def _check_range(name: str, value: int, bounds: tuple[int, int]) -> int:
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"parameter {name!r} got {value!r}; allowed: {bounds[0]}..{bounds[1]}")
    return int(value)


def synthesize(
    text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50, variant: str | None = None
) -> tuple[np.ndarray, int]:
    """Speak ``text`` with eSpeak NG.

    Parameters
    ----------
    text : str
        What to say (UTF-8; punctuation shapes the prosody).
    voice : str
        An eSpeak NG voice/language, e.g. ``"en-us"``, ``"en"`` (British) or ``"en-029"``.
    rate : int
        Speaking rate in words per minute, within :data:`RATE_RANGE`.
    pitch : int
        Base pitch, within :data:`PITCH_RANGE` (50 is the voice's default).
    variant : str, optional
        A voice variant (see :func:`variants`), e.g. ``"f3"`` or ``"m2"``.

    Returns
    -------
    samples : numpy.ndarray
        float32 waveform in [-1, 1), shape ``(n_samples,)``.
    sample_rate : int
        Samples per second (22,050).
    """
    rate = _check_range("rate", rate, RATE_RANGE)
    pitch = _check_range("pitch", pitch, PITCH_RANGE)
    encoded = text.encode("utf-8")
    with _LOCK:
        lib = _library()
        _set_voice(lib, voice, variant)
        lib.espeak_SetParameter(PARAMETER_RATE, rate, 0)
        lib.espeak_SetParameter(PARAMETER_PITCH, pitch, 0)
        _STATE["chunks"] = []
        status = lib.espeak_Synth(encoded, len(encoded) + 1, 0, 0, 0, CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        chunks, _STATE["chunks"] = _STATE["chunks"], []
    if status != EE_OK:
        raise RuntimeError(f"espeak_Synth failed with status {status}")
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return pcm.astype(np.float32) / 32768.0, _STATE["sample_rate"]


def text_to_phonemes(text: str, voice: str = "en-us", ipa: bool = True) -> str:
    """Transcribe ``text`` into phonemes with eSpeak NG's pronunciation rules.

    Parameters
    ----------
    text : str
        Text in the voice's language.
    voice : str
        The eSpeak NG voice whose rules apply, e.g. ``"en-us"``.
    ipa : bool
        ``True``: International Phonetic Alphabet (e.g. ``"hɛlˈoʊ"``);
        ``False``: eSpeak's ASCII phoneme mnemonics (e.g. ``"h@l'oU"``).

    Returns
    -------
    str
        The phonemes, words separated by spaces, clauses joined by a space.
    """
    mode = PHONEMES_IPA if ipa else 0
    clauses = []
    with _LOCK:
        lib = _library()
        _set_voice(lib, voice, None)
        buffer = ctypes.create_string_buffer(text.encode("utf-8"))
        pointer = ctypes.c_char_p(ctypes.addressof(buffer))
        while pointer.value:
            result = lib.espeak_TextToPhonemes(ctypes.byref(pointer), CHARS_UTF8, mode)
            if result:
                clauses.append(result.decode("utf-8").strip())
    return " ".join(c for c in clauses if c)
