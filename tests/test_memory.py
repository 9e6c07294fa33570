"""Memory given back after a request: cyclic garbage (figures) is collected and the survivors frozen once,
so later collections are cheap. (The flat memory of a serving app is measured by scripts/load_test.py.)"""
from __future__ import annotations

import gc
import weakref

from lina_core.memory import release_freed_memory


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_cycles_are_collected_and_the_survivors_frozen():
    gc.disable()  # no automatic collection may free the cycle first
    try:
        node = Node()
        gone = weakref.ref(node)
        del node
        assert gone() is not None
        release_freed_memory()
        assert gone() is None
        assert gc.get_freeze_count() > 0  # later collections walk only what is newer
    finally:
        gc.enable()
