"""A runtime plugin as a user would write it (not shipped): the eager model traced with
torch.jit.trace and frozen."""

import torch

from archopt.runtimes import Runtime, register_runtime


@register_runtime
class TorchScript(Runtime):
    name = "jit"

    def unavailable(self, device: str) -> str | None:
        return None if device == "cpu" else "this plugin only traces for the CPU"

    def load(self, onnx_path, model, device, threads):
        traced = []  # traced on the first (warm-up) image: its shape is the network's input

        def run(image):
            with torch.inference_mode():
                batch = torch.from_numpy(image)
                if not traced:
                    traced.append(torch.jit.freeze(torch.jit.trace(model.eval(), batch)))
                return traced[0](batch).numpy()

        return run

    def versions(self) -> dict[str, str]:
        return {"torch.jit": torch.__version__}
