"""Loaders of real recordings: the Free Spoken Digit Dataset and LibriSpeech-style folders."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from scaling_core.data.speech import DIGIT_WORDS, Utterances, load_fsdd, load_librispeech_folder
from scaling_core.profiles import ParameterError


def test_fsdd_official_split(shared_data):
    test = load_fsdd(shared_data, "test")
    listed = (shared_data / "fsdd" / "split_test_idx0-4.txt").read_text().split()
    assert sorted(f"{i}.wav" for i in test.info.id) == sorted(listed)
    assert len(test) == 300 and test.sample_rate == 8000
    assert set(test.info["index"]) == set(range(5))
    assert set(test.transcripts) == set(DIGIT_WORDS)
    row = test.info.iloc[0]
    assert test.transcripts[0] == DIGIT_WORDS[row.digit] and row.id.startswith(f"{row.digit}_")
    assert 0.1 < test.seconds.mean() < 1.0 and 0.01 < test.hours < 0.1
    assert test.audio[0].dtype == np.float32 and np.abs(test.audio[0]).max() <= 1.0


def test_fsdd_train_split_and_resampling(shared_data):
    train = load_fsdd(shared_data, "train", sample_rate=16000)
    assert len(train) == 2700 and train.info["index"].min() == 5
    assert train.sample_rate == 16000 and train.info.speaker.nunique() == 6
    assert 21.0 < (train.hours + load_fsdd(shared_data, "test").hours) * 60 < 23.0  # 21.9 minutes


def test_fsdd_errors_name_the_parameter(tmp_path):
    with pytest.raises(ParameterError, match="'split'"):
        load_fsdd(tmp_path, "dev")
    with pytest.raises(FileNotFoundError, match="'data_dir'"):
        load_fsdd(tmp_path, "train")


def write_librispeech(root, rate: int = 16000):
    """Two utterances of one speaker and chapter, as FLAC with a transcript file."""
    folder = root / "train-tiny" / "19" / "198"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for i, (seconds, text) in enumerate([(0.5, "NORTHANGER ABBEY"), (1.25, "THE LORD'S DAY")]):
        audio = (0.1 * rng.normal(size=int(seconds * rate))).astype(np.float32)
        soundfile.write(folder / f"19-198-{i:04d}.flac", audio, rate)
        lines.append(f"19-198-{i:04d} {text}")
    (folder / "19-198.trans.txt").write_text("\n".join(lines) + "\n")
    return root / "train-tiny"


def test_librispeech_folder_reads_flac_and_transcripts(tmp_path):
    utterances = load_librispeech_folder(write_librispeech(tmp_path))
    assert utterances.transcripts == ["northanger abbey", "the lord's day"]
    assert utterances.sample_rate == 16000
    assert np.allclose(utterances.seconds, [0.5, 1.25])
    assert list(utterances.info.speaker) == ["19", "19"] and utterances.info.id[1] == "19-198-0001"
    assert utterances.audio[1].std() == pytest.approx(0.1, rel=0.05)  # FLAC is lossless (16-bit)


def test_librispeech_folder_resamples_and_limits(tmp_path):
    utterances = load_librispeech_folder(write_librispeech(tmp_path), sample_rate=8000, max_utterances=1)
    assert len(utterances) == 1 and len(utterances.audio[0]) == 4000


def test_librispeech_folder_without_transcripts_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="'path'"):
        load_librispeech_folder(tmp_path)


def test_utterances_subset_and_length_check():
    data = Utterances([np.zeros(8000, np.float32), np.zeros(4000, np.float32)], ["a", "b"], 8000)
    assert list(data.subset([1]).seconds) == [0.5] and data.subset([1]).transcripts == ["b"]
    with pytest.raises(ValueError, match="differ in length"):
        Utterances([np.zeros(3)], ["a", "b"], 8000)
