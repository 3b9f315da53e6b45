"""Text loaders, vocabularies and language-model batching."""

from __future__ import annotations

import gzip
import zipfile

import numpy as np
import pytest

from scaling_core.data.lm_batches import IGNORE, PackedSequences, padded_batch, stream_batches
from scaling_core.data.text import (
    EOS,
    UNK,
    CharVocabulary,
    WordVocabulary,
    load_text_lines,
    load_tinyshakespeare,
    load_wikitext,
    split_tail,
    word_tokenize,
)
from scaling_core.download import sha256_of
from scaling_core.profiles import ParameterError


def test_word_tokenize_separates_punctuation_and_keeps_contractions():
    assert word_tokenize("And God said, Let there be light: and there was light.") == [
        "And", "God", "said", ",", "Let", "there", "be", "light", ":", "and", "there", "was", "light", ".",
    ]
    assert word_tokenize("Is't a verdict?") == ["Is't", "a", "verdict", "?"]


def test_word_vocabulary_keeps_most_frequent_and_maps_rest_to_unknown():
    sentences = [["b", "a", "b"], ["c", "b", "a", UNK], ["d"]]
    vocab = WordVocabulary.build(sentences, size=4)
    assert vocab.words == (EOS, UNK, "b", "a")  # b: 3, a: 2; c and d left out, corpus <unk> not a word
    assert list(vocab.encode(["a", "c", "b"])) == [3, 1, 2, 0]
    with pytest.raises(ParameterError, match="vocab_size"):
        WordVocabulary.build(sentences, size=2)


def test_char_vocabulary_has_98_symbols_and_truncates():
    vocab = CharVocabulary()
    assert len(vocab) == 98 and len(set(vocab.symbols)) == 98
    ids = vocab.encode("Ab~\t", max_length=10)
    assert [vocab.symbols[i] for i in ids] == ["A", "b", "~", UNK, EOS]
    kept = vocab.encode("x" * 200, max_length=150)
    assert len(kept) == 150 and vocab.eos_id not in kept  # a truncated sentence loses its end marker
    assert len(vocab.encode("x" * 149, max_length=150)) == 150  # 149 characters + <eos> just fit


def test_load_text_lines_reads_files_gzip_and_folders(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "news.en-00002").write_text("third one\n")
    with gzip.open(tmp_path / "corpus" / "news.en-00001.gz", "wt") as handle:
        handle.write("first sentence .\n\n  second one  \n")
    assert load_text_lines(tmp_path / "corpus") == ["first sentence .", "second one", "third one"]
    assert load_text_lines(tmp_path / "corpus", max_lines=2) == ["first sentence .", "second one"]
    with pytest.raises(FileNotFoundError):
        load_text_lines(tmp_path / "missing.txt")


def test_split_tail_holds_out_the_contiguous_end():
    train, val = split_tail([str(i) for i in range(10)], 0.2)
    assert train == [str(i) for i in range(8)] and val == ["8", "9"]
    with pytest.raises(ParameterError, match="val_fraction"):
        split_tail(["a", "b"], 1.0)


def test_load_tinyshakespeare(shared_data):
    lines = load_tinyshakespeare(shared_data)
    assert lines[:2] == ["First Citizen:", "Before we proceed any further, hear me speak."]
    assert all(lines) and 30_000 < len(lines) < 40_000


def fake_wikitext_zip(path, name="wikitext-2"):
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr(f"{name}/wiki.train.tokens", " \n = Title = \n \n the cat sat on the <unk> . \n")
        bundle.writestr(f"{name}/wiki.valid.tokens", " \n the dog sat . \n")
        bundle.writestr(f"{name}/wiki.test.tokens", " \n a test . \n")
    return path


def test_load_wikitext_downloads_checks_and_extracts(tmp_path):
    archive = fake_wikitext_zip(tmp_path / "wikitext-2-v1.zip")
    splits = load_wikitext("wikitext-2", url=archive.as_uri(), sha256=sha256_of(archive))
    assert splits["train"] == ["= Title =", "the cat sat on the <unk> ."]
    assert splits["valid"] == ["the dog sat ."] and splits["test"] == ["a test ."]


def test_load_wikitext_rejects_a_wrong_checksum(tmp_path):
    archive = fake_wikitext_zip(tmp_path / "wikitext-2-v1.zip")
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_wikitext("wikitext-2", url=archive.as_uri(), sha256="0" * 64)


def test_load_wikitext_needs_a_checksum_or_a_local_copy(tmp_path):
    with pytest.raises(ParameterError, match="sha256"):
        load_wikitext("wikitext-2", data_dir=tmp_path, sha256=None)
    with zipfile.ZipFile(fake_wikitext_zip(tmp_path / "w.zip", "wikitext-103")) as bundle:
        bundle.extractall(tmp_path)
    assert load_wikitext("wikitext-103", data_dir=tmp_path)["valid"] == ["the dog sat ."]
    with pytest.raises(ParameterError, match="name"):
        load_wikitext("wikitext-3", data_dir=tmp_path)


def test_stream_batches_cover_the_stream_in_rows_and_chunks():
    stream = np.arange(23)
    batches = list(stream_batches(stream, rows=3, unroll=4, device="cpu"))
    inputs = np.concatenate([b.inputs.numpy() for b in batches], axis=1)
    targets = np.concatenate([b.targets.numpy() for b in batches], axis=1)
    assert inputs.shape == (3, 7) and [b.inputs.shape[1] for b in batches] == [4, 3]
    np.testing.assert_array_equal(inputs.ravel(), np.arange(21))  # rows are contiguous pieces
    np.testing.assert_array_equal(targets, inputs + 1)  # each target is the next id of the stream
    assert all(b.carried is batches[0].carried for b in batches)


def test_stream_batches_shrink_rows_for_a_short_stream():
    (batch,) = stream_batches(np.arange(3), rows=8, unroll=80, device="cpu")
    assert batch.inputs.tolist() == [[0], [1]] and batch.targets.tolist() == [[1], [2]]


def test_padded_batch_starts_with_eos_and_ignores_padding():
    batch = padded_batch([np.array([5, 6, 1]), np.array([7])], start_id=1, pad_id=0, device="cpu")
    assert batch.inputs.tolist() == [[1, 5, 6], [1, 0, 0]]
    assert batch.targets.tolist() == [[5, 6, 1], [7, IGNORE, IGNORE]]


def test_packed_sequences_take_and_stream():
    packed = PackedSequences.pack([np.array([1, 2]), np.array([3]), np.array([4, 5, 6])])
    assert packed.lengths().tolist() == [2, 1, 3] and len(packed) == 3
    assert packed.stream(np.array([2, 0])).tolist() == [4, 5, 6, 1, 2]
