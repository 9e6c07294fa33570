"""Memory given back after a request: cyclic garbage (figures) is collected and the survivors frozen once,
so later collections are cheap. (The flat memory of a serving app is measured by scripts/load_test.py.)"""
from __future__ import annotations

import gc
import weakref

from lina_core import memory
from lina_core.memory import release_freed_memory, releasing_memory


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
        gc.unfreeze()  # the rest of the test session collects as usual
        memory._freeze_survivors.cache_clear()


def test_a_handler_releases_memory_whether_it_returns_or_raises(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "release_freed_memory", lambda: calls.append("released"))

    @releasing_memory
    def handler(x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return 2 * x

    assert handler(3) == 6 and calls == ["released"]
    try:
        handler(-1)
    except ValueError:
        pass
    assert calls == ["released", "released"]
