"""DS2 and attention recognizers: shapes, parameter counts, finite losses, and learning."""

from __future__ import annotations

import pytest
import torch

from scaling_core.models.attention_asr import END, IGNORE, AttentionASR, AttentionASRConfig, output_targets
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from scaling_core.models.ds2 import DS2, BiLSTMStack, DS2Config, greedy_ctc_decode, reverse_within_lengths

N_FEATURES = 41


def lstm_params(inputs: int, hidden: int) -> int:
    """One direction of one PyTorch LSTM layer: 4 gates, input and recurrent weights, two biases."""
    return 4 * (hidden * inputs + hidden * hidden + 2 * hidden)


def tiny_batch(seed: int = 0):
    """Two padded utterances of 60 and 45 frames with 8- and 5-character targets."""
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(2, 60, N_FEATURES, generator=g)
    features[1, 45:] = 0.0  # zero padding, as batches are built
    lengths = torch.tensor([60, 45])
    targets = torch.tensor([[3, 1, 20, 27, 19, 1, 20, 19], [4, 15, 7, 27, 19, 0, 0, 0]])  # "cat sats", "dog s"
    return features, lengths, targets, torch.tensor([8, 5])


def fit(model, batch, steps: int, lr: float = 3e-3) -> tuple[float, float]:
    """Loss before and after ``steps`` Adam steps on one batch."""
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    first = model.loss(*batch).item()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = model.loss(*batch)
        loss.backward()
        optimizer.step()
    return first, model.loss(*batch).item()


def small_ds2(**overrides) -> DS2:
    torch.manual_seed(0)
    settings = dict(n_features=N_FEATURES, conv_channels=4, conv_kernels=((11, 5), (7, 5)), hidden=16,
                    n_layers=2)
    return DS2(DS2Config(**{**settings, **overrides}))


def test_ds2_shapes_and_output_lengths():
    model = small_ds2()
    features, lengths, _, _ = tiny_batch()
    log_probs, out_lengths = model(features, lengths)
    assert log_probs.shape == (2, 30, 29)  # time stride 2: 60 frames -> 30
    assert out_lengths.tolist() == [30, 23]
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(2, 30), atol=1e-5)


def test_ds2_padding_does_not_change_an_utterance():
    model = small_ds2().eval()
    features, lengths, _, _ = tiny_batch()
    alone, _ = model(features[1:, :45], lengths[1:])
    padded, _ = model(features, lengths)
    assert torch.allclose(alone[0], padded[1, :23], atol=1e-5)


def test_reverse_within_lengths_flips_each_sequence_and_keeps_its_padding():
    x = torch.arange(10.0).reshape(2, 5, 1)
    flipped = reverse_within_lengths(x, torch.tensor([5, 3]))
    assert flipped[..., 0].tolist() == [[4, 3, 2, 1, 0], [7, 6, 5, 8, 9]]
    assert torch.equal(reverse_within_lengths(flipped, torch.tensor([5, 3])), x)


def test_bilstm_stack_equals_a_packed_bidirectional_lstm():
    """Two dense one-directional LSTMs per layer give nn.LSTM(bidirectional=True)'s packed outputs."""
    torch.manual_seed(0)
    packed_lstm = nn.LSTM(5, 7, num_layers=2, batch_first=True, bidirectional=True)
    stack = BiLSTMStack(5, 7, 2)
    for layer in range(2):
        for lstms, suffix in ((stack.forward_lstms, ""), (stack.backward_lstms, "_reverse")):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(lstms[layer], name + "_l0").data.copy_(getattr(packed_lstm, f"{name}_l{layer}{suffix}"))
    x, lengths = torch.randn(3, 6, 5), torch.tensor([6, 2, 4])
    x[1, 2:], x[2, 4:] = 9.0, -9.0  # padding that must not leak into the outputs
    packed, _ = packed_lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    expected, _ = pad_packed_sequence(packed, batch_first=True, total_length=6)
    assert torch.allclose(stack(x, lengths), expected, atol=1e-6)


@pytest.mark.parametrize("hidden, layers", [(16, 1), (16, 2), (32, 4)])
def test_ds2_parameter_count(hidden, layers):
    model = small_ds2(hidden=hidden, n_layers=layers)
    channels = 4
    convs = (11 * 5 * 1 * channels + 2 * channels) + (7 * 5 * channels * channels + 2 * channels)
    freq = (N_FEATURES - 1) // 2 + 1  # 41 -> 21 -> 11 bins
    freq = (freq - 1) // 2 + 1
    rnn = 2 * lstm_params(channels * freq, hidden) + 2 * (layers - 1) * lstm_params(2 * hidden, hidden)
    head = 2 * hidden * 29 + 29
    assert model.num_params() == convs + rnn + head


def test_ds2_ctc_loss_is_finite_and_falls_when_training():
    model = small_ds2()
    batch = tiny_batch()
    first, last = fit(model, batch, steps=30)
    assert torch.isfinite(torch.tensor(first)) and last < 0.5 * first


def test_greedy_ctc_decode_merges_repeats_and_drops_blanks():
    path = torch.tensor([[1, 1, 0, 1, 2, 2, 0, 0, 3, 3]])  # "a a b c" with blanks and repeats
    log_probs = torch.nn.functional.one_hot(path, 5).float().log()
    assert greedy_ctc_decode(log_probs, torch.tensor([10])) == [[1, 1, 2, 3]]
    assert greedy_ctc_decode(log_probs, torch.tensor([3])) == [[1]]
    assert greedy_ctc_decode(log_probs, torch.tensor([4])) == [[1, 1]]


def small_attention(**overrides) -> AttentionASR:
    torch.manual_seed(0)
    return AttentionASR(AttentionASRConfig(**{"n_features": N_FEATURES, "hidden": 16, "embedding": 8,
                                              **overrides}))


def test_attention_encoder_pools_twice_and_decoder_emits_one_step_per_output():
    model = small_attention()
    features, lengths, targets, target_lengths = tiny_batch()
    states, keys, mask = model.encode(features, lengths)
    assert states.shape == (2, 15, 32) and keys.shape == (2, 15, 16)  # 60 -> 30 -> 15 frames
    assert mask.sum(1).tolist() == [15, 12]  # 45 -> 23 -> 12
    assert model(features, lengths, targets, target_lengths).shape == (2, 9, 29)


def test_output_targets_append_end_and_ignore_padding():
    targets = torch.tensor([[5, 6, 7], [8, 0, 0]])
    expected = torch.tensor([[5, 6, 7, END], [8, END, IGNORE, IGNORE]])
    assert torch.equal(output_targets(targets, torch.tensor([3, 1])), expected)


@pytest.mark.parametrize("hidden", [16, 24])
@pytest.mark.parametrize("input_feed", [False, True])
def test_attention_parameter_count(hidden, input_feed):
    model = small_attention(hidden=hidden, input_feed=input_feed)
    h, e = hidden, 8
    encoder = 2 * lstm_params(N_FEATURES, h) + 2 * 2 * lstm_params(2 * h, h)
    decoder_inputs = e + 2 * h if input_feed else e
    decoder = (29 + 1) * e + lstm_params(decoder_inputs, h) + (2 * h) * h + (3 * h) * 29 + 29
    assert model.num_params() == encoder + decoder


@pytest.mark.parametrize("input_feed", [False, True])
def test_teacher_forced_logits_equal_decoding_one_character_at_a_time(input_feed):
    model = small_attention(input_feed=input_feed).eval()
    features, lengths, targets, target_lengths = tiny_batch()
    with torch.no_grad():
        together = model(features, lengths, targets, target_lengths)  # (B, U + 1, classes)
        memory = model.encode(features, lengths)
        inputs = torch.cat([torch.full((2, 1), model.start_token), targets], 1)
        carry, one_by_one = model.initial_carry(2, "cpu"), []
        for u in range(inputs.shape[1]):
            logits, carry = model.step(inputs[:, u : u + 1], carry, memory)
            one_by_one.append(logits)
    torch.testing.assert_close(together, torch.cat(one_by_one, 1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("input_feed", [False, True])
def test_attention_loss_is_finite_and_falls_and_decoding_learns_the_batch(input_feed):
    model = small_attention(hidden=32, input_feed=input_feed)
    batch = tiny_batch()
    first, last = fit(model, batch, steps=60, lr=1e-2)
    assert torch.isfinite(torch.tensor(first)) and last < 0.2 * first
    model.eval()
    decoded = model.decode(batch[0], batch[1])
    assert decoded[0] == batch[2][0].tolist() and decoded[1] == batch[2][1, :5].tolist()


def test_attention_decoding_stops_at_the_cap():
    model = small_attention(max_output_length=7).eval()
    features, lengths, _, _ = tiny_batch()
    assert all(len(labels) <= 7 for labels in model.decode(features, lengths))


def test_attention_decoding_emits_at_most_one_character_per_encoder_frame():
    model = small_attention().eval()
    torch.nn.init.constant_(model.head.bias, 0.0)
    with torch.no_grad():
        model.head.bias[5] = 100.0  # always the letter "e", never END
    features, lengths, _, _ = tiny_batch()
    assert [len(labels) for labels in model.decode(features, lengths)] == [15, 12]
