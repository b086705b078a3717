"""Eager PyTorch: the module itself, in ``torch.inference_mode``, on any torch device."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from archopt.runtimes import Runner, Runtime, register_runtime

if TYPE_CHECKING:
    from torch import nn


def eager_runner(model: nn.Module, device: str = "cpu") -> Runner:
    """Run a copy of ``model`` (eval mode, on ``device``) in ``torch.inference_mode``."""
    import torch

    net = copy.deepcopy(model).eval().to(device)

    def run(image):
        with torch.inference_mode():
            logits = net(torch.from_numpy(image).to(device))
            # .cpu() waits for the GPU to finish: the timing covers the whole forward pass.
            return logits.cpu().numpy()

    return run


@register_runtime
class Eager(Runtime):
    """Always available: the bench job only asks for a CUDA device that torch sees."""

    name = "eager"

    def load(self, onnx_path: str, model: nn.Module, device: str, threads: int) -> Runner:
        # torch's thread count is per process; the bench job sets it to ``threads``.
        return eager_runner(model, device)

    def versions(self) -> dict[str, str]:
        import torch

        return {"torch": torch.__version__}

    def details(self, device: str) -> dict[str, Any]:
        return {"device": device}
