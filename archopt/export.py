"""ONNX export and the metadata it carries (sessions live with their runtime: archopt.runtimes)."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

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
            # The slice implementation of the shift uses step-1 slices the folder skips.
            warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
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


def with_metadata(model_bytes: bytes, properties: dict[str, str]) -> bytes:
    """The ONNX model with ``properties`` added to its ``metadata_props``."""
    import onnx

    proto = onnx.load_from_string(model_bytes)
    onnx.helper.set_model_props(proto, {**onnx_metadata(model_bytes), **properties})
    return proto.SerializeToString()


def onnx_metadata(model_bytes: bytes) -> dict[str, str]:
    """The ``metadata_props`` of a serialized ONNX model."""
    import onnx

    return {prop.key: prop.value for prop in onnx.load_from_string(model_bytes).metadata_props}
