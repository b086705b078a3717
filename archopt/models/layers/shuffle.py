"""ShuffleNet channel shuffle: interleave the channels of ``groups`` groups."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Reshape (N, g*k, H, W) to (N, g, k, H, W), swap the group axes, flatten back.

    Channel ``i*k + j`` moves to position ``j*g + i``; ``channel_shuffle(y, k)`` undoes it.
    """
    n, c, h, w = x.shape
    if c % groups:
        raise ValueError(f"channel_shuffle: {c} channels cannot be split into {groups} groups")
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        # Channels-last (what training on a GPU uses): the channels of each pixel are
        # adjacent in memory, so shuffle them there and stay channels-last. The NCHW
        # reshape would copy to NCHW here and the next convolution would copy back.
        pixels = x.permute(0, 2, 3, 1)  # (N, H, W, C): a view, contiguous
        shuffled = pixels.reshape(n, h, w, groups, c // groups).transpose(3, 4).reshape(n, h, w, c)
        return shuffled.permute(0, 3, 1, 2)
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ChannelShuffle(nn.Module):
    """Module form of :func:`channel_shuffle` (no parameters, no MACs)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
