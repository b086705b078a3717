"""Runtime plugins that fail the ways foreign runtimes do (not shipped): one raises while
loading, one kills its own process in native code (``os.abort()``, as a segfaulting
compiler would), one runs but computes something else than the network."""

import os

import numpy as np
import torch

from archopt.runtimes import Runtime, register_runtime


@register_runtime
class RaisesOnLoad(Runtime):
    name = "raises"

    def load(self, onnx_path, model, device, threads):
        raise RuntimeError("cannot compile this graph\nsecond line of the native message")


@register_runtime
class Aborts(Runtime):
    name = "aborts"

    def load(self, onnx_path, model, device, threads):
        os.abort()


@register_runtime
class OffByOne(Runtime):
    """Eager PyTorch plus 1 on every logit: far beyond any bench.atol."""

    name = "offbyone"

    def load(self, onnx_path, model, device, threads):
        net = model.eval()

        def run(image: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return net(torch.from_numpy(image)).numpy() + 1.0

        return run


@register_runtime
class CrashesOnQdq(Runtime):
    """ONNX Runtime, except that compiling a QDQ int8 file kills the process (as OpenVINO
    2026.4.1 did on a GhostNet-style network's ``qdq_s8s8.onnx``)."""

    name = "qdqcrash"

    def load(self, onnx_path, model, device, threads):
        from archopt.runtimes.onnxruntime import ort_runner, ort_session

        if "qdq" in os.path.basename(onnx_path):
            os.abort()
        return ort_runner(ort_session(onnx_path, threads))


@register_runtime
class CrashesWhileTiming(Runtime):
    """ONNX Runtime whose QDQ files load and run once, then kill the process: a crash
    while timing, which no single file's load explains."""

    name = "timecrash"

    def load(self, onnx_path, model, device, threads):
        from archopt.runtimes.onnxruntime import ort_runner, ort_session

        run = ort_runner(ort_session(onnx_path, threads))
        calls = []

        def crashing(image: np.ndarray) -> np.ndarray:
            calls.append(1)
            if "qdq" in os.path.basename(onnx_path) and len(calls) > 1:
                os.abort()
            return run(image)

        return crashing
