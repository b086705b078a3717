"""The training memory-format rule and the crash context of archopt.train.layout."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from archopt.models import get_model
from archopt.train.layout import hidden_channel_counts, training_memory_format


@pytest.mark.parametrize(
    "name, expected",
    [
        ("resnet20", torch.channels_last),
        ("resnet20-dsc", torch.channels_last),
        ("resnet20-shift-0.35", torch.channels_last),
        ("squeezenet", torch.channels_last),  # its 10-channel logits conv is not hidden
        ("resnet20-2.67", torch.contiguous_format),  # widths 5/11/23: the crashing shortcut
        ("resnet20-2.4_block", torch.contiguous_format),  # 6-channel bottlenecks
    ],
)
def test_narrow_networks_train_contiguous_on_cpu(name, expected):
    assert training_memory_format(get_model(name), "cpu") == expected


def test_cuda_always_trains_channels_last():
    assert training_memory_format(get_model("resnet20-2.67"), "cuda") == torch.channels_last


def test_hidden_channels_skip_the_image_and_the_logits():
    counts = hidden_channel_counts(get_model("squeezenet"))
    assert 3 not in counts and 10 not in counts and min(counts) == 16


def test_a_native_crash_leaves_the_context_line_and_the_stack_in_the_job_log(tmp_path):
    log = tmp_path / "job.log"
    script = textwrap.dedent(
        f"""
        import logging, os, torch
        from archopt.train.layout import dump_traceback_on_crash, native_context
        logger = logging.getLogger("job")
        logger.setLevel(logging.INFO)
        logger.addHandler(logging.FileHandler({str(log)!r}))
        logger.info("%s", native_context("resnet20-2.67", "cpu", torch.contiguous_format))
        dump_traceback_on_crash(logger)
        os.abort()  # what glibc does on heap corruption
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode < 0  # died by a signal, as the oneDNN crash does
    text = log.read_text()
    capability = torch.backends.cpu.get_cpu_capability()
    assert (
        "network resnet20-2.67, device cpu, memory format contiguous (NCHW), "
        f"CPU capability {capability}" in text
    )
    assert "Fatal Python error: Aborted" in text and "report this line" in text
