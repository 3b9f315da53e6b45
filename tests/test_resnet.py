"""The ResNet family: shapes, parameter counts against the closed form, training, validation."""

from __future__ import annotations

import pytest
import torch

from scaling_core.models.resnet import ResNet, ResNetConfig, expected_num_params
from scaling_core.profiles import ParameterError


@pytest.mark.parametrize(
    "dim, in_channels, spatial",
    [(2, 3, (32, 32)), (2, 1, (28, 28)), (1, 1, (40,))],
)
def test_forward_shape(dim, in_channels, spatial):
    torch.manual_seed(0)
    model = ResNet(ResNetConfig(dim=dim, in_channels=in_channels, num_classes=7, width_factor=0.25))
    logits = model(torch.randn(5, in_channels, *spatial))
    assert logits.shape == (5, 7)
    assert torch.isfinite(logits).all()


def test_stage_widths_scale_and_round():
    assert ResNetConfig(width_factor=1.0).stage_widths == (16, 32, 64)
    assert ResNetConfig(width_factor=1.5).stage_widths == (24, 48, 96)
    assert ResNetConfig(width_factor=0.0625).stage_widths == (1, 2, 4)
    assert ResNetConfig(base_width=5, width_factor=0.1).stage_widths == (1, 1, 2)


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("width", [0.0625, 0.3, 1.0, 1.5])
@pytest.mark.parametrize("norm", ["batch", "group"])
def test_num_params_matches_closed_form(dim, depth, width, norm):
    config = ResNetConfig(dim=dim, in_channels=2 + dim, blocks_per_stage=depth, width_factor=width, norm=norm)
    assert ResNet(config).num_params() == expected_num_params(config)


def test_num_params_of_known_networks():
    # ResNet-20 of He et al. (2016) with 1x1 projection shortcuts: 0.27M parameters.
    resnet20 = ResNetConfig(blocks_per_stage=3)
    assert expected_num_params(resnet20) == ResNet(resnet20).num_params() == 272_474
    # Smallest 1-D net, counted by hand: widths (1, 2, 4), kernel 3, 1 input channel.
    # stem 3+2; stage 0: 3+3+4; stage 1: (3+6+4)*2 + (1+2)*2; stage 2: (6+12+4)*4 + (2+2)*4; head 5*10.
    tiny = ResNetConfig(dim=1, in_channels=1, width_factor=0.0625)
    assert ResNet(tiny).num_params() == 5 + 10 + 26 + 6 + 88 + 16 + 50


def test_size_grows_with_depth_and_width():
    counts = [
        [ResNet(ResNetConfig(blocks_per_stage=d, width_factor=w)).num_params() for w in (0.125, 0.5, 1.5)]
        for d in (1, 2, 3)
    ]
    for row in counts:
        assert row == sorted(row) and len(set(row)) == 3
    for column in zip(*counts):
        assert list(column) == sorted(column) and len(set(column)) == 3


@pytest.mark.parametrize("width", [0.05, 4.1, 0.0])
def test_width_factor_outside_range_is_rejected(width):
    with pytest.raises(ParameterError, match=r"width_factor.*\[0\.0625, 4\.0\]"):
        ResNetConfig(width_factor=width)


@pytest.mark.parametrize("field, value", [("blocks_per_stage", 0), ("dim", 3), ("norm", "layer")])
def test_other_bad_settings_are_rejected(field, value):
    with pytest.raises(ParameterError, match=field):
        ResNetConfig(**{field: value})


def test_channels_last_gives_same_logits():
    torch.manual_seed(0)
    model = ResNet(ResNetConfig(width_factor=0.25)).eval()
    x = torch.randn(4, 3, 16, 16)
    expected = model(x)
    model = model.to(memory_format=torch.channels_last)
    got = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dim, norm", [(2, "batch"), (1, "batch"), (2, "group")])
def test_a_few_nesterov_steps_reduce_the_loss(dim, norm):
    torch.manual_seed(0)
    config = ResNetConfig(dim=dim, in_channels=3, num_classes=4, width_factor=0.25, norm=norm)
    model = ResNet(config)
    x = torch.randn(32, 3, *((12, 12) if dim == 2 else (24,)))
    y = torch.randint(0, 4, (32,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    losses = []
    for _ in range(25):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
