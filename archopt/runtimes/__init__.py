"""The inference runtimes the benchmark stage times, by name (``bench.runtimes``).

A runtime turns a network (its ONNX export, or the eager module itself) into a callable
from one normalized float32 image of shape (1, C, H, W) in host memory to its output in
host memory; the benchmark times that callable the same way for every runtime. Plugins
add runtimes with :func:`register_runtime`, exactly as the shipped ones (``eager``,
``inductor``, ``onnxruntime``, ``openvino``: one file each in this package, loaded by
the plugin loader on first use) do.

Importing this package imports neither torch nor any runtime library (the workflow reads
the registered names while it is parsed): runtime modules import them inside methods.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from archopt.registry import Registry

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

Runner = Callable[["np.ndarray"], "np.ndarray"]


class Runtime:
    """Base class of an inference runtime; subclass it and decorate with :func:`register_runtime`.

    ``device`` is a torch device string: ``cpu``, ``cuda`` or ``cuda:N``.
    """

    name: ClassVar[str]
    # True for the one runtime ``model.onnx`` is deployed to: the export keeps the shift
    # implementation fastest in it on the CPU, and its CPU benchmark times that very file
    # instead of picking again. Every other (runtime, device) picks its own.
    deploys_onnx: ClassVar[bool] = False
    # True for a runtime whose ``load`` returns before compiling: its first call compiles
    # (a JIT such as torch.compile). The benchmark then counts that call into ``load_ms``
    # and times the next one as ``first_ms``, so compilation is never a timed inference.
    compiles_on_first_call: ClassVar[bool] = False

    def unavailable(self, device: str) -> str | None:
        """None when it can run on ``device``; else the reason, recorded as skipped."""
        return None

    def load(self, onnx_path: str, model: nn.Module, device: str, threads: int) -> Runner:
        """A callable: float32 array of shape (1, C, H, W) -> output array (host memory).

        ``onnx_path`` is the network's ONNX export; ``model`` is the eager module (eval
        mode, on the CPU, a copy this runtime may keep or move) with the same shift
        implementation, for runtimes that do not read ONNX. ``threads`` CPU threads.
        """
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        """Library versions (and similar facts) for the ``env`` record of a bench JSON."""
        return {}

    def details(self, device: str) -> dict[str, Any]:
        """Extra fields of this runtime's result object on ``device`` (e.g. its provider)."""
        return {}


# Loaded on first use, through the plugin loader like a user's runtime.
RUNTIMES: Registry[Runtime] = Registry(
    "runtime", shipped=tuple(f"archopt.runtimes.{name}"
                             for name in ("eager", "inductor", "onnxruntime", "openvino")))
RuntimeClass = TypeVar("RuntimeClass", bound=type[Runtime])
# A runtime's name is its key in a bench JSON, next to these header keys.
RUNTIME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
BENCH_HEADER_KEYS = ("model", "dataset", "device", "images", "env", "storage", "skipped",
                     "jitter")


def register_runtime(cls: RuntimeClass) -> RuntimeClass:
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    name = RUNTIMES.check_class(cls, Runtime, RUNTIME_NAME, BENCH_HEADER_KEYS)
    deployed = [other.name for other in RUNTIMES.values() if other.deploys_onnx]
    if cls.deploys_onnx and deployed and name not in RUNTIMES:
        raise ValueError(
            f"runtime {name!r} sets deploys_onnx, but model.onnx is already deployed to "
            f"{deployed[0]!r}"
        )
    RUNTIMES.add(name, cls())
    return cls


_unregister_runtime = RUNTIMES.remove  # for tests: a runtime they register does not leak


list_runtimes = RUNTIMES.names  # in registration order, shipped ones first
get_runtime = RUNTIMES.get


def check_runtime_names(names: Iterable[str]) -> None:
    """Raise ValueError naming every unknown runtime in ``names`` and the registered ones."""
    RUNTIMES.check_names(names, "bench.runtimes")


def deployed_runtime() -> Runtime:
    """The runtime ``model.onnx`` is tuned for (see :attr:`Runtime.deploys_onnx`)."""
    for runtime in RUNTIMES.values():
        if runtime.deploys_onnx:
            return runtime
    raise LookupError("no registered runtime sets deploys_onnx: model.onnx has no target")

