"""Numeric precision and compilation of a training run (``train.precision``, ``train.compile``).

* ``fp32`` (the default, the paper's): full float32 everywhere. On CUDA this turns TF32
  off for cuDNN convolutions too, which torch otherwise enables by default.
* ``tf32``: float32 tensors, but CUDA convolutions and matmuls round their inputs to
  TF32 (10-bit mantissa) on tensor cores.
* ``bf16``: the forward pass and the loss under ``torch.autocast`` with bfloat16; weights,
  gradients and the optimizer stay float32.

``tf32`` and ``bf16`` are refused on a CPU device, naming the key: the CPU has no TF32
(recording ``tf32`` for an fp32 run would misstate it), and bfloat16 on the CPU is a
configuration archopt has neither tested nor measured; a run that asked for a GPU
precision and got a CPU is a placement problem, said as such rather than hidden.

``train.compile`` compiles the network with ``torch.compile(mode="reduce-overhead")``
(inductor kernels replayed as CUDA graphs: the host no longer dispatches every op). It is
refused on the CPU: CUDA graphs are its point, and on a 2-core CPU inductor took 35 s to
compile a two-layer network's step, a cost no CPU measurement has shown it recovers.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import nn

PRECISIONS = ("fp32", "tf32", "bf16")
COMPILE_MODE = "reduce-overhead"


def check_settings(precision: str, compile_step: bool, device: torch.device | str) -> None:
    """Refuse an unknown precision, or a GPU-only setting on a CPU device, naming the key."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"config key 'train.precision' is {precision!r}; expected one of {list(PRECISIONS)}"
        )
    device = torch.device(device)
    if device.type == "cuda":
        return
    if precision != "fp32":
        raise ValueError(
            f"config key 'train.precision' is {precision!r}, which needs a CUDA device, but "
            f"this job runs on {device}; set train.precision: fp32 to train on the CPU"
        )
    if compile_step:
        raise ValueError(
            f"config key 'train.compile' is true, which needs a CUDA device (CUDA graphs), "
            f"but this job runs on {device}; set train.compile: false to train on the CPU"
        )


def apply_precision(precision: str, device: torch.device | str) -> None:
    """Set the process-wide TF32 switches for ``precision`` on a CUDA ``device``.

    The legacy ``allow_tf32`` flags, as ``archopt.bench`` sets them: torch refuses to read
    the TF32 state of a process that mixed them with the newer ``fp32_precision`` API.
    """
    if torch.device(device).type != "cuda":
        return
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    # The fastest kernel for each convolution shape, picked by timing once per shape.
    torch.backends.cudnn.benchmark = True


def autocast(precision: str, device: torch.device | str) -> AbstractContextManager[Any]:
    """The context the forward pass and the loss run in."""
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def precision_in_effect(device: torch.device | str) -> dict[str, bool]:
    """What the kernels really do, for ``metrics.json``: TF32 on CUDA convolutions and
    matmuls (always off on the CPU, which has no TF32), cuDNN's autotuner."""
    if torch.device(device).type != "cuda":
        return {"tf32_conv": False, "tf32_matmul": False, "cudnn_benchmark": False}
    return {
        "tf32_conv": bool(torch.backends.cudnn.allow_tf32),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }


def compiled(model: nn.Module, compile_step: bool) -> nn.Module:
    """``model`` itself, or its compiled form (which shares its parameters and buffers)."""
    # Static shapes: one CUDA graph for the full batch, one for an epoch's last partial one.
    return torch.compile(model, mode=COMPILE_MODE, dynamic=False) if compile_step else model
