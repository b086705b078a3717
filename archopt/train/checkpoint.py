"""The ``best.pt`` checkpoint format, and the per-epoch resume state of a training run.

``best.pt`` (the contract other stages read)::

    {"model": canonical name, "dataset": str, "state_dict": model.state_dict(),
     "epoch": int, "val_top1": float}

Both files are written through a temporary name and renamed, so a kill never leaves a
half-written file, and read with ``weights_only=True``: only tensors and plain
containers are unpickled.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archopt.io import atomic_path
from archopt.models import get_model, parse_name

CHECKPOINT_KEYS = ("model", "dataset", "state_dict", "epoch", "val_top1")


class CheckpointError(ValueError):
    """A checkpoint or resume state is missing, unreadable, or for another run; names the file."""


def save_torch_atomic(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def first_line(error: BaseException) -> str:
    """A one-line reason: torch's messages run to paragraphs, and some (``EOFError()``
    from an empty file) have no text at all."""
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else f"{type(error).__name__}, e.g. an empty file"


def read_torch_dict(path: str | os.PathLike, what: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """``torch.load`` a dict holding ``keys``; every failure is a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, not a torch file, forbidden pickle...
        raise CheckpointError(
            f"{what} {path} is corrupt or not a PyTorch file ({first_line(error)})"
        ) from None
    if not isinstance(payload, dict) or not set(keys) <= set(payload):
        found = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{what} {path} lacks the keys {list(keys)} (found {found})")
    return payload


def apply_state(
    apply: Callable[[dict[str, Any]], None],
    state: dict[str, Any],
    path: Path,
    what: str,
    advice: str,
) -> None:
    """``apply(state)``, where weights that do not fit the network (a state written by
    another archopt version, say) become a CheckpointError naming the file."""
    try:
        apply(state)
    except (RuntimeError, KeyError, ValueError, TypeError) as error:
        raise CheckpointError(
            f"{what} {path} does not fit this run ({first_line(error)}); {advice}"
        ) from None


def save_checkpoint(
    path: str | os.PathLike,
    model: str,
    dataset: str,
    state_dict: dict[str, torch.Tensor],
    epoch: int,
    val_top1: float,
) -> None:
    # Weights are stored contiguous so the file does not depend on the training layout.
    weights = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    save_torch_atomic(
        path,
        {
            "model": model,
            "dataset": dataset,
            "state_dict": weights,
            "epoch": epoch,
            "val_top1": val_top1,
        },
    )


# The type of each field of ``best.pt`` (bool is an int to Python: refused separately).
CHECKPOINT_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,), "dataset": (str,), "state_dict": (dict,), "epoch": (int,),
    "val_top1": (int, float),
}


def check_checkpoint_fields(checkpoint: dict[str, Any], path: str | os.PathLike) -> None:
    """CheckpointError naming the file and field when one has the wrong type (a ``model``
    of 123 or a list as ``dataset`` failed later as a raw AttributeError/TypeError)."""
    for key, types in CHECKPOINT_TYPES.items():
        value = checkpoint[key]
        if not isinstance(value, types) or isinstance(value, bool):
            expected = " or ".join(kind.__name__ for kind in types)
            raise CheckpointError(f"checkpoint {path}: field {key!r} must be of type {expected}, got "
                                  f"{type(value).__name__} {value!r:.60}")


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    checkpoint = read_torch_dict(path, "checkpoint", CHECKPOINT_KEYS)
    check_checkpoint_fields(checkpoint, path)
    return checkpoint


def load_weights(
    path: str | os.PathLike, model: str | None = None, dataset: str | None = None
) -> nn.Module:
    """Build the checkpoint's network with ``get_model`` and load its weights (eval mode).

    ``model``/``dataset``, when given, must match what the checkpoint holds (aliases are
    accepted for ``model``).
    """
    checkpoint = read_checkpoint(path)
    held = (checkpoint["model"], checkpoint["dataset"])
    if model is not None and parse_name(model).name != checkpoint["model"]:
        raise CheckpointError(f"checkpoint {path} holds {held[0]!r} on {held[1]}, not {model!r}")
    if dataset is not None and dataset != checkpoint["dataset"]:
        raise CheckpointError(f"checkpoint {path} holds {held[0]!r} on {held[1]}, not on {dataset}")
    try:
        network = get_model(checkpoint["model"], checkpoint["dataset"])
        network.load_state_dict(checkpoint["state_dict"])
    except (ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"checkpoint {path} does not fit {held[0]!r}: {first_line(error)}"
        ) from None
    return network.eval()
