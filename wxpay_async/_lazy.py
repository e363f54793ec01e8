"""Module attributes imported on first use (PEP 562), for the generated lazy packages."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(
    package: str, namespace: dict[str, Any], table: Mapping[str, str | None]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each name of ``table`` imported when read.

    ``table`` maps a public name to the submodule defining it, or to None for a submodule
    itself. Once imported, a name becomes a plain module attribute (no second lookup).
    """

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = table[name]
        loaded = importlib.import_module(f".{module or name}", package)
        value = loaded if module is None else getattr(loaded, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__
