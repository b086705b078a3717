"""The inference runtimes the benchmark stage times, by name (``bench.runtimes``).

A runtime turns a network (its ONNX export, or the eager module itself) into a callable
from one normalized float32 image of shape (1, C, H, W) in host memory to its output in
host memory; the benchmark times that callable the same way for every runtime. Plugins
add runtimes with :func:`register_runtime`, exactly as the shipped ones (``eager``,
``inductor``, ``onnxruntime``, ``openvino``: one file each in this package) do.

Importing this package imports neither torch nor any runtime library (the workflow reads
the registered names while it is parsed): runtime modules import them inside methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

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


_REGISTRY: dict[str, Runtime] = {}
RuntimeClass = TypeVar("RuntimeClass", bound=type[Runtime])


def register_runtime(cls: RuntimeClass) -> RuntimeClass:
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"runtime class {cls.__qualname__} needs a non-empty string 'name'")
    if name in _REGISTRY:
        raise ValueError(
            f"runtime {name!r} is already registered (by {type(_REGISTRY[name]).__qualname__}); "
            f"{cls.__qualname__} cannot register it again"
        )
    deployed = [other.name for other in _REGISTRY.values() if other.deploys_onnx]
    if cls.deploys_onnx and deployed:
        raise ValueError(
            f"runtime {name!r} sets deploys_onnx, but model.onnx is already deployed to "
            f"{deployed[0]!r}"
        )
    _REGISTRY[name] = cls()
    return cls


def _unregister_runtime(name: str) -> None:
    """Remove a registration (for tests, so a runtime they define does not leak)."""
    del _REGISTRY[name]


def list_runtimes() -> list[str]:
    """Registered runtime names, in registration order (shipped ones first)."""
    return list(_REGISTRY)


def check_runtime_names(names: Iterable[str]) -> None:
    """Raise ValueError naming every unknown runtime in ``names`` and the registered ones."""
    unknown = [name for name in names if name not in _REGISTRY]
    if unknown:
        raise ValueError(
            f"config key 'bench.runtimes': unknown runtime {', '.join(map(repr, unknown))}; "
            f"registered runtimes: {', '.join(_REGISTRY)} (a plugin can register more)"
        )


def get_runtime(name: str) -> Runtime:
    """The registered runtime called ``name``."""
    check_runtime_names([name])
    return _REGISTRY[name]


def deployed_runtime() -> Runtime:
    """The runtime ``model.onnx`` is tuned for (see :attr:`Runtime.deploys_onnx`)."""
    for runtime in _REGISTRY.values():
        if runtime.deploys_onnx:
            return runtime
    raise LookupError("no registered runtime sets deploys_onnx: model.onnx has no target")


def _import_shipped_runtimes() -> None:
    """Import every module of this package: each shipped runtime file registers itself,
    so adding one is adding its file (sorted by name: registration order is stable)."""
    import importlib
    import pkgutil

    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{module}")


# After the base class they subclass exists.
_import_shipped_runtimes()
