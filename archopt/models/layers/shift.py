"""ShiftNet channel shift: a zero-parameter, zero-FLOP spatial operator.

The channels are split into ``kernel_size**2`` contiguous groups, one per offset of a
``kernel_size x kernel_size`` window. Each group is moved by its offset (``out[c, y, x] =
in[c, y + dy, x + dx]``) with zeros shifted in at the border; the centre group stays put
and also takes the ``channels % kernel_size**2`` leftover channels.

Three numerically identical implementations are provided because their speed depends on
the runtime (eager PyTorch vs ONNX Runtime, CPU vs CUDA); ``impl`` selects one:

* ``"conv"``: a depthwise conv whose fixed one-hot kernels live in a non-persistent buffer
  (not trainable, not saved in the state_dict);
* ``"slice"``: copy each group's shifted window into a zero tensor;
* ``"pad"``: zero-pad once, slice each group's window, concatenate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SHIFT_IMPLEMENTATIONS = ("conv", "slice", "pad")
DEFAULT_SHIFT_IMPL = "conv"


def shift_directions(channels: int, kernel_size: int = 3) -> list[tuple[int, int, int, int]]:
    """Contiguous channel groups as ``(first, stop, dy, dx)``, in window order."""
    offsets = kernel_size * kernel_size
    centre = offsets // 2
    base, extra = divmod(channels, offsets)
    groups = []
    start = 0
    for k in range(offsets):
        size = base + (extra if k == centre else 0)
        dy, dx = k // kernel_size - kernel_size // 2, k % kernel_size - kernel_size // 2
        groups.append((start, start + size, dy, dx))
        start += size
    return groups


def one_hot_shift_kernels(channels: int, kernel_size: int = 3) -> Tensor:
    """Depthwise kernels (C, 1, K, K) that reproduce the shift as a convolution."""
    weight = torch.zeros(channels, 1, kernel_size, kernel_size)
    half = kernel_size // 2
    for first, stop, dy, dx in shift_directions(channels, kernel_size):
        weight[first:stop, 0, half + dy, half + dx] = 1.0
    return weight


class ChannelShift(nn.Module):
    """Shift each channel group by one pixel in its direction (no parameters)."""

    def __init__(self, channels: int, kernel_size: int = 3, impl: str = DEFAULT_SHIFT_IMPL) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"ChannelShift: kernel_size must be odd, got {kernel_size}")
        self.channels = channels
        self.kernel_size = kernel_size
        self.groups = [g for g in shift_directions(channels, kernel_size) if g[1] > g[0]]
        self.register_buffer(
            "kernels", one_hot_shift_kernels(channels, kernel_size), persistent=False
        )
        self.impl = impl

    @property
    def impl(self) -> str:
        return self._impl

    @impl.setter
    def impl(self, value: str) -> None:
        if value not in SHIFT_IMPLEMENTATIONS:
            raise ValueError(
                f"ChannelShift: unknown impl {value!r}; expected one of {SHIFT_IMPLEMENTATIONS}"
            )
        self._impl = value

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] != self.channels:
            raise ValueError(f"ChannelShift built for {self.channels} channels, got {x.shape[1]}")
        return getattr(self, f"_forward_{self._impl}")(x)

    def _forward_conv(self, x: Tensor) -> Tensor:
        kernels = self.kernels.to(dtype=x.dtype)
        return F.conv2d(x, kernels, padding=self.kernel_size // 2, groups=self.channels)

    def _forward_slice(self, x: Tensor) -> Tensor:
        out = torch.zeros_like(x)
        h, w = x.shape[-2:]
        for first, stop, dy, dx in self.groups:
            out[:, first:stop, max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)] = x[
                :, first:stop, max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)
            ]
        return out

    def _forward_pad(self, x: Tensor) -> Tensor:
        half = self.kernel_size // 2
        padded = F.pad(x, (half, half, half, half))
        h, w = x.shape[-2:]
        parts = [
            padded[:, first:stop, half + dy : half + dy + h, half + dx : half + dx + w]
            for first, stop, dy, dx in self.groups
        ]
        return torch.cat(parts, dim=1)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_size={self.kernel_size}, impl={self._impl!r}"


def uses_shift(model: nn.Module) -> bool:
    """Whether ``model`` contains a :class:`ChannelShift` (so its implementation matters)."""
    return any(isinstance(module, ChannelShift) for module in model.modules())


def shift_impl_of(model: nn.Module) -> str | None:
    """The implementation ``model``'s shifts run (they are switched together); None
    when it has none."""
    return next((m.impl for m in model.modules() if isinstance(m, ChannelShift)), None)


def set_shift_impl(model: nn.Module, impl: str) -> nn.Module:
    """Switch every :class:`ChannelShift` inside ``model`` to ``impl``; returns the model."""
    for module in model.modules():
        if isinstance(module, ChannelShift):
            module.impl = impl
    return model
