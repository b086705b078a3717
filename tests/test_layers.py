"""The shared technique modules: shift, shuffle, DSC, grouped 1x1, and their ONNX export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from archopt.export import onnx_bytes
from archopt.models.layers import (
    SHIFT_IMPLEMENTATIONS,
    ChannelShift,
    ChannelShuffle,
    DepthwiseSeparableConv,
    GroupedPointwiseConv,
    channel_shuffle,
    shift_directions,
)
from archopt.runtimes.onnxruntime import ort_run, ort_session


def shift_reference(x: torch.Tensor, groups) -> torch.Tensor:
    """Pixel loop over out[c, y, x] = in[c, y+dy, x+dx], zero outside."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    for first, stop, dy, dx in groups:
        for y in range(h):
            for x_ in range(w):
                if 0 <= y + dy < h and 0 <= x_ + dx < w:
                    out[:, first:stop, y, x_] = x[:, first:stop, y + dy, x_ + dx]
    return out


def one_hot_depthwise(x: torch.Tensor) -> torch.Tensor:
    """The same shift as a depthwise conv with one-hot 3x3 kernels, built independently."""
    c = x.shape[1]
    weight = torch.zeros(c, 1, 3, 3)
    for first, stop, dy, dx in shift_directions(c):
        weight[first:stop, 0, 1 + dy, 1 + dx] = 1
    return F.conv2d(x, weight, padding=1, groups=c)


def test_groups_cover_every_offset_once_and_every_channel():
    groups = shift_directions(20)
    assert {(dy, dx) for _, _, dy, dx in groups} == {(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)}
    assert groups[0][0] == 0 and groups[-1][1] == 20
    assert all(a[1] == b[0] for a, b in zip(groups, groups[1:]))
    sizes = {(dy, dx): stop - first for first, stop, dy, dx in groups}
    assert sizes[(0, 0)] == 2 + 20 % 9 and sizes[(-1, 1)] == 2


@pytest.mark.parametrize("impl", SHIFT_IMPLEMENTATIONS)
@pytest.mark.parametrize("channels", [9, 20, 4])
def test_shift_equals_one_hot_depthwise_conv_and_reference(impl, channels):
    torch.manual_seed(channels)
    x = torch.randn(2, channels, 7, 6)
    shift = ChannelShift(channels, impl=impl)
    y = shift(x)
    torch.testing.assert_close(y, one_hot_depthwise(x), atol=1e-6, rtol=0)
    torch.testing.assert_close(y, shift_reference(x, shift_directions(channels)), atol=1e-6, rtol=0)


def test_shift_moves_each_group_both_ways():
    x = torch.zeros(1, 9, 5, 5)
    x[:, :, 2, 2] = 1  # one bright pixel per channel
    y = ChannelShift(9)(x)
    for first, _, dy, dx in shift_directions(9):
        # out[y, x] = in[y + dy, x + dx]: the pixel lands at (2 - dy, 2 - dx)
        assert y[0, first, 2 - dy, 2 - dx] == 1 and y[0, first].sum() == 1


@pytest.mark.parametrize("impl", SHIFT_IMPLEMENTATIONS)
def test_shift_has_no_parameters_and_passes_gradients(impl):
    shift = ChannelShift(18, impl=impl)
    assert sum(p.numel() for p in shift.parameters()) == 0
    assert "kernels" not in shift.state_dict()
    x = torch.randn(1, 18, 6, 6, requires_grad=True)
    shift(x).sum().backward()
    # Interior pixels receive gradient 1 from exactly one output position.
    assert x.grad is not None and torch.all(x.grad[..., 1:-1, 1:-1] == 1)


def test_shift_rejects_an_unknown_implementation():
    with pytest.raises(ValueError, match="unknown impl 'roll'"):
        ChannelShift(9, impl="roll")


def test_shuffle_is_a_permutation_undone_by_its_inverse():
    x = torch.randn(2, 12, 3, 3)
    y = channel_shuffle(x, 3)
    assert not torch.equal(x, y)
    assert sorted(y.sum(dim=(0, 2, 3)).tolist()) == sorted(x.sum(dim=(0, 2, 3)).tolist())
    torch.testing.assert_close(channel_shuffle(y, 4), x, atol=0, rtol=0)
    assert torch.equal(y[:, 1], x[:, 4])  # channel i*k + j -> j*g + i with g=3, k=4


def test_shuffle_rejects_indivisible_channels():
    with pytest.raises(ValueError, match="10 channels cannot be split into 3 groups"):
        channel_shuffle(torch.zeros(1, 10, 2, 2), 3)


def test_dsc_and_grouped_conv_parameter_counts():
    # The dissertation's worked examples (M=N=32, K=3 and K=4, g=8).
    assert sum(p.numel() for p in DepthwiseSeparableConv(32, 32, 3).parameters()) == 32 * 9 + 32 * 32
    assert sum(p.numel() for p in DepthwiseSeparableConv(32, 32, 4, 2, 1).parameters()) == 1536
    assert sum(p.numel() for p in GroupedPointwiseConv(32, 16, 8).parameters()) == 32 * 16 // 8
    with pytest.raises(ValueError, match="divisible by groups=3"):
        GroupedPointwiseConv(32, 16, 3)


TECHNIQUE_MODULES = {
    "shift-conv": lambda: ChannelShift(20, impl="conv"),
    "shift-slice": lambda: ChannelShift(20, impl="slice"),
    "shift-pad": lambda: ChannelShift(20, impl="pad"),
    "shuffle": lambda: ChannelShuffle(4),
    "dsc": lambda: DepthwiseSeparableConv(20, 16, 3, 2),
    "grouped1x1": lambda: GroupedPointwiseConv(20, 8, 4),
}


@pytest.mark.parametrize("name", TECHNIQUE_MODULES)
def test_technique_exports_to_onnx_and_matches_eager(name):
    torch.manual_seed(0)
    module: nn.Module = TECHNIQUE_MODULES[name]().eval()
    x = torch.randn(1, 20, 9, 9)
    session = ort_session(onnx_bytes(module, x))
    with torch.inference_mode():
        expected = module(x).numpy()
    np.testing.assert_allclose(ort_run(session, x.numpy()), expected, atol=1e-5, rtol=0)
