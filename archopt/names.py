"""Model names: the grammar, aliases and the lists of the zoo, without building anything.

Canonical names are the dissertation's names lower-cased without the ``(g = N)`` suffix;
``T`` is any registered technique (``archopt.techniques``) with the family's hook:

* ``squeezenet[-T]``
* ``resnet{20,56,110}[-T]``; expanded ``resnet20-dsc-0.36`` (widths ``int(c / 0.36)``,
  rounded down to the technique's ``width_multiple``); channel-reduced ``resnet20-2.5``
  (widths ``int(c / 2.5)``); bottleneck-reduced ``resnet20-2.4_block`` (bottleneck width
  ``int(out / 2.4)``)
* ``pix2pix[-T]`` (the generator; trained on a paired-image dataset: maps)

The rate grammar accepts any positive rate, so searched widths are buildable by name.
This module imports no torch: the workflow parses names while Snakemake builds the DAG.
``archopt.models.get_model`` builds the network a name stands for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from archopt.datasets import CLASSIFICATION, PAIRED, dataset_names, get_dataset
from archopt.techniques import BASE, FAMILY_HOOKS, get_technique, technique_names

# Residual blocks per stage of the CIFAR ResNets (depth = 6 n + 2).
BLOCKS_PER_STAGE = {20: 3, 56: 9, 110: 18}

FAMILIES = tuple(FAMILY_HOOKS)
RESNET_DEPTHS = tuple(BLOCKS_PER_STAGE)

# The equal-budget networks the dissertation named (Tables 5-12). archopt's own search
# (archopt.search) picks its factors; these names stay buildable for comparison.
PAPER_SCALED_MODELS = {
    "cifar10": (
        "resnet20-dsc-0.36", "resnet20-shift-0.35", "resnet20-shuffle-0.27",
        "resnet56-dsc-0.35", "resnet56-shift-0.34", "resnet56-shuffle-0.25",
        "resnet110-dsc-0.35", "resnet110-shift-0.34", "resnet110-shuffle-0.25",
        "resnet20-2.5", "resnet20-2.4_block", "resnet56-2.6", "resnet56-2.4_block",
        "resnet110-2.6", "resnet110-2.3_block", "resnet20-2.7", "resnet20-2.7_block",
        "resnet56-2.8", "resnet56-2.6_block", "resnet110-2.8", "resnet110-2.6_block",
        "resnet20-3.25", "resnet20-3.4_block", "resnet56-3.5", "resnet56-3.5_block",
        "resnet110-3.5", "resnet110-3.5_block",
    ),
    "cifar100": (
        "resnet20-dsc-0.37", "resnet20-shift-0.36", "resnet20-shuffle-0.27",
        "resnet56-dsc-0.35", "resnet56-shift-0.34", "resnet56-shuffle-0.25",
        "resnet110-dsc-0.35", "resnet110-shift-0.34", "resnet110-shuffle-0.25",
        "resnet20-2.4", "resnet20-2.4_block", "resnet56-2.6", "resnet56-2.4_block",
        "resnet110-2.6", "resnet110-2.3_block", "resnet20-2.6", "resnet20-2.6_block",
        "resnet56-2.7", "resnet56-2.6_block", "resnet110-2.8", "resnet110-2.6_block",
        "resnet20-3", "resnet20-3.5_block", "resnet56-3.3", "resnet56-3.5_block",
        "resnet110-3.5", "resnet110-3.5_block",
    ),
}

_SUFFIX_GROUPS = re.compile(r"\s*\(\s*g\s*=\s*\d+\s*\)\s*$")
_RATE = r"(\d+(?:\.\d+)?)"
# Any technique-shaped word: whether it is registered (and has the family's hook) is
# checked after the match, so an unknown technique gets its own message.
_TECHNIQUE = r"([a-z][a-z0-9_]*)"
_PATTERNS = (
    ("squeezenet", re.compile(rf"^squeezenet(?:-{_TECHNIQUE})?$")),
    ("pix2pix", re.compile(rf"^pix2pix(?:-{_TECHNIQUE})?$")),
    ("resnet_block", re.compile(rf"^resnet(\d+)-{_RATE}_block$")),
    ("resnet_reduced", re.compile(rf"^resnet(\d+)-{_RATE}$")),
    ("resnet", re.compile(rf"^resnet(\d+)(?:-{_TECHNIQUE})?(?:-{_RATE})?$")),
)


@dataclass(frozen=True)
class ModelInfo:
    """What a name means: family, technique and how its widths were scaled."""

    name: str  # canonical
    family: str  # squeezenet | resnet | pix2pix
    technique: str  # base, or a registered technique's name
    scaling: str = "none"  # none | expand | reduce_channels | reduce_block
    factor: float | None = None  # the rate in the name
    depth: int | None = None

    @property
    def is_gan(self) -> bool:
        return self.family == "pix2pix"


def format_rate(rate: float) -> str:
    """Shortest decimal form, as names print it: 2.5, 3, 0.36."""
    return f"{rate:g}"


def canonical_name(name: str) -> str:
    """Normalize a canonical name or any alias printed in the dissertation."""
    text = _SUFFIX_GROUPS.sub("", name.strip()).lower()
    return text.replace("pix-2-pix", "pix2pix").replace(" ", "")


def parse_name(name: str) -> ModelInfo:
    """Parse a model name (canonical or paper alias); raises ``ValueError`` naming it."""
    text = canonical_name(name)
    for kind, pattern in _PATTERNS:
        match = pattern.match(text)
        if match:
            return _info_from_match(kind, match, name)
    raise ValueError(
        f"unknown model name {name!r}: expected e.g. 'resnet20', 'resnet56-shift', "
        "'resnet20-dsc-0.36', 'resnet20-2.5', 'resnet20-2.4_block', 'squeezenet-shuffle', "
        "'pix2pix-dsc' (see `archopt models`)"
    )


def _rate(text: str, original: str) -> float:
    rate = float(text)
    if rate <= 0:
        raise ValueError(f"model name {original!r}: the rate must be positive")
    return rate


def _depth(text: str, original: str) -> int:
    depth = int(text)
    if depth not in RESNET_DEPTHS:
        raise ValueError(f"model name {original!r}: ResNet depth must be one of {RESNET_DEPTHS}")
    return depth


def _technique(text: str | None, family: str, original: str) -> str:
    """The technique of a name, checked against the registry and the family's hook."""
    if text is None:
        return BASE
    if text not in technique_names():
        raise ValueError(
            f"model name {original!r}: unknown technique {text!r}; registered techniques "
            f"are {', '.join(technique_names())} (see `archopt models`)"
        )
    if not get_technique(text).applies_to(family):
        raise ValueError(
            f"model name {original!r}: technique {text!r} does not apply to {family} "
            f"(it defines no {FAMILY_HOOKS[family]} hook)"
        )
    return text


def _with_technique(family: str, technique: str) -> str:
    return family if technique == BASE else f"{family}-{technique}"


def _info_from_match(kind: str, match: re.Match, original: str) -> ModelInfo:
    if kind in ("squeezenet", "pix2pix"):
        technique = _technique(match.group(1), kind, original)
        return ModelInfo(_with_technique(kind, technique), kind, technique)
    depth = _depth(match.group(1), original)
    if kind == "resnet_block":
        rate = _rate(match.group(2), original)
        return ModelInfo(
            f"resnet{depth}-{format_rate(rate)}_block", "resnet", BASE, "reduce_block", rate, depth
        )
    if kind == "resnet_reduced":
        rate = _rate(match.group(2), original)
        return ModelInfo(
            f"resnet{depth}-{format_rate(rate)}", "resnet", BASE, "reduce_channels", rate, depth
        )
    technique = _technique(match.group(2), "resnet", original)
    name = _with_technique(f"resnet{depth}", technique)
    if match.group(3) is None:
        return ModelInfo(name, "resnet", technique, depth=depth)
    if technique == BASE:
        raise ValueError(f"model name {original!r}: a plain ResNet takes 'resnet{depth}-RATE'")
    rate = _rate(match.group(3), original)
    return ModelInfo(f"{name}-{format_rate(rate)}", "resnet", technique, "expand", rate, depth)


def check_dataset(info: ModelInfo, dataset: str) -> None:
    """Generators train on paired-image datasets, classifiers on classification ones."""
    kind = get_dataset(dataset).kind  # names the registered datasets when unknown
    if info.is_gan != (kind == PAIRED):
        expected = " or ".join(dataset_names(PAIRED if info.is_gan else CLASSIFICATION))
        raise ValueError(f"model {info.name!r} is trained on {expected}, not {dataset!r}")


def family_models(family: str) -> list[str]:
    """The base network(s) of ``family`` and their versions by every technique with the
    family's hook, in registration order."""
    techniques = [BASE, *technique_names(family)]
    prefixes = [f"resnet{depth}" for depth in RESNET_DEPTHS] if family == "resnet" else [family]
    return [_with_technique(prefix, t) for prefix in prefixes for t in techniques]


def base_models() -> list[str]:
    """Every family x technique without width scaling, in study order."""
    return [name for family in FAMILIES for name in family_models(family)]


def list_models() -> list[str]:
    """Registered canonical names: the base zoo plus the paper's equal-budget nets."""
    scaled = sorted({n for names in PAPER_SCALED_MODELS.values() for n in names})
    return base_models() + scaled


def models_for_dataset(dataset: str) -> list[str]:
    """The dissertation's networks for one dataset (catalog order)."""
    generators = get_dataset(dataset).kind == PAIRED
    zoo = [n for n in base_models() if parse_name(n).is_gan == generators]
    return zoo + list(PAPER_SCALED_MODELS.get(dataset, ()))


# --- device names ------------------------------------------------------------------------

# The devices the bench stage times on (config bench.devices: torch device types). An
# imported device's results are ``{device}.json`` beside theirs.
LOCAL_DEVICES = ("cpu", "cuda")
DEVICE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
# A file name stays far below every file system's 255 bytes with ".json" and temporary
# prefixes added, and a name this long is a mistake anyway.
DEVICE_NAME_MAX_LENGTH = 64


def reserved_device_names() -> dict[str, str]:
    """Device names refused, each with what it clashes with: the local devices, every
    file archopt writes next to device results (``results/bench/.../model.onnx``; a
    post-training folder's ``summary.json``, ``cpu.json``...; ``summary`` would replace
    ``summary.json`` with a bench record), and the runtime registry's reserved names."""
    # Imported here: archopt.paths imports this module (through archopt.study).
    from archopt.paths import ONNX_EXPORT, POSTTRAIN_ARTIFACTS, POSTTRAIN_FILES
    from archopt.runtimes import BENCH_HEADER_KEYS

    reserved = {device: f"the local device {device!r}" for device in LOCAL_DEVICES}
    beside = [*POSTTRAIN_FILES.values(), ONNX_EXPORT.rsplit("/", 1)[-1], POSTTRAIN_ARTIFACTS]
    for file_name in beside:
        reserved.setdefault(file_name.split(".", 1)[0],
                            f"{file_name}, which archopt writes next to device results")
    for key in BENCH_HEADER_KEYS:
        reserved.setdefault(key, f"{key!r}, a name the runtime registry reserves")
    return reserved


def check_device_name(device: object, where: str = "device name") -> str:
    """``device`` when it can name an imported device's results file; else a ValueError
    naming the value (``where`` says where it came from: a config key, an option)."""
    if not isinstance(device, str):
        raise ValueError(f"{where}: expected a string, got {device!r:.80}")
    if len(device) > DEVICE_NAME_MAX_LENGTH:
        raise ValueError(f"{where} {device[:40]!r}... is {len(device)} characters long; at most "
                         f"{DEVICE_NAME_MAX_LENGTH}")
    if not DEVICE_NAME.fullmatch(device):
        raise ValueError(f"{where} {device!r}: use lower-case letters, digits, '.', '_' or "
                         "'-', starting with a letter or digit")
    clash = reserved_device_names().get(device)
    if clash is not None:
        raise ValueError(f"{where} {device!r} clashes with {clash}: choose another name")
    return device
