"""The attention encoder-decoder: shapes, attention, parameter count, learning, decoding."""

from __future__ import annotations

import pytest
import torch

from scaling_core.models.seq2seq import Seq2Seq, Seq2SeqConfig, expected_num_params

PAD, BOS, EOS = 0, 2, 3


def _batch(generator: torch.Generator, batch: int = 4, src_len: int = 7, tgt_len: int = 5):
    """Random source/target ids in 4..11 with ragged source lengths, padded with PAD."""
    src = torch.randint(4, 12, (batch, src_len), generator=generator)
    src_lens = torch.randint(1, src_len + 1, (batch,), generator=generator)
    src_lens[0] = src_len
    src = src.masked_fill(torch.arange(src_len)[None, :] >= src_lens[:, None], PAD)
    tgt_in = torch.randint(4, 12, (batch, tgt_len), generator=generator)
    tgt_in[:, 0] = BOS
    return src, src_lens, tgt_in


@pytest.mark.parametrize("input_feed", [False, True])
def test_shapes_and_attention_weights(input_feed):
    torch.manual_seed(0)
    config = Seq2SeqConfig(src_vocab_size=12, tgt_vocab_size=13, width=8, input_feed=input_feed)
    model = Seq2Seq(config).eval()
    src, src_lens, tgt_in = _batch(torch.Generator().manual_seed(1))
    logits, weights = model(src, src_lens, tgt_in, return_attention=True)
    assert logits.shape == (4, 5, 13)
    assert weights.shape == (4, 5, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, 5))
    padded = torch.arange(7)[None, :] >= src_lens[:, None]  # (B, S)
    assert torch.all(weights.masked_select(padded[:, None, :].expand_as(weights)) == 0)
    assert torch.all(weights[~padded[:, None, :].expand_as(weights)] > 0)


def test_padding_does_not_change_outputs():
    torch.manual_seed(0)
    model = Seq2Seq(Seq2SeqConfig(src_vocab_size=12, tgt_vocab_size=13, width=8)).eval()
    src, src_lens, tgt_in = _batch(torch.Generator().manual_seed(2))
    longer = torch.cat([src, torch.full((4, 3), PAD)], dim=1)
    torch.testing.assert_close(model(src, src_lens, tgt_in), model(longer, src_lens, tgt_in))


@pytest.mark.parametrize(
    "width, enc, dec, feed", [(8, 2, 1, False), (16, 2, 2, False), (10, 1, 3, True), (24, 3, 2, True)]
)
def test_parameter_count_matches_closed_form(width, enc, dec, feed):
    config = Seq2SeqConfig(src_vocab_size=37, tgt_vocab_size=29, width=width,
                           encoder_layers=enc, decoder_layers=dec, input_feed=feed)
    assert Seq2Seq(config).num_params() == expected_num_params(config)


def test_parameter_count_grows_quadratically_in_width():
    counts = [expected_num_params(Seq2SeqConfig(100, 100, width=w)) for w in (64, 128)]
    # 8 LSTM matrices of d x d per layer dominate once d >> V: ratio between 2 (embeddings) and 4
    assert 2.0 < counts[1] / counts[0] < 4.0


@pytest.mark.parametrize("width", [0, 7, 2.0])
def test_bad_width_is_rejected(width):
    with pytest.raises(ValueError, match="width"):
        Seq2SeqConfig(width=width)


def test_training_steps_reduce_loss_and_learn_to_copy():
    """A few hundred Adam steps on a copy task: loss falls and greedy output copies the source."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(3)
    config = Seq2SeqConfig(src_vocab_size=10, tgt_vocab_size=10, width=32, dropout=0.0,
                           decoder_layers=1)
    model = Seq2Seq(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def copy_batch():
        src = torch.randint(4, 10, (32, 4), generator=gen)
        tgt_in = torch.cat([torch.full((32, 1), BOS), src], dim=1)
        tgt_out = torch.cat([src, torch.full((32, 1), EOS)], dim=1)
        return src, torch.full((32,), 4), tgt_in, tgt_out

    losses = []
    for _ in range(150):
        src, lens, tgt_in, tgt_out = copy_batch()
        logits = model(src, lens, tgt_in)
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), tgt_out)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.3 * sum(losses[:10]) / 10
    src, lens, _, tgt_out = copy_batch()
    out = model.eval().greedy_translate(src, lens, max_len=8)
    assert (out[:, :5] == tgt_out).float().mean() > 0.9


def test_greedy_stops_and_pads_after_eos():
    torch.manual_seed(0)
    config = Seq2SeqConfig(src_vocab_size=12, tgt_vocab_size=6, width=8, input_feed=True)
    model = Seq2Seq(config).eval()
    with torch.no_grad():  # make EOS overwhelmingly likely: every sequence ends at step 1
        model.decoder.out.bias[EOS] = 100.0
    src, src_lens, _ = _batch(torch.Generator().manual_seed(4))
    out = model.greedy_translate(src, src_lens, max_len=10)
    assert out.shape == (4, 1) and torch.all(out[:, 0] == EOS)


@pytest.mark.parametrize("input_feed", [False, True])
def test_greedy_agrees_with_teacher_forcing_on_its_own_output(input_feed):
    torch.manual_seed(0)
    config = Seq2SeqConfig(src_vocab_size=12, tgt_vocab_size=13, width=8, input_feed=input_feed,
                           eos_id=99)  # an id never produced: decode the full max_len
    model = Seq2Seq(config).eval()
    src, src_lens, _ = _batch(torch.Generator().manual_seed(5))
    out = model.greedy_translate(src, src_lens, max_len=6)  # (B, 6)
    tgt_in = torch.cat([torch.full((4, 1), BOS), out[:, :-1]], dim=1)
    assert torch.equal(model(src, src_lens, tgt_in).argmax(-1), out)
