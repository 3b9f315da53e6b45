"""Translation data: parallel loaders, Multi30k, BPE, grapheme-to-phoneme, and the sweep task."""

from __future__ import annotations

import gzip
import math
import shutil

import numpy as np
import pytest
import torch

from scaling_core.data.bpe import BOS_ID, EOS_ID, PAD_ID, UNK_ID, train_bpe
from scaling_core.data.espeak import text_to_phonemes
from scaling_core.data.g2p import SymbolTokenizer, characters, ipa_symbols, kjv_fragments, load_g2p
from scaling_core.data.kjv import load_kjv
from scaling_core.data.translation import MULTI30K_SHA256, load_multi30k, load_parallel
from scaling_core.profiles import ParameterError
from scaling_core.sweep.task import Task
from scaling_core.sweep.trainer import evaluate
from scaling_core.tasks.translation import collate, make_translation_task

# ----------------------------------------------------------------------------- parallel files


def _write(path, lines, gz=False):
    text = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_load_parallel_reads_plain_and_gzip_and_drops_empty_pairs(tmp_path):
    src = _write(tmp_path / "a.de.gz", ["Ein Hund .", "  ", "Zwei Katzen"], gz=True)
    tgt = _write(tmp_path / "a.en", ["A dog .", "nothing", " Two cats "])
    pairs = load_parallel(src, tgt)
    assert pairs.to_dict("list") == {"source": ["Ein Hund .", "Zwei Katzen"], "target": ["A dog .", "Two cats"]}


def test_load_parallel_rejects_misaligned_files(tmp_path):
    src = _write(tmp_path / "x.src", ["a", "b", "c"])
    tgt = _write(tmp_path / "x.tgt", ["a", "b"])
    with pytest.raises(ValueError, match=r"not line-aligned.*3 lines.*2"):
        load_parallel(src, tgt)


def test_multi30k_from_shared_data(shared_data):
    train = load_multi30k("train", shared_data)
    val = load_multi30k("val", shared_data)
    assert (len(train), len(val)) == (29000, 1014)
    assert train.iloc[0].tolist() == ["Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
                                      "Two young, White males are outside near many bushes."]
    reverse = load_multi30k("val", shared_data, src_lang="en", tgt_lang="de")
    assert reverse["source"].tolist() == val["target"].tolist()


def test_multi30k_bad_split_names_the_choices(shared_data):
    with pytest.raises(ParameterError, match="'split'.*'train'"):
        load_multi30k("dev", shared_data)


def test_multi30k_download_verifies_checksums(shared_data, tmp_path, monkeypatch):
    monkeypatch.delenv("SCALING_CORE_DATA", raising=False)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in ("val.de.gz", "val.en.gz"):
        shutil.copy(shared_data / "multi30k" / name, mirror / name)
    val = load_multi30k("val", base_url=mirror.as_uri() + "/")
    assert len(val) == 1014
    assert val.equals(load_multi30k("val", shared_data))
    bad = tmp_path / "bad"
    bad.mkdir()
    _write(bad / "test_2016_flickr.de.gz", ["tampered"], gz=True)
    shutil.copy(shared_data / "multi30k" / "test_2016_flickr.en.gz", bad)
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_multi30k("test_2016_flickr", base_url=bad.as_uri() + "/")
    assert len(MULTI30K_SHA256) == 12


# ----------------------------------------------------------------------------- BPE


@pytest.fixture(scope="module")
def multi30k_bpe(shared_data):
    train = load_multi30k("train", shared_data).iloc[:3000]
    return train_bpe([*train["source"], *train["target"]], vocab_size=1000), train


def test_bpe_round_trip_on_unseen_text(multi30k_bpe, shared_data):
    tokenizer, _ = multi30k_bpe
    val = load_multi30k("val", shared_data)
    texts = [*val["source"][:200], *val["target"][:200], "Ĳssel  straße  ünseen ☃ 東京"]
    for text in texts:
        ids = tokenizer.encode(text)
        assert all(4 <= i < tokenizer.vocab_size for i in ids)
        assert tokenizer.decode(ids) == tokenizer.normalize(text)
    assert tokenizer.normalize("  Ĳ  a ") == "IJ a"  # NFKC and folded whitespace


def test_bpe_is_shared_deterministic_and_cached(multi30k_bpe):
    tokenizer, train = multi30k_bpe
    assert tokenizer.vocab_size == 1000
    texts = [*train["source"], *train["target"]]
    again = train_bpe(list(texts), vocab_size=1000)  # cache hit
    assert again.model_proto == tokenizer.model_proto
    # one vocabulary for both languages: frequent words of each are single pieces
    assert tokenizer.pieces("Ein Mann") == ["▁Ein", "▁Mann"]
    assert tokenizer.pieces("A man") == ["▁A", "▁man"]
    # compression: subwords are longer than characters
    ids = tokenizer.encode(texts[:500])
    assert sum(map(len, ids)) < 0.4 * sum(map(len, texts[:500]))


def test_bpe_retraining_from_scratch_is_deterministic(monkeypatch, tmp_path):
    texts = [f"the {w} sat on the {v} mat" for w in ("cat", "dog", "bird") for v in ("red", "green")] * 20
    protos = []
    for run in range(2):
        monkeypatch.setenv("SCALING_CORE_CACHE", str(tmp_path / f"cache{run}"))
        protos.append(train_bpe(texts, vocab_size=300).model_proto)
    assert protos[0] == protos[1]


@pytest.mark.parametrize("vocab_size", [10, 299, 8000.0])
def test_bpe_bad_vocab_size(vocab_size):
    with pytest.raises(ValueError, match="vocab_size"):
        train_bpe(["a b c"], vocab_size=vocab_size)


# ----------------------------------------------------------------------------- grapheme-to-phoneme


def test_ipa_symbols_keep_marks_with_their_letter():
    assert ipa_symbols("ɡˈɑːd kɹiːˈeɪɾᵻd") == ["ɡ", "ˈ", "ɑː", "d", " ", "k", "ɹ", "iː", "ˈ", "e", "ɪ", "ɾ", "ᵻ", "d"]
    assert ipa_symbols("bˌʌʔn̩") == ["b", "ˌ", "ʌ", "ʔ", "n̩"]


def test_symbol_tokenizer_round_trip_unknowns_and_frequency_order():
    tokenizer = SymbolTokenizer.fit(["ɡˈɑːd ɡɑː", "ɡæd"], ipa_symbols)  # ɡ 3 times, d twice
    assert tokenizer.symbols[:5] == ["<pad>", "<unk>", "<s>", "</s>", "ɡ"]
    ids = tokenizer.encode("ɡˈɑːd ɡæd")
    assert tokenizer.decode([BOS_ID, *ids, EOS_ID, PAD_ID]) == "ɡˈɑːd ɡæd"
    assert tokenizer.encode("ɡθ") == [tokenizer.symbols.index("ɡ"), UNK_ID]
    small = SymbolTokenizer.fit(["aaab", "ac"], characters, max_size=5)
    assert small.symbols == ["<pad>", "<unk>", "<s>", "</s>", "a"]


def test_kjv_fragments_split_at_punctuation_and_cap_words():
    verse = "And God said, Let there be light: and there was light and it was very good indeed."
    fragments = kjv_fragments([verse], max_words=5)
    assert fragments == ["And God said", "Let there be light", "and there was light and",
                         "it was very good indeed"]
    with pytest.raises(ValueError, match="max_words"):
        kjv_fragments([verse], max_words=0)


def test_load_g2p_transcribes_and_holds_out_whole_chapters():
    train, val = load_g2p(max_verses=200, val_fraction=0.2, seed=1)
    assert set(train["citation"]).isdisjoint(val["citation"])
    chapter = lambda citations: {c.rsplit(":", 1)[0] for c in citations}  # noqa: E731
    assert chapter(train["citation"]).isdisjoint(chapter(val["citation"]))
    assert train["source"].str.split().str.len().max() <= 8
    row = train.iloc[5]
    assert row["target"] == text_to_phonemes(row["source"])
    assert set(train["citation"]) | set(val["citation"]) == set(load_kjv()["citation"][:200])


# ----------------------------------------------------------------------------- the task


@pytest.fixture(scope="module")
def g2p_task():
    return make_translation_task("g2p", max_verses=300, val_size=50, seed=0)


def test_task_protocol_and_units(g2p_task):
    assert isinstance(g2p_task, Task)
    assert g2p_task.unit == "tokens" and g2p_task.metrics[0] == "val_error"
    assert g2p_task.families == ("seq2seq",)  # the widths are the search's grid, not the task's
    units = g2p_task.example_units()
    text = g2p_task.train_text["target"]
    assert units.tolist() == [len(ipa_symbols(t)) for t in text]
    assert len(g2p_task.val_src) == 50
    model = g2p_task.build_model("seq2seq", 32)
    assert model.config.width == 32 and model.config.tgt_vocab_size == g2p_task.tgt_tokenizer.vocab_size
    with pytest.raises(ParameterError, match="family"):
        g2p_task.build_model("transformer", 32)


def test_collate_pads_and_adds_markers():
    batch = collate([np.array([5, 6, 7]), np.array([8])], [np.array([9]), np.array([10, 11])])
    assert batch.src.tolist() == [[5, 6, 7], [8, PAD_ID, PAD_ID]]
    assert batch.src_lens.tolist() == [3, 1]
    assert batch.tgt_in.tolist() == [[BOS_ID, 9, PAD_ID], [BOS_ID, 10, 11]]
    assert batch.tgt_out.tolist() == [[9, EOS_ID, PAD_ID], [10, 11, EOS_ID]]


def test_train_batches_cover_indices_once_in_length_buckets(g2p_task):
    indices = np.arange(0, 900, 3)
    gen = torch.Generator().manual_seed(0)
    batches = list(g2p_task.train_batches(indices, 8, gen, "cpu"))
    target_tokens = sum((b.tgt_in[:, 1:] != PAD_ID).sum().item() for b in batches)
    assert target_tokens == g2p_task.example_units()[indices].sum()
    assert sum(b.src.shape[0] for b in batches) == len(indices)
    # sorted buckets: padding waste is far below that of random batches
    pad_fraction = np.mean([(b.tgt_out == PAD_ID).float().mean().item() for b in batches])
    assert pad_fraction < 0.1
    again = list(g2p_task.train_batches(indices, 8, torch.Generator().manual_seed(0), "cpu"))
    assert all(torch.equal(a.src, b.src) for a, b in zip(batches, again))


def test_metrics_of_a_uniform_model(g2p_task):
    model = g2p_task.build_model("seq2seq", 16)
    with torch.no_grad():
        model.decoder.out.weight.zero_()
        model.decoder.out.bias.zero_()
    metrics = evaluate(g2p_task, model, "cpu")
    vocab = g2p_task.tgt_tokenizer.vocab_size
    tokens = sum(len(t) + 1 for t in g2p_task.val_tgt)
    assert metrics["val_tokens"] == tokens
    assert metrics["val_bits_per_token"] == pytest.approx(math.log2(vocab), rel=1e-5)
    assert metrics["val_loss"] == pytest.approx(tokens * math.log(vocab) / 50, rel=1e-5)
    assert metrics["val_error"] == 1.0  # arg-max of equal scores is PAD, never a target
    batch = next(g2p_task.train_batches(np.arange(10), 10, torch.Generator().manual_seed(0), "cpu"))
    expected = ((batch.tgt_out != PAD_ID).sum() * math.log(vocab) / 10).item()
    assert g2p_task.train_loss(model, batch).item() == pytest.approx(expected, rel=1e-5)


def test_training_lowers_validation_error_and_sample_translations(g2p_task):
    torch.manual_seed(0)
    model = g2p_task.build_model("seq2seq", 16)
    before = evaluate(g2p_task, model, "cpu")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    for batch in g2p_task.train_batches(np.arange(640), 16, gen, "cpu"):
        optimizer.zero_grad()
        g2p_task.train_loss(model, batch).backward()
        optimizer.step()
    after = evaluate(g2p_task, model, "cpu")
    assert after["val_error"] < before["val_error"] - 0.05
    assert after["val_bits_per_token"] < before["val_bits_per_token"] - 0.5
    samples = g2p_task.sample_translations(model, n=3, max_len=40)
    assert len(samples) == 3
    assert [list(s[:2]) for s in samples] == g2p_task.val_text.iloc[:3].values.tolist()
    assert all(isinstance(h, str) and "<" not in h for _, _, h in samples)


def test_parallel_task_from_files(tmp_path):
    words = ["cat", "dog", "bird", "fish", "cow", "hen", "fox", "owl"]
    source = [f"{a} et {b}" for a in words for b in words]
    target = [f"{b} and {a}" for a in words for b in words]
    src = _write(tmp_path / "p.src", source * 3)
    tgt = _write(tmp_path / "p.tgt", target * 3)
    task = make_translation_task("parallel", src_path=src, tgt_path=tgt, vocab_size=300, val_size=20)
    assert task.name == "nmt-parallel" and len(task.val_src) == 20 and len(task.train_src) == 172
    assert task.src_tokenizer is task.tgt_tokenizer
    assert task.example_units().tolist() == [len(task.tgt_tokenizer.encode(t)) for t in task.train_text["target"]]
    with pytest.raises(ParameterError, match="src_path"):
        make_translation_task("parallel")
    with pytest.raises(ParameterError, match="'dataset'.*'g2p'"):
        make_translation_task("wmt")
