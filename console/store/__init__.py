"""The store: SQLModel tables, the engine/session factory, snapshots and the schema version.

Importing this package is cheap: `open_store`, `Store`, `StoreError`... are loaded on first use,
so `console.store.records` and `console.store.errors` never pull in SQLAlchemy.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "open_store": "console.store.db",
    "default_data_dir": "console.store.db",
    "Store": "console.store.service",
    "SCHEMA_VERSION": "console.store.version",
    "StoreError": "console.store.errors",
    "StoreVersionError": "console.store.errors",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """Load public names on first access."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'console.store' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
