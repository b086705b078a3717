"""The technique registry: every pre-training architecture technique archopt knows.

A technique is a :class:`Technique` subclass registered with :func:`register_technique`
(see docs/extending.md). Model names, the equal-budget search, ``archopt models``
and the report all read this registry, so a technique takes part in the whole study by
registering; nothing else names it. Registration order is the report's order.

This module imports no torch: the workflow looks names up while Snakemake parses the
DAG, and each technique builds its layers (importing torch) only inside its hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from archopt.registry import Registry, origin

if TYPE_CHECKING:
    from torch import nn

# Network family -> the hook a technique defines to apply to it.
FAMILY_HOOKS = {"squeezenet": "fire", "resnet": "resnet_body", "pix2pix": "encoder_conv"}
BASE = "base"  # each family's own plain block; never a registered technique
BASE_LABEL = "Base"
BASE_COLOR = "#6b6b6b"


class Technique:
    """Base class of techniques; subclasses set the attributes and define some hooks.

    Hooks (define only those that apply; a missing hook means the technique does not
    exist for that family):

    * ``resnet_body(in_planes, out_planes, stride) -> nn.Module``: the body of a residual
      block, (N, in, H, W) -> (N, out, H/stride, W/stride); the family adds the shortcut,
      the addition and the final ReLU.
    * ``fire(in_planes, squeeze, expand1x1, expand3x3) -> nn.Module``: a whole SqueezeNet
      fire module, (N, in, H, W) -> (N, expand1x1 + expand3x3, H, W).
    * ``encoder_conv(in_channels, out_channels, outermost) -> nn.Module``: replaces a
      Pix2Pix encoder ``Conv2d(in, out, 4, stride 2, padding 1)``.

    A technique whose layers come in interchangeable implementations (numerically
    identical, of a speed that depends on the runtime and device) also defines
    :meth:`implementations`, :meth:`implementation_of` and :meth:`set_implementation`:
    the bench stage then times each implementation in each runtime and keeps the fastest.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    width_multiple: ClassVar[int] = 1  # expanded ResNet stage widths round down to this
    color: ClassVar[str] = "black"  # matplotlib colour of the technique in the report
    # The dissertation's tables where base nets are reduced to this technique's size.
    paper_tables: ClassVar[tuple[int, ...]] = ()

    def applies_to(self, family: str) -> bool:
        """Whether the technique defines the hook of ``family``."""
        return callable(getattr(self, FAMILY_HOOKS[family], None))

    def families(self) -> list[str]:
        return [family for family in FAMILY_HOOKS if self.applies_to(family)]

    def implementations(self) -> tuple[str, ...]:
        """Names of the interchangeable implementations of the technique's layers, the
        one networks are built with (the reference) first; empty: nothing to choose."""
        return ()

    def implementation_of(self, model: nn.Module) -> str | None:
        """The implementation ``model``'s layers of this technique run; None where it
        has none of them."""
        return None

    def uses(self, model: nn.Module) -> bool:
        """Whether ``model`` has layers of this technique whose implementation can be chosen."""
        return self.implementation_of(model) is not None

    def set_implementation(self, model: nn.Module, impl: str) -> nn.Module:
        """Switch ``model``'s layers of this technique to ``impl``; returns ``model``."""
        raise NotImplementedError(f"technique {self.name!r} has no implementations to choose")

    def __repr__(self) -> str:
        return f"<technique {self.name!r} ({origin(self)})>"

    if TYPE_CHECKING:  # the hooks' signatures, for type checkers only (see the docstring)

        def resnet_body(self, in_planes: int, out_planes: int, stride: int) -> nn.Module: ...

        def fire(
            self, in_planes: int, squeeze: int, expand1x1: int, expand3x3: int
        ) -> nn.Module: ...

        def encoder_conv(self, in_channels: int, out_channels: int, outermost: bool) -> nn.Module: ...


# Loaded on first use, through the plugin loader like a user's technique; the order is
# the report's.
TECHNIQUES: Registry[Technique] = Registry(
    "technique", shipped=("archopt.techniques.dsc", "archopt.techniques.shift",
                          "archopt.techniques.shuffle"))


def _check(cls: type) -> str:
    name = TECHNIQUES.check_class(cls, Technique, reserved=(BASE,), labelled=True)
    multiple = cls.width_multiple
    if not isinstance(multiple, int) or multiple < 1:
        raise ValueError(f"technique {name!r}: width_multiple {multiple!r} must be an int >= 1")
    if not cls().families():
        hooks = ", ".join(FAMILY_HOOKS.values())
        raise ValueError(f"technique {name!r} ({origin(cls)}) defines none of the hooks {hooks}")
    # Checked on the class, not by calling implementations(): that may import torch,
    # and registration happens while the workflow is parsed.
    if cls.implementations is not Technique.implementations:
        missing = [hook for hook in ("implementation_of", "set_implementation")
                   if getattr(cls, hook) is getattr(Technique, hook)]
        if missing:
            raise ValueError(f"technique {name!r} ({origin(cls)}) defines implementations() "
                             f"but not {' and '.join(missing)}()")
    return name


def register_technique(cls: type[Technique]) -> type[Technique]:
    """Class decorator: register ``cls`` under ``cls.name``; a taken name is refused."""
    TECHNIQUES.add(_check(cls), cls())
    return cls


_unregister_technique = TECHNIQUES.remove  # for tests: a technique they register does not leak


def generation() -> int:
    """A number that changes whenever the registry does: caches of results derived from
    the registry (the search) take it as a key, so they never outlive a change."""
    return TECHNIQUES.generation


get_technique = TECHNIQUES.get  # ValueError listing the registered ones for an unknown name


def list_techniques(family: str | None = None) -> list[Technique]:
    """Registered techniques in registration (= report) order; only those with
    ``family``'s hook where a family is given."""
    if family is not None and family not in FAMILY_HOOKS:
        raise ValueError(f"unknown network family {family!r}: expected one of {tuple(FAMILY_HOOKS)}")
    return [t for t in TECHNIQUES.values() if family is None or t.applies_to(family)]


def technique_names(family: str | None = None) -> list[str]:
    """Names of :func:`list_techniques`."""
    return [t.name for t in list_techniques(family)]
