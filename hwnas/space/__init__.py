"""Search spaces: ``get_space(name_or_spec_path)`` and the registry of presets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hwnas.errors import SpaceError
from hwnas.space.arch import Arch, OpSpec
from hwnas.space.base import SearchSpace
from hwnas.space.fbnet import FBNET_CIFAR100, FBNET_IMAGENET, FBNetSpace
from hwnas.space.mbconv import MBCONV_SMALL, PROXYLESS_MOBILE, MBConvSpace
from hwnas.space.nb201 import NB201Space
from hwnas.space.spec import load_spec

_PRESETS: dict[str, Callable[[], SearchSpace]] = {
    "mbconv-small": lambda: MBConvSpace(MBCONV_SMALL),
    "proxyless-mobile": lambda: MBConvSpace(PROXYLESS_MOBILE),
    "fbnet-cifar100": lambda: FBNetSpace(FBNET_CIFAR100),
    "fbnet-imagenet": lambda: FBNetSpace(FBNET_IMAGENET),
    "nb201": lambda: NB201Space(),
}
# Short names for a family's default layout.
_ALIASES = {"fbnet": "fbnet-cifar100", "mbconv": "mbconv-small"}


def space_names() -> list[str]:
    return list(_PRESETS)


def get_space(name: str) -> SearchSpace:
    """A preset by name (``mbconv-small``, ``fbnet``...) or an mbconv spec file (.json/.toml)."""
    if name.endswith((".json", ".toml")):
        return load_spec(Path(name))
    key = _ALIASES.get(name, name)
    if key not in _PRESETS:
        raise SpaceError(
            f"unknown space {name!r}",
            f"choose one of {', '.join(_PRESETS)} or pass a .json/.toml spec file",
        )
    return _PRESETS[key]()


__all__ = ["Arch", "OpSpec", "SearchSpace", "get_space", "space_names"]
