"""LSTM and RHN language models: shapes, parameter counts against closed forms, learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from scaling_core.models import lstm_lm, rhn
from scaling_core.models.lstm_lm import LSTMConfig, LSTMLanguageModel
from scaling_core.models.rhn import RHNCell, RHNConfig, RHNLanguageModel


def lstm(vocab, width, layers, tie=False):
    return LSTMLanguageModel(LSTMConfig(vocab, width=width, num_layers=layers, tie_weights=tie))


def highway(vocab, width, depth, tie=False):
    return RHNLanguageModel(RHNConfig(vocab, width=width, depth=depth, tie_weights=tie))


@pytest.mark.parametrize("make", [lambda: lstm(50, 12, 2), lambda: lstm(50, 12, 4), lambda: highway(50, 12, 5)])
def test_forward_shapes_and_state_carry(make):
    torch.manual_seed(0)
    model = make()
    tokens = torch.randint(0, 50, (3, 7))
    logits, state = model(tokens)
    assert logits.shape == (3, 7, 50)
    # running the sequence in two chunks with the carried state gives the same logits
    first, carried = model(tokens[:, :4])
    second, _ = model(tokens[:, 4:], carried)
    torch.testing.assert_close(torch.cat([first, second], dim=1), logits)


@pytest.mark.parametrize("vocab,width,layers", [(50, 12, 2), (1000, 32, 4), (7, 3, 1)])
@pytest.mark.parametrize("tie", [False, True])
def test_lstm_parameter_count_matches_closed_form(vocab, width, layers, tie):
    model = lstm(vocab, width, layers, tie)
    assert model.num_params() == lstm_lm.expected_num_params(vocab, width, layers, tie)
    # and the closed form is the textbook one, independent of torch's bookkeeping
    untied = vocab * width + layers * 4 * (2 * width * width + 2 * width) + width * vocab + vocab
    assert lstm_lm.expected_num_params(vocab, width, layers) == untied


@pytest.mark.parametrize("vocab,width,depth", [(98, 16, 10), (1000, 32, 5), (7, 3, 1)])
@pytest.mark.parametrize("tie", [False, True])
def test_rhn_parameter_count_matches_closed_form(vocab, width, depth, tie):
    assert highway(vocab, width, depth, tie).num_params() == rhn.expected_num_params(vocab, width, depth, tie)


def test_rhn_cell_matches_the_highway_equations():
    torch.manual_seed(1)
    width, depth = 4, 3
    cell = RHNCell(width, depth, transform_bias=-1.0)
    x, state = torch.randn(2, 1, width), torch.randn(2, width)
    _, got = cell(x, state)
    s = state
    for layer in range(depth):
        weight = cell.recurrent_weight[layer]  # (H, 2H) = [R_H | R_T]
        pre = s @ weight + cell.bias[layer] + (x[:, 0] @ cell.input_weight if layer == 0 else 0)
        h, t = torch.tanh(pre[:, :width]), torch.sigmoid(pre[:, width:])
        s = h * t + s * (1 - t)
    torch.testing.assert_close(got, s)


def test_transform_gate_starts_mostly_carrying():
    cell = RHNCell(8, 2, transform_bias=-2.0)
    assert torch.all(cell.bias[:, 8:] == -2.0) and torch.all(cell.bias[:, :8] == 0.0)


@pytest.mark.parametrize("make", [lambda: lstm(20, 16, 2), lambda: highway(20, 16, 3)])
def test_a_few_adam_steps_reduce_training_loss(make):
    torch.manual_seed(0)
    model = make()
    # a repetitive sequence: predictable, so the loss must fall well below ln(20) = 3.0
    tokens = torch.arange(20).repeat(4, 2)[:, :30]  # (4, 30)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss():
        logits, _ = model(tokens[:, :-1])
        return F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())

    before = loss().item()
    for _ in range(30):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert loss().item() < 0.5 * before
