"""OpenVINO: the ONNX export compiled for the CPU plugin (or OpenVINO's GPU plugin).

Compiled as its ``benchmark_app`` does for single-image latency: the LATENCY hint, one
stream, ``INFERENCE_NUM_THREADS = bench.threads``, and float32 inference precision
(OpenVINO otherwise runs bfloat16 on CPUs that have it, which would not match eager
PyTorch within ``bench.atol``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archopt.runtimes import Runner, Runtime, register_runtime

if TYPE_CHECKING:
    from torch import nn

NOT_INSTALLED = "openvino is not installed (pip install openvino)"


def ov_device(device: str) -> str:
    """OpenVINO's device name for a torch device string: ``cuda[:N]`` -> ``GPU[.N]``."""
    if not device.startswith("cuda"):
        return "CPU"
    index = device.partition(":")[2]
    return f"GPU.{index}" if index else "GPU"


def compile_options(threads: int) -> dict[str, Any]:
    return {
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,
        "INFERENCE_NUM_THREADS": threads,
        "INFERENCE_PRECISION_HINT": "f32",
    }


@register_runtime
class OpenVino(Runtime):
    name = "openvino"

    def unavailable(self, device: str) -> str | None:
        try:
            import openvino as ov
        except ImportError:
            return NOT_INSTALLED
        available = ov.Core().available_devices
        wanted = ov_device(device)
        if wanted == "CPU" or wanted in available or (wanted == "GPU" and "GPU.0" in available):
            return None
        # OpenVINO's GPU plugin drives Intel GPUs only: an NVIDIA GPU never appears here.
        return (f"OpenVINO {ov.__version__} has no {wanted} device (available: "
                f"{', '.join(available)}); its GPU plugin drives Intel GPUs, not CUDA ones")

    def load(self, onnx_path: str, model: nn.Module, device: str, threads: int) -> Runner:
        import openvino as ov

        options = compile_options(threads)
        if ov_device(device) != "CPU":
            options.pop("INFERENCE_NUM_THREADS")  # a CPU plugin property
        compiled = ov.Core().compile_model(onnx_path, ov_device(device), options)
        request = compiled.create_infer_request()
        output = compiled.output(0)

        def run(image):
            # infer() copies the input in and (share_outputs=False) the output out to host
            # arrays of its own: the whole path, and outputs later calls do not overwrite.
            return request.infer({0: image}, share_outputs=False)[output]

        return run

    def versions(self) -> dict[str, str]:
        try:
            import openvino as ov
        except ImportError:
            return {"openvino": "not installed"}
        return {"openvino": ov.__version__,
                "openvino_devices": ", ".join(ov.Core().available_devices)}

    def details(self, device: str) -> dict[str, Any]:
        return {"ov_device": ov_device(device), "performance_hint": "LATENCY", "streams": 1,
                "precision": "f32"}
