"""What a `python -m lina_core` subcommand is; each workflow defines its own beside its code."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    user_errors: tuple[type[Exception], ...] = ()
