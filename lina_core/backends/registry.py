"""Pick a backend by name (CLI flag or the LINA_BACKEND environment variable); the tiny model by default."""
from __future__ import annotations

import os
from pathlib import Path

from .base import Backend

DEFAULT_BACKEND = "tiny"
BACKENDS = ("tiny",)


def backend_name(name: str | None = None) -> str:
    name = name or os.environ.get("LINA_BACKEND") or DEFAULT_BACKEND
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    return name


def load_backend(name: str | None = None, path: str | Path | None = None) -> Backend:
    """Load a backend once; ``path`` overrides where its weights are (LINA_TINY_PATH for the tiny model)."""
    name = backend_name(name)
    from .tiny.model import DEFAULT_PATH, load

    return load(path or os.environ.get("LINA_TINY_PATH") or DEFAULT_PATH).backend()
