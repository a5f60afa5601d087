"""Package attributes loaded on first use (PEP 562), so that a package's light names (its configs)
import without the heavy modules (torch) its other names need."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, namespace: dict[str, Any], exports: dict[str, tuple[str, ...]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """(__getattr__, __dir__, the lazy names) for `package`, whose submodule `module` provides the
    names exports[module]. A name is imported on first access, then kept in `namespace` (the
    package's globals()), so later lookups are plain attribute reads."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace.get("__all__", ()), *where})

    return __getattr__, __dir__, list(where)
