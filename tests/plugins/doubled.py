"""A test plugin technique whose layer has two implementations (tests/test_bench_implementations.py).

Doubling by a product or by a sum gives identical float32 outputs, so the bench may
time both and keep the faster, as it does for the shipped shift's three.
"""

from __future__ import annotations

import torch
from torch import nn

from archopt.techniques import Technique, register_technique


class Doubling(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.impl = "mul"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if self.impl == "mul" else x + x


@register_technique
class Doubled(Technique):
    name = "doubled"
    label = "Doubled"

    def resnet_body(self, in_planes: int, out_planes: int, stride: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(in_planes, out_planes, 3, stride, 1), Doubling())

    def implementations(self) -> tuple[str, ...]:
        return ("mul", "add")

    def implementation_of(self, model: nn.Module) -> str | None:
        return next((m.impl for m in model.modules() if isinstance(m, Doubling)), None)

    def set_implementation(self, model: nn.Module, impl: str) -> nn.Module:
        for module in model.modules():
            if isinstance(module, Doubling):
                module.impl = impl
        return model
