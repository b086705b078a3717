"""The memory format training runs in, and the context a native crash report needs.

Rule: CUDA trains in ``channels_last`` (what cuDNN's tensor-core kernels want). The CPU
trains in ``channels_last`` unless the network has a hidden layer narrower than
``NARROW_CHANNELS``; such networks (the channel- and bottleneck-reduced ResNets) train in
the default contiguous (NCHW) layout. Two reasons, both measured:

* oneDNN's backward pass of a 1x1 stride-2 convolution in ``channels_last`` with small
  channel counts (5->11, 6->12: the projection shortcut of every channel-reduced ResNet)
  corrupts the heap on CPUs whose kernels are AVX2 (``free(): invalid next size``,
  ``double free``); ``DNNL_MAX_CPU_ISA`` does not avoid it. tests/test_native_kernels.py
  runs every network of the paper preset on the AVX2 kernels under this rule.
* Narrow networks train faster contiguous anyway (``benchmarks/train_throughput.py
  --layouts``: ResNet20-2.67 1.98x, ResNet20-2.4_block 1.45x), while the others train
  faster in ``channels_last`` (ResNet20 1.22x, ResNet20-DSC 1.47x).
"""

from __future__ import annotations

import faulthandler
import logging
import sys

import torch
from torch import nn

NARROW_CHANNELS = 16


def hidden_channel_counts(model: nn.Module) -> list[int]:
    """Channel counts of the feature maps between convolutions: every convolution's input
    and output, except the image entering the first and the logits leaving the last."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    counts = [conv.in_channels for conv in convs[1:]]
    return counts + [conv.out_channels for conv in convs[:-1]]


def training_memory_format(model: nn.Module, device: torch.device | str) -> torch.memory_format:
    """The layout of ``model``'s weights and batches when training or evaluating on ``device``."""
    if torch.device(device).type == "cuda":
        return torch.channels_last
    narrow = min(hidden_channel_counts(model), default=NARROW_CHANNELS) < NARROW_CHANNELS
    return torch.contiguous_format if narrow else torch.channels_last


def memory_format_name(memory_format: torch.memory_format) -> str:
    return "channels_last" if memory_format == torch.channels_last else "contiguous (NCHW)"


def native_context(
    network: str, device: torch.device | str, memory_format: torch.memory_format
) -> str:
    """Everything a bug report about a crash in native code needs, on one line."""
    return (
        f"native-code context: network {network}, device {torch.device(device)}, memory format "
        f"{memory_format_name(memory_format)}, CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}, "
        f"oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'} "
        "(if this job dies with a signal, report this line)"
    )


def dump_traceback_on_crash(logger: logging.Logger) -> None:
    """Make a fatal signal append the Python stack to the job's log file (stderr without one).

    A SIGSEGV/SIGABRT inside a kernel kills the process before any Python handler runs;
    ``faulthandler`` writes from the signal handler itself, right after the context line.
    """
    log_files = [h.stream for h in logger.handlers if isinstance(h, logging.FileHandler)]
    target = log_files[0] if log_files else sys.stderr
    target.flush()
    faulthandler.enable(file=target, all_threads=True)
