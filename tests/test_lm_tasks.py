"""Word and character language-model tasks: units, batches, evaluation and learning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scaling_core.data.kjv import load_kjv, split_by_chapter
from scaling_core.data.lm_batches import PackedSequences
from scaling_core.data.text import CharVocabulary, WordVocabulary, word_tokenize
from scaling_core.profiles import ParameterError
from scaling_core.sweep.spec import SweepSpec
from scaling_core.experiments.char_lm import CHAR_LM_SCALES
from scaling_core.experiments.word_lm import WORD_LM_SCALES
from scaling_core.sweep.task import Task, TaskSpec
from scaling_core.sweep.trainer import evaluate
from scaling_core.tasks.language import (
    LM_FAMILIES,
    CharLMTask,
    WordLMTask,
    make_char_lm_task,
    make_word_lm_task,
)


SMOKE_WORDS = {"seed": 0, "vocab_size": WORD_LM_SCALES["smoke"]["vocab_size"],
               "val_units": WORD_LM_SCALES["smoke"]["val_units"]}


@pytest.fixture(scope="module")
def kjv_words() -> WordLMTask:
    return TaskSpec("scaling_core.tasks.language:make_word_lm_task", SMOKE_WORDS).build()


@pytest.fixture(scope="module")
def kjv_chars() -> CharLMTask:
    return make_char_lm_task("kjv", seed=0, val_units=CHAR_LM_SCALES["smoke"]["val_units"])


def tiny_word_task(val_units: int = 200) -> WordLMTask:
    """A toy language: 'the cat sat .' style sentences from a fixed grammar (seeded)."""
    rng = np.random.default_rng(0)
    subjects, verbs = ["the cat", "a dog", "the bird"], ["sat", "ran", "sang"]
    sentences = [f"{rng.choice(subjects)} {rng.choice(verbs)} .".split() for _ in range(300)]
    vocab = WordVocabulary.build(sentences, size=20)
    encoded = [vocab.encode(s) for s in sentences]
    val_stream = np.concatenate(encoded[250:])[: val_units + 1]
    return WordLMTask("wordlm-toy", PackedSequences.pack(encoded[:250]), val_stream, vocab, unroll=10)


def train_epochs(task, family, epochs, batch_size, lr=1e-2):
    torch.manual_seed(0)
    model = task.build_model(family, 16)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    before = evaluate(task, model, "cpu")["val_loss"]
    for _ in range(epochs):
        for batch in task.train_batches(np.arange(len(task.example_units())), batch_size, generator, "cpu"):
            optimizer.zero_grad()
            task.train_loss(model, batch).backward()
            optimizer.step()
    return before, evaluate(task, model, "cpu")


def test_tasks_satisfy_the_protocol(kjv_words, kjv_chars):
    assert isinstance(kjv_words, Task) and isinstance(kjv_chars, Task)
    assert kjv_words.metrics[0] == kjv_chars.metrics[0] == "val_loss"
    assert kjv_words.families is kjv_chars.families is LM_FAMILIES  # the grid is the search's, not the task's
    assert all(family in LM_FAMILIES for family in ("lstm2", "lstm4", "rhn5", "rhn10"))
    assert "gru2" not in LM_FAMILIES and "lstm0" not in LM_FAMILIES


@pytest.mark.parametrize("family", ["lstm2", "rhn3"])
def test_word_task_training_lowers_validation_loss(family):
    task = tiny_word_task()
    before, after = train_epochs(task, family, epochs=3, batch_size=4)
    assert after["val_loss"] < before - 1.0
    assert after["val_ppl"] == pytest.approx(math.exp(after["val_loss"]))


def test_word_task_epoch_streams_exactly_the_shard():
    task = tiny_word_task()
    shard = np.arange(10, 40)
    batches = list(task.train_batches(shard, 3, torch.Generator().manual_seed(1), "cpu"))
    streamed = torch.cat([b.inputs for b in batches], dim=1).flatten()
    units = task.example_units()[shard].sum()
    assert len(streamed) == units - 1 - (units - 1) % 3  # all but the final partial row
    order = shard[torch.randperm(len(shard), generator=torch.Generator().manual_seed(1)).numpy()]
    np.testing.assert_array_equal(streamed.numpy(), task.train.stream(order)[: len(streamed)])
    assert sorted(task.train.stream(order)) == sorted(task.train.stream(shard))


def test_word_task_shuffles_sentences_per_generator_seed():
    task = tiny_word_task()
    first = next(iter(task.train_batches(np.arange(250), 2, torch.Generator().manual_seed(0), "cpu")))
    same = next(iter(task.train_batches(np.arange(250), 2, torch.Generator().manual_seed(0), "cpu")))
    other = next(iter(task.train_batches(np.arange(250), 2, torch.Generator().manual_seed(5), "cpu")))
    assert torch.equal(first.inputs, same.inputs) and not torch.equal(first.inputs, other.inputs)


def test_word_task_carries_state_between_chunks():
    task = tiny_word_task()
    model = task.build_model("lstm2", 16)
    batches = task.train_batches(np.arange(250), 4, torch.Generator().manual_seed(0), "cpu")
    first = next(batches)
    assert first.carried.state is None
    task.train_loss(model, first)
    hidden, cell = first.carried.state
    assert hidden.shape == (2, 4, 16) and not hidden.requires_grad  # detached: truncated BPTT


def test_kjv_word_task_counts_words_with_end_of_sentence(kjv_words):
    train_df, _ = split_by_chapter(load_kjv(), 0.05, seed=0)
    assert kjv_words.example_units().sum() == sum(len(word_tokenize(t)) + 1 for t in train_df["text"])
    assert len(kjv_words.vocab) == WORD_LM_SCALES["smoke"]["vocab_size"]  # the profile's vocabulary
    assert len(kjv_words.val_stream) == WORD_LM_SCALES["smoke"]["val_units"] + 1  # capped V


def test_word_task_fingerprint_follows_the_data(kjv_words):
    assert make_word_lm_task(**SMOKE_WORDS).fingerprint == kjv_words.fingerprint
    assert make_word_lm_task(**{**SMOKE_WORDS, "seed": 1}).fingerprint != kjv_words.fingerprint


def test_kjv_char_task_counts_only_kept_characters(kjv_chars):
    train_df, _ = split_by_chapter(load_kjv(), 0.05, seed=0)
    lengths = train_df["text"].str.len().to_numpy()
    np.testing.assert_array_equal(kjv_chars.example_units(), np.minimum(lengths + 1, 150))
    assert (lengths >= 150).any()  # some verses really are truncated
    cap = CHAR_LM_SCALES["smoke"]["val_units"]
    assert cap - 150 < kjv_chars.valid.lengths().sum() <= cap


def test_char_task_batches_pad_and_count_kept_characters(kjv_chars):
    shard = np.arange(12)
    batches = list(kjv_chars.train_batches(shard, 5, torch.Generator().manual_seed(0), "cpu"))
    assert [b.inputs.shape[0] for b in batches] == [5, 5, 2]
    kept = sum(int((b.targets >= 0).sum()) for b in batches)
    assert kept == kjv_chars.example_units()[shard].sum()
    assert all((b.inputs[:, 0] == CharVocabulary().eos_id).all() for b in batches)


def test_char_task_training_lowers_validation_loss():
    vocab = CharVocabulary()
    rng = np.random.default_rng(0)
    lines = ["".join(rng.choice(list("abab cd."), size=rng.integers(5, 30))) for _ in range(120)]
    encoded = [vocab.encode(line, 150) for line in lines]
    task = CharLMTask("charlm-toy", PackedSequences.pack(encoded[:100]), PackedSequences.pack(encoded[100:]))
    before, after = train_epochs(task, "rhn4", epochs=4, batch_size=10)
    assert after["val_loss"] < before - 1.5  # from ln(98) = 4.6 towards ln(5)
    assert after["val_bpc"] == pytest.approx(after["val_loss"] / math.log(2))


def test_tinyshakespeare_char_task_holds_out_the_tail(shared_data):
    task = make_char_lm_task("tinyshakespeare", data_dir=shared_data, val_units=10**7)
    vocab = CharVocabulary()
    text = "".join(vocab.symbols[i] if i != vocab.eos_id else "\n" for i in task.valid.ids)
    assert text.endswith("Whiles thou art waking.\n")  # the last line of the corpus
    lines = [line.strip() for line in (shared_data / "tinyshakespeare" / "input.txt").read_text().splitlines()]
    kept = [line for line in lines if line]
    assert task.valid.lengths().sum() + task.example_units().sum() == sum(len(line) + 1 for line in kept)
    assert len(task.valid) == round(0.05 * len(kept))


def test_bad_names_give_one_line_errors():
    with pytest.raises(ParameterError, match="dataset"):
        make_word_lm_task("tinyshakespeare")
    with pytest.raises(ParameterError, match="dataset"):
        make_char_lm_task("wikitext-2")
    with pytest.raises(ParameterError, match="family"):
        tiny_word_task().build_model("gru2", 8)
    with pytest.raises(TypeError, match="profile"):  # a task knows nothing of profiles
        make_char_lm_task(profile="smoke")


@pytest.mark.parametrize("scales,factory", [(WORD_LM_SCALES, "make_word_lm_task"), (CHAR_LM_SCALES, "make_char_lm_task")])
@pytest.mark.parametrize("profile", ["smoke", "laptop", "paper"])
def test_scales_are_valid_sweeps_in_the_engines_vocabulary(scales, factory, profile):
    settings = scales[profile]
    spec = SweepSpec.from_dict(dict(name="lm", task=dict(factory=f"scaling_core.tasks.language:{factory}"),
                                    shard_sizes=settings["shard_sizes"], searches=settings["searches"],
                                    trainer=settings["trainer"]))
    assert len(spec.shard_sizes) == 3 if profile == "smoke" else len(spec.shard_sizes) >= 6
    assert {s.family for s in spec.searches} == set(settings["families"])
    orders = math.log10(spec.shard_sizes[-1] / spec.shard_sizes[0])
    assert orders >= {"smoke": 0.6, "laptop": 1.5, "paper": 2.0}[profile]


def test_carried_state_lives_in_buffers_written_in_place_and_zeroed_per_stream():
    from scaling_core.data.lm_batches import CarriedState, stream_batches

    carried = CarriedState()
    assert carried.current() is None
    first = (torch.ones(2, 3), torch.full((2, 3), 2.0))
    carried.keep(first)
    buffers = carried.state
    carried.keep((torch.full((2, 3), 5.0, requires_grad=True) * 1, torch.zeros(2, 3)))
    assert carried.state[0] is buffers[0] and torch.equal(buffers[0], torch.full((2, 3), 5.0))  # in place
    assert not buffers[0].requires_grad  # detached: truncated back-propagation
    start = carried.current()
    assert start[0] is not buffers[0] and torch.equal(start[0], buffers[0])  # a copy the next chunk may save
    list(stream_batches(np.arange(50), 2, 5, "cpu", carried))  # a new stream starts from zeros ...
    assert carried.state[0] is buffers[0] and not buffers[0].any()  # ... in the same buffers
    carried.keep(torch.ones(4, 3))  # another shape: new buffers
    assert carried.state.shape == (4, 3)
