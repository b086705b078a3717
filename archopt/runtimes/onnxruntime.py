"""ONNX Runtime: the ONNX export, on the CPU or CUDA execution provider.

``model.onnx`` is deployed to ONNX Runtime on the CPU: its shift implementation is the
one fastest here, and the CPU benchmark times that file as is.

On a GPU the CUDA provider runs in full float32 (``use_tf32`` off, as eager PyTorch runs
in the benchmark), and it is used only where a session really runs on it: the CPU package
``onnxruntime`` installed beside ``onnxruntime-gpu`` hides the provider, and a provider
listed without its CUDA libraries falls back to the CPU. Either is refused naming the fix,
:data:`GPU_INSTALL`.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
from typing import TYPE_CHECKING, Any

from archopt.runtimes import Runner, Runtime, register_runtime

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
# onnxruntime-gpu 1.31 is built for CUDA 13 and cuDNN 9, as torch 2.14.1+cu130; its
# ``cuda`` and ``cudnn`` extras are the nvidia-* wheels torch already installs.
GPU_INSTALL = ('pip uninstall -y onnxruntime onnxruntime-gpu && '
               'pip install "onnxruntime-gpu[cuda,cudnn]==1.31.1"')
PACKAGES = ("onnxruntime", "onnxruntime-gpu")  # both provide the ``onnxruntime`` module


def _cuda_index(device: str) -> int | None:
    """The GPU index of a torch device string, None for the CPU."""
    if not device.startswith("cuda"):
        return None
    return int(device.partition(":")[2] or 0)


def _provider(device: str) -> str:
    return CPU_PROVIDER if _cuda_index(device) is None else CUDA_PROVIDER


def session_providers(cuda: int | None) -> list[Any]:
    """The ``providers`` of a session: the CPU's, after CUDA's on GPU ``cuda`` when given.

    ``use_tf32`` 0: ONNX Runtime's CUDA provider otherwise rounds convolution and matmul
    inputs to TF32 on Ampere and later GPUs, moving a trained network's logits by ~3e-3,
    beyond ``bench.atol``, while eager PyTorch runs in float32 (``configure_torch``).
    """
    if cuda is None:
        return [CPU_PROVIDER]
    return [(CUDA_PROVIDER, {"device_id": cuda, "use_tf32": 0}), CPU_PROVIDER]


def ort_session(model: bytes | str | os.PathLike, threads: int = 1, cuda: int | None = None):
    """An ``InferenceSession`` with ``threads`` intra-op threads, on GPU ``cuda`` when given."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=session_providers(cuda))


def ort_run(session, image: np.ndarray) -> np.ndarray:
    """The first output of ``session`` on its single input."""
    return session.run(None, {session.get_inputs()[0].name: image})[0]


def ort_runner(session) -> Runner:
    """A runner calling ``session`` on its single input."""
    input_name = session.get_inputs()[0].name

    def run(image):
        return session.run(None, {input_name: image})[0]

    return run


def installed_packages() -> dict[str, str]:
    """Installed distributions of :data:`PACKAGES`, name -> version."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def tiny_onnx() -> bytes:
    """A one-node float32 graph (y = x + x): enough for a session to place a kernel."""
    import onnx
    from onnx import TensorProto, helper

    tensor = [1, 4]
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])], "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, tensor)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, tensor)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # read by every ONNX Runtime archopt supports
    onnx.checker.check_model(model)
    return model.SerializeToString()


@functools.cache
def cuda_unavailable(index: int) -> str | None:
    """Why ONNX Runtime cannot run on GPU ``index`` (None: it can), with the fix.

    Checked for real, once per process: a session of :func:`tiny_onnx` must come up with
    the CUDA provider first, as ONNX Runtime falls back to the CPU (with a log line, not
    an error) where the provider's CUDA or cuDNN libraries are missing.
    """
    import onnxruntime as ort

    installed = installed_packages()
    if len(installed) > 1:
        versions = " and ".join(f"{name} {version}" for name, version in installed.items())
        return (f"{versions} are both installed, and the CPU package's files hide the "
                f"{CUDA_PROVIDER}: {GPU_INSTALL}")
    if CUDA_PROVIDER not in ort.get_available_providers():
        return f"onnxruntime {ort.__version__} has no {CUDA_PROVIDER}: {GPU_INSTALL}"
    try:
        providers = ort_session(tiny_onnx(), cuda=index).get_providers()
    except Exception as error:  # noqa: BLE001 - the reason is the result
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return f"onnxruntime {ort.__version__} cannot open a session on GPU {index}: {reason}"
    if providers[0] != CUDA_PROVIDER:
        return (f"onnxruntime {ort.__version__} lists the {CUDA_PROVIDER}, but a session on "
                f"GPU {index} falls back to the CPU (CUDA 13 or cuDNN 9 libraries missing or "
                f"mismatched): {GPU_INSTALL}")
    return None


@register_runtime
class OnnxRuntime(Runtime):
    name = "onnxruntime"
    deploys_onnx = True

    def unavailable(self, device: str) -> str | None:
        index = _cuda_index(device)
        return None if index is None else cuda_unavailable(index)

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
            # Which package provides it (both installed hide the CUDA provider).
            "onnxruntime_packages": ", ".join(f"{name} {version}" for name, version
                                              in installed_packages().items()),
        }

    def details(self, device: str) -> dict[str, Any]:
        # load() refuses a session whose first provider is not this one.
        if _cuda_index(device) is None:
            return {"provider": CPU_PROVIDER}
        return {"provider": CUDA_PROVIDER, "tf32": False}
