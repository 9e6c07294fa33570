"""Start the real app in-process on a free loopback port with a randomly initialised tiny model."""
from __future__ import annotations

import socket
from contextlib import contextmanager

from demo.ui import build_demo
from lina_core.backends.tiny.model import build
from lina_core.backends.tiny.tokenizer import words_of
from lina_core.engine import Engine
from lina_core.world.prompts import ood_prompts, train_prompts_examples


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def random_engine() -> Engine:
    words = words_of(s.prompt for s in ood_prompts() + train_prompts_examples())
    return Engine(build(words, seed=0).backend())


@contextmanager
def running_app(engine: Engine | None = None, queue_size: int = 16):
    demo = build_demo(engine or random_engine())
    port = free_port()
    demo.queue(max_size=queue_size, default_concurrency_limit=1).launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
