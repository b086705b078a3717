"""torch.compile with the inductor backend: the eager module compiled for CPU or CUDA.

Compiled under ``torch.inference_mode`` with freezing (weights folded into the graph as
constants, which lets inductor prepack convolution weights on the CPU), falling back to
an unfrozen compile for graphs inductor cannot freeze; ``frozen`` records which. The
compilation happens on the first call (``compiles_on_first_call``), so the benchmark
books it as ``load_ms``, never as an inference.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from archopt.runtimes import Runner, Runtime, register_runtime

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)


def cxx_compiler() -> str | None:
    """The C++ compiler inductor would call (``$CXX``, else its configured ones), if found."""
    from torch._inductor import config

    candidates = [os.environ.get("CXX"), *config.cpp.cxx]
    return next((path for c in candidates if c and (path := shutil.which(c))), None)


def own_frame(net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``net``'s forward behind a code object of its own.

    Dynamo keys its compilations on code objects: compiled directly, every instance of a
    class would share one (``forward``), so a load could reuse another's compilation
    (timing no compile at all), and past dynamo's recompile limit (8) it would fail.
    """

    def forward(x: torch.Tensor) -> torch.Tensor:
        return net(x)

    forward.__code__ = forward.__code__.replace()  # a copy: a cache of its own
    return forward


def compiled(net: nn.Module, freezing: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    import torch

    # No FX graph cache: each load is a cold compile, what a fresh deployment pays.
    options = {"freezing": freezing, "fx_graph_cache": False}
    return torch.compile(own_frame(net), backend="inductor", fullgraph=True, dynamic=False,
                         options=options)


@register_runtime
class Inductor(Runtime):
    name = "inductor"
    compiles_on_first_call = True

    def __init__(self) -> None:
        self._frozen: bool | None = None  # of the latest load, for details()

    def unavailable(self, device: str) -> str | None:
        import torch

        if cxx_compiler() is None:
            from torch._inductor import config

            names = ", ".join(c for c in (os.environ.get("CXX"), *config.cpp.cxx) if c)
            return (f"inductor needs a C++ compiler and none of {names} is on PATH "
                    "(install g++, or set CXX)")
        if not device.startswith("cuda"):
            return None
        if not torch.cuda.is_available():
            return f"no CUDA device visible to torch {torch.__version__}"
        try:
            import triton  # noqa: F401
        except ImportError:
            return "inductor on CUDA needs triton, which is not installed"
        return None

    def load(self, onnx_path: str, model: nn.Module, device: str, threads: int) -> Runner:
        import torch

        net = copy.deepcopy(model).eval().to(device)
        compiled_net = None

        def compile_on(x: torch.Tensor) -> None:
            nonlocal compiled_net
            try:
                compiled_net = compiled(net, freezing=True)
                compiled_net(x)
                self._frozen = True
            # Inductor's freezing passes fail on some graphs (BackendCompilerFailed).
            except RuntimeError as error:
                log.info("inductor cannot freeze this graph (%s); compiling unfrozen",
                         type(error).__name__)
                compiled_net = compiled(net, freezing=False)
                compiled_net(x)
                self._frozen = False

        def run(image):
            with torch.inference_mode():
                x = torch.from_numpy(image).to(device)
                if compiled_net is None:
                    compile_on(x)
                # .cpu() waits for the GPU: the timing covers the whole forward pass.
                return compiled_net(x).cpu().numpy()

        return run

    def versions(self) -> dict[str, str]:
        import torch

        return {"torch_inductor": torch.__version__, "cxx": cxx_compiler() or "not found"}

    def details(self, device: str) -> dict[str, Any]:
        return {"device": device, "frozen": self._frozen}
