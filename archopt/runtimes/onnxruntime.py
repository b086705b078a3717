"""ONNX Runtime: the ONNX export, on the CPU or CUDA execution provider.

``model.onnx`` is deployed to ONNX Runtime on the CPU: its shift implementation is the
one fastest here, and the CPU benchmark times that file as is.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from archopt.runtimes import Runner, Runtime, register_runtime

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"


def _cuda_index(device: str) -> int | None:
    """The GPU index of a torch device string, None for the CPU."""
    if not device.startswith("cuda"):
        return None
    return int(device.partition(":")[2] or 0)


def _provider(device: str) -> str:
    return CPU_PROVIDER if _cuda_index(device) is None else CUDA_PROVIDER


def ort_session(model: bytes | str | os.PathLike, threads: int = 1, cuda: int | None = None):
    """An ``InferenceSession`` with ``threads`` intra-op threads, on GPU ``cuda`` when given."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    providers: list[Any] = [CPU_PROVIDER]
    if cuda is not None:
        providers.insert(0, (CUDA_PROVIDER, {"device_id": cuda}))
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=providers)


def ort_run(session, image: np.ndarray) -> np.ndarray:
    """The first output of ``session`` on its single input."""
    return session.run(None, {session.get_inputs()[0].name: image})[0]


def ort_runner(session) -> Runner:
    """A runner calling ``session`` on its single input."""
    input_name = session.get_inputs()[0].name

    def run(image):
        return session.run(None, {input_name: image})[0]

    return run


@register_runtime
class OnnxRuntime(Runtime):
    name = "onnxruntime"
    deploys_onnx = True

    def unavailable(self, device: str) -> str | None:
        import onnxruntime as ort

        if _cuda_index(device) is None or CUDA_PROVIDER in ort.get_available_providers():
            return None
        return f"onnxruntime {ort.__version__} has no {CUDA_PROVIDER} (install onnxruntime-gpu)"

    def load(self, onnx_path: str, model: nn.Module, device: str, threads: int) -> Runner:
        session = ort_session(onnx_path, threads, cuda=_cuda_index(device))
        provider = session.get_providers()[0]
        if provider != _provider(device):
            # A silent fallback would time the CPU under the GPU's name.
            raise RuntimeError(f"ONNX Runtime fell back to {provider} instead of {_provider(device)}")
        return ort_runner(session)

    def versions(self) -> dict[str, str]:
        import onnxruntime as ort

        return {
            "onnxruntime": ort.__version__,
            "onnxruntime_providers": ", ".join(ort.get_available_providers()),
        }

    def details(self, device: str) -> dict[str, Any]:
        # load() refuses a session whose first provider is not this one.
        return {"provider": _provider(device)}
