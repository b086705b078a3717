"""Static costs of a network: parameters, MACs per image, checkpoint bytes."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch
from torch import nn

from archopt.datasets import get_dataset


def input_shape(dataset: str) -> tuple[int, int, int]:
    """(C, H, W) of one input image of ``dataset`` (its registry entry)."""
    return get_dataset(dataset).image_shape


def count_params(model: nn.Module) -> int:
    """Number of parameters, as the dissertation counts them (buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


@cache
def built_params(factory: Callable[..., nn.Module], *args: object) -> int:
    """Parameters of ``factory(*args)``, built once on the meta device and memoized.

    The key is the factory itself (a function, or a technique's bound hook), so a
    technique registered again under the same name never reuses another's counts.
    """
    with torch.device("meta"):
        return count_params(factory(*args))


def _conv_macs(module: nn.Conv2d, inputs: tuple, output: torch.Tensor) -> int:
    kh, kw = module.kernel_size
    return output.numel() * (module.in_channels // module.groups) * kh * kw


def _conv_transpose_macs(module: nn.ConvTranspose2d, inputs: tuple, output: torch.Tensor) -> int:
    kh, kw = module.kernel_size
    return inputs[0].numel() * (module.out_channels // module.groups) * kh * kw


def _linear_macs(module: nn.Linear, inputs: tuple, output: torch.Tensor) -> int:
    return output.numel() * module.in_features


MAC_RULES: dict[type, Callable] = {
    nn.Conv2d: _conv_macs,
    nn.ConvTranspose2d: _conv_transpose_macs,
    nn.Linear: _linear_macs,
}


def mac_rule(cls: type) -> Callable | None:
    """The MAC rule of a module class or of its nearest ancestor that has one: subclasses
    such as ``GroupedPointwiseConv`` are convolutions too."""
    return next((MAC_RULES[base] for base in cls.__mro__ if base in MAC_RULES), None)


@dataclass(frozen=True)
class ForwardProfile:
    macs: int  # multiply-accumulates of convolutions and linear layers
    activation_floats: int  # floats output by every leaf module (kept for backward)


def profile_forward(build: Callable[[], nn.Module], shape: tuple[int, int, int]) -> ForwardProfile:
    """MACs and activation size of one forward pass on one image of ``shape``.

    Convolutions and linear layers count MACs; the channel shift, shuffle, pooling,
    norms and activations count zero. The network is built on the meta device, so no
    memory is allocated, even for the 54 M-parameter generator.
    """
    with torch.device("meta"):
        model = build()
    macs = floats = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal macs, floats
        floats += output.numel()
        rule = mac_rule(type(module))
        if rule is not None:
            macs += rule(module, inputs, output)

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            model.eval()(torch.empty(1, *shape, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return ForwardProfile(macs, floats)


def count_macs(build: Callable[[], nn.Module], shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of one forward pass on one image (see :func:`profile_forward`)."""
    return profile_forward(build, shape).macs


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: the storage size of a checkpoint."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes
