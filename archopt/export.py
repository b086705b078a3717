"""ONNX export and ONNX Runtime sessions (CPU execution provider by default)."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

OPSET = 17


def onnx_bytes(model: nn.Module, example: torch.Tensor) -> bytes:
    """Serialize ``model`` (in eval mode) traced on ``example`` to ONNX.

    Uses the TorchScript-based exporter (``dynamo=False``): it needs no extra package
    and handles every archopt module, the channel shift's three implementations included.
    """
    buffer = io.BytesIO()
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                model,
                (example,),
                buffer,
                dynamo=False,
                opset_version=OPSET,
                input_names=["input"],
                output_names=["output"],
            )
    finally:
        model.train(was_training)
    return buffer.getvalue()


def export_onnx(model: nn.Module, example: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write the ONNX file atomically; returns its path."""
    from archopt.io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_bytes(onnx_bytes(model, example))
    return Path(path)


def ort_session(model_bytes_or_path: bytes | str | os.PathLike, threads: int = 1, cuda: bool = False):
    """An ONNX Runtime session with ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    if cuda:
        providers.insert(0, "CUDAExecutionProvider")
    source = model_bytes_or_path if isinstance(model_bytes_or_path, bytes) else str(model_bytes_or_path)
    return ort.InferenceSession(source, sess_options=options, providers=providers)


def ort_run(session, x: np.ndarray) -> np.ndarray:
    return session.run(None, {session.get_inputs()[0].name: x})[0]
