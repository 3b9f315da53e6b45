"""Stacked models: the loop LSTM equals nn.LSTM, and a stack trains each member as it would train alone."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from scaling_core.models.loop_lstm import LoopLSTM, loop_cell_from, loop_lstm_from, run_padded, with_loop_lstms
from scaling_core.models.lstm_lm import LSTMConfig, LSTMLanguageModel
from scaling_core.models.resnet import ResNet, ResNetConfig
from scaling_core.models.rhn import RHNConfig, RHNLanguageModel
from scaling_core.models.seq2seq import Seq2Seq, Seq2SeqConfig
from scaling_core.sweep.stacked import ModelStack, StackedOptimizer, clip_member_grads
from scaling_core.models.mnist1d_nets import MLP


@pytest.mark.parametrize("bidirectional", [False, True])
def test_loop_lstm_equals_nn_lstm_on_full_and_packed_sequences(bidirectional):
    torch.manual_seed(0)
    lstm = nn.LSTM(5, 7, num_layers=2, batch_first=True, bidirectional=bidirectional)
    loop = loop_lstm_from(lstm)
    x = torch.randn(3, 6, 5)
    state = (torch.randn(2 * (2 if bidirectional else 1), 3, 7), torch.randn(2 * (2 if bidirectional else 1), 3, 7))
    expected, (h, c) = lstm(x, state)
    got, (h2, c2) = loop(x, state)
    for a, b in ((expected, got), (h, h2), (c, c2)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    lengths = torch.tensor([6, 2, 4])
    packed, (h, c) = lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    expected, _ = pad_packed_sequence(packed, batch_first=True, total_length=6)
    for runner in (lstm, loop):  # run_padded gives nn.LSTM's packed result for both kinds
        got, (h2, c2) = run_padded(runner, x, lengths)
        for a, b in ((expected, got), (h, h2), (c, c2)):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_loop_cell_equals_lstm_cell_and_models_swap_every_lstm():
    torch.manual_seed(1)
    cell = nn.LSTMCell(4, 6)
    x, h, c = torch.randn(2, 4), torch.randn(2, 6), torch.randn(2, 6)
    for a, b in zip(cell(x, (h, c)), loop_cell_from(cell)(x, (h, c))):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    model = Seq2Seq(Seq2SeqConfig(20, 20, width=8, dropout=0.0))
    swapped = with_loop_lstms(model)
    assert not any(isinstance(m, nn.LSTM) for m in swapped.modules())
    assert sum(isinstance(m, LoopLSTM) for m in swapped.modules()) == 2
    assert swapped.state_dict().keys() == model.state_dict().keys()
    src, lens, tgt = torch.randint(4, 20, (3, 5)), torch.tensor([5, 3, 2]), torch.randint(4, 20, (3, 4))
    torch.testing.assert_close(model(src, lens, tgt), swapped(src, lens, tgt), atol=1e-5, rtol=1e-4)


def test_loop_lstm_rejects_dropout_between_layers():
    with pytest.raises(ValueError, match="parameter 'lstm'"):
        loop_lstm_from(nn.LSTM(3, 4, num_layers=2, dropout=0.5, batch_first=True))


def _next_token(model, x, y):
    logits, _ = model(x)
    return F.cross_entropy(logits.flatten(0, 1), y.flatten())


def _classify(model, x, y):
    return F.cross_entropy(model(x), y)


CASES = {
    "mlp": (lambda: MLP(16), lambda g, k: (torch.randn(k, 8, 40, generator=g), torch.randint(0, 10, (k, 8), generator=g)),
            _classify, "nesterov", None),
    "resnet-batchnorm": (lambda: ResNet(ResNetConfig(dim=1, in_channels=1, width_factor=0.125)),
                         lambda g, k: (torch.randn(k, 8, 1, 40, generator=g), torch.randint(0, 10, (k, 8), generator=g)),
                         _classify, "sgd", None),
    "lstm": (lambda: LSTMLanguageModel(LSTMConfig(30, 8, 2)),
             lambda g, k: (torch.randint(0, 30, (k, 4, 6), generator=g), torch.randint(0, 30, (k, 4, 6), generator=g)),
             _next_token, "adam", 0.5),
    "rhn": (lambda: RHNLanguageModel(RHNConfig(30, 8, 3)),
            lambda g, k: (torch.randint(0, 30, (k, 4, 6), generator=g), torch.randint(0, 30, (k, 4, 6), generator=g)),
            _next_token, "adam", 0.5),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_stack_trains_every_member_as_it_would_train_alone(case):
    build, batches, loss_fn, optimizer, clip = CASES[case]
    lrs, steps = [1e-3, 1e-2, 3e-2], 4
    alone = []
    for k in range(3):
        torch.manual_seed(k)
        alone.append(build())
    stack = ModelStack(alone)
    stacked_opt = StackedOptimizer(optimizer, stack.parameters(), lrs)
    data = [batches(torch.Generator().manual_seed(step), 3) for step in range(steps)]
    for x, y in data:
        losses = stack.map(loss_fn, x, y)
        stacked_opt.zero_grad()
        losses.sum().backward()
        if clip:
            clip_member_grads(stack.parameters(), clip)
        stacked_opt.step()
    for k, model in enumerate(alone):
        options = {"adam": {}, "sgd": {}, "nesterov": {"momentum": 0.9, "nesterov": True}}[optimizer]
        opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(model.parameters(), lr=lrs[k], **options)
        for x, y in data:
            loss = loss_fn(model, x[k], y[k])
            opt.zero_grad()
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
        member = stack.member(k)
        for (name, a), b in zip(model.state_dict().items(), member.state_dict().values()):
            torch.testing.assert_close(a.float(), b.float(), atol=2e-5, rtol=1e-4, msg=f"{case} member {k} {name}")


def test_keep_drops_members_from_the_stack_and_its_optimizer():
    models = [MLP(4) for _ in range(4)]
    stack = ModelStack(models)
    opt = StackedOptimizer("adam", stack.parameters(), [1e-3, 2e-3, 3e-3, 4e-3])
    x, y = torch.randn(4, 5, 40), torch.randint(0, 10, (4, 5))
    stack.map(_classify, x, y).sum().backward()
    opt.step()
    kept = stack.member(2).state_dict()
    stack.keep([0, 2], opt)
    assert len(stack) == 2 and opt.lrs.tolist() == pytest.approx([1e-3, 3e-3])
    for a, b in zip(kept.values(), stack.member(1).state_dict().values()):
        assert torch.equal(a, b)
    stack.map(_classify, x[[0, 2]], y[[0, 2]]).sum().backward()
    opt.step()  # shapes of the kept optimizer state match the kept parameters


def test_stacked_optimizer_checks_its_parameters():
    stack = ModelStack([MLP(4), MLP(4)])
    with pytest.raises(ValueError, match="parameter 'optimizer'"):
        StackedOptimizer("rmsprop", stack.parameters(), [1e-3, 1e-3])
    with pytest.raises(ValueError, match="parameter 'lrs'"):
        StackedOptimizer("adam", stack.parameters(), [1e-3])
    with pytest.raises(ValueError, match="parameter 'models'"):
        ModelStack([])
