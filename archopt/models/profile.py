"""Static costs of a network: parameters, MACs per image, checkpoint bytes."""

from __future__ import annotations

import io
from collections.abc import Callable

import torch
from torch import nn

IMAGE_SHAPES = {"cifar10": (3, 32, 32), "cifar100": (3, 32, 32), "maps": (3, 256, 256)}


def input_shape(dataset: str) -> tuple[int, int, int]:
    """(C, H, W) of one input image of ``dataset``."""
    try:
        return IMAGE_SHAPES[dataset]
    except KeyError:
        raise ValueError(f"unknown dataset {dataset!r}: expected one of {tuple(IMAGE_SHAPES)}") from None


def count_params(model: nn.Module) -> int:
    """Number of parameters, as the dissertation counts them (buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


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


def count_macs(build: Callable[[], nn.Module], shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of one forward pass on one image of ``shape``.

    Convolutions and linear layers are counted; the channel shift, shuffle, pooling,
    norms and activations count zero. The network is built on the meta device, so no
    memory is allocated and even the 54 M-parameter generator is profiled instantly.
    """
    with torch.device("meta"):
        model = build()
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += MAC_RULES[type(module)](module, inputs, output)

    handles = [m.register_forward_hook(hook) for m in model.modules() if type(m) in MAC_RULES]
    try:
        with torch.no_grad():
            model.eval()(torch.empty(1, *shape, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return total


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: the storage size of a checkpoint."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes
