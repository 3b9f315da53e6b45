"""Speech corpora: a common container and loaders for real recordings.

* :func:`load_fsdd`: the Free Spoken Digit Dataset (human speakers, 8 kHz WAV).
* :func:`load_librispeech_folder`: any LibriSpeech-style folder
  (``<speaker>/<chapter>/<id>.flac`` with ``<speaker>-<chapter>.trans.txt``).
* The synthetic eSpeak NG corpus, the embedded default, is in
  :mod:`scaling_core.data.speech_synth`.

Data size is counted in hours of audio and in utterances (:attr:`Utterances.hours`,
``len(utterances)``).

Every WAV file is checked before use: against its data folder's ``SHA256SUMS`` when
one lists it, and for a complete RIFF/WAVE header whose data chunk the file really
holds. A bad file stops the load with a one-line
:class:`~scaling_core.data.integrity.DataError` naming it (``fsdd/recordings/x.wav:
truncated wav ...``).
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io.wavfile

from scaling_core.data.integrity import data_error, verify_files
from scaling_core.data.speech_features import normalize_transcript, resample
from scaling_core.validation import check_choice, default_data_dir

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
"""Transcripts of the FSDD recordings, by digit."""
FSDD_TEST_INDICES = range(0, 5)
"""The FSDD README's official split: recordings with index 0-4 are the test set."""


@dataclass
class Utterances:
    """Transcribed mono recordings at one sample rate.

    Attributes
    ----------
    audio : list of numpy.ndarray
        float32 waveforms in [-1, 1], one per utterance.
    transcripts : list of str
        Normalised transcripts (a-z, space, apostrophe).
    sample_rate : int
        Samples per second of every waveform.
    info : pandas.DataFrame
        One row per utterance: at least ``id`` and ``seconds`` (plus speaker, voice ...).
    """

    audio: list[np.ndarray]
    transcripts: list[str]
    sample_rate: int
    info: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __post_init__(self):
        if len(self.audio) != len(self.transcripts):
            raise ValueError("audio and transcripts differ in length")
        self.info = self.info.reset_index(drop=True)
        self.info["seconds"] = self.seconds

    def __len__(self) -> int:
        return len(self.audio)

    @property
    def seconds(self) -> np.ndarray:
        """Duration of each utterance in seconds."""
        return np.array([len(a) / self.sample_rate for a in self.audio], dtype=np.float64)

    @property
    def hours(self) -> float:
        """Total duration in hours."""
        return float(self.seconds.sum() / 3600.0)

    def subset(self, indices) -> "Utterances":
        """The utterances at ``indices``, in that order."""
        indices = list(indices)
        return Utterances([self.audio[i] for i in indices], [self.transcripts[i] for i in indices],
                          self.sample_rate, self.info.iloc[indices].copy())


def check_wav(data: bytes) -> str | None:
    """What is wrong with the bytes of a WAV file, or None if its header is whole.

    Checks the RIFF/WAVE signature, walks the chunks up to ``data`` and compares the
    frames the header promises with the bytes the file holds (a cut-off file is
    otherwise read silently as a shorter recording).
    """
    if data[:4] == b"RF64" and data[8:12] == b"WAVE":
        return None  # 64-bit sizes live in a ds64 chunk: left to scipy
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        return f"not a wav file (starts with {data[:12]!r}, expected RIFF....WAVE)"
    order = "<" if data[:4] == b"RIFF" else ">"
    offset, block_align = 12, None
    while offset + 8 <= len(data):
        chunk, size = data[offset:offset + 4], struct.unpack(order + "I", data[offset + 4:offset + 8])[0]
        if chunk == b"fmt " and size >= 16 and offset + 24 <= len(data):
            block_align = struct.unpack(order + "H", data[offset + 20:offset + 22])[0]
        if chunk == b"data":
            held = len(data) - offset - 8
            if size > held:
                if block_align:
                    return f"truncated wav: the header says {size // block_align} frames, the file holds " \
                           f"{held // block_align} ({held} of {size} data bytes)"
                return f"truncated wav: the header says {size} data bytes, the file holds {held}"
            return None if block_align else "not a wav file (no fmt chunk before the data)"
        offset += 8 + size + (size & 1)
    return "truncated wav: the file ends before its data chunk" if offset > 12 else "not a wav file (no chunks)"


def _read_wav(path: Path, sample_rate: int | None, root: str | os.PathLike | None = None) -> tuple[np.ndarray, int]:
    """A WAV file as float32 in [-1, 1] (16-bit PCM scaled by 1/32768), resampled if asked.

    Raises :class:`~scaling_core.data.integrity.DataError` (one line, naming ``path``
    relative to ``root``) for a file that is not a WAV file or is cut short.
    """
    data = Path(path).read_bytes()
    problem = check_wav(data)
    if problem is not None:
        raise data_error(path, root, problem)
    try:
        rate, pcm = scipy.io.wavfile.read(io.BytesIO(data))
    except (ValueError, struct.error, EOFError) as error:
        raise data_error(path, root, f"not a readable wav file ({error})") from error
    audio = pcm.astype(np.float32) / (32768.0 if pcm.dtype == np.int16 else 1.0)
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if sample_rate is not None and sample_rate != rate:
        return resample(audio, rate, sample_rate), sample_rate
    return audio, rate


def _dataset_folder(data_dir, name: str) -> Path:
    """``<data_dir>/<name>``: the argument, else ``$SCALING_CORE_DATA``; a clear error if absent."""
    root = default_data_dir(data_dir)
    if root is None or not (root / name).is_dir():
        raise FileNotFoundError(
            f"parameter 'data_dir' got {data_dir!r}: no {name}/ folder there "
            "(give data_dir or set SCALING_CORE_DATA)"
        )
    return root / name


def load_fsdd(data_dir: str | os.PathLike | None = None, split: str = "train",
              sample_rate: int | None = None) -> Utterances:
    """The Free Spoken Digit Dataset: 3,000 recordings of single English digits, 6 speakers.

    Files are ``recordings/{digit}_{speaker}_{index}.wav`` (8 kHz, 16-bit); the
    transcript is the digit's English word. The official split puts indices 0-4 of
    every speaker and digit in the test set (300 recordings) and 5-49 in training.

    Parameters
    ----------
    data_dir : path, optional
        Folder holding ``fsdd/`` (else ``$SCALING_CORE_DATA``).
    split : {"train", "test"}
    sample_rate : int, optional
        Resample to this rate (default: keep 8 kHz).

    Returns
    -------
    Utterances
        Sorted by file name; ``info`` has ``id``, ``digit``, ``speaker``, ``index``.
    """
    check_choice("split", split, ("train", "test"))
    root = _dataset_folder(data_dir, "fsdd").parent
    folder = root / "fsdd" / "recordings"
    chosen = []
    for path in sorted(folder.glob("*.wav")):
        parts = path.stem.split("_")
        if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) != 1 or not parts[2].isdigit():
            raise data_error(path, root, "not an FSDD recording name (expected {digit}_{speaker}_{index}.wav)")
        if (int(parts[2]) in FSDD_TEST_INDICES) == (split == "test"):
            chosen.append((path, parts))
    verify_files(path for path, _ in chosen)
    rows, audio, rate = [], [], sample_rate
    for path, (digit, speaker, index) in chosen:
        samples, rate = _read_wav(path, sample_rate, root)
        audio.append(samples)
        rows.append({"id": path.stem, "digit": int(digit), "speaker": speaker, "index": int(index)})
    transcripts = [DIGIT_WORDS[r["digit"]] for r in rows]
    return Utterances(audio, transcripts, rate, pd.DataFrame(rows))


def load_librispeech_folder(path: str | os.PathLike, sample_rate: int | None = None,
                            max_utterances: int | None = None) -> Utterances:
    """Read a LibriSpeech-style folder: FLAC files with ``*.trans.txt`` transcripts.

    Every ``*.trans.txt`` (anywhere below ``path``) has lines ``<id> <TRANSCRIPT>``;
    the audio is ``<id>.flac`` beside it. Transcripts are normalised to the output
    alphabet. Reading FLAC uses :mod:`soundfile`.

    Parameters
    ----------
    path : path
        The folder (e.g. ``LibriSpeech/train-clean-100``).
    sample_rate : int, optional
        Resample to this rate (default: keep the files' rate, 16 kHz for LibriSpeech).
    max_utterances : int, optional
        Stop after this many utterances (in sorted transcript-file order).

    Returns
    -------
    Utterances
        ``info`` has ``id``, ``speaker`` and ``chapter``.
    """
    import soundfile

    folder = Path(path)
    transcript_files = sorted(folder.rglob("*.trans.txt"))
    if not transcript_files:
        raise FileNotFoundError(f"parameter 'path' got {str(path)!r}: no *.trans.txt files below it")
    rows, audio, texts, rate = [], [], [], sample_rate
    for listing in transcript_files:
        for line in listing.read_text(encoding="utf-8").splitlines():
            if not line.strip() or (max_utterances is not None and len(rows) >= max_utterances):
                continue
            utterance_id, _, text = line.strip().partition(" ")
            samples, file_rate = soundfile.read(listing.parent / f"{utterance_id}.flac", dtype="float32")
            rate = sample_rate or file_rate
            audio.append(resample(samples, file_rate, rate))
            texts.append(normalize_transcript(text))
            speaker, chapter = (utterance_id.split("-") + ["", ""])[:2]
            rows.append({"id": utterance_id, "speaker": speaker, "chapter": chapter})
    return Utterances(audio, texts, rate, pd.DataFrame(rows))

