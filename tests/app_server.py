"""Start the real app on a free loopback port: in-process with a randomly initialised tiny model (tests), or in
a child process (scripts that time the start or measure the server's memory on its own)."""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script (the child process), the project is importable too

from demo.ui import build_demo  # noqa: E402
from lina_core.backends.tiny.model import build  # noqa: E402
from lina_core.backends.tiny.tokenizer import words_of  # noqa: E402
from lina_core.engine import Engine  # noqa: E402
from lina_core.world.prompts import ood_prompts, train_prompts_examples  # noqa: E402

READY = "LINA-APP-READY"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def random_engine() -> Engine:
    words = words_of(s.prompt for s in ood_prompts() + train_prompts_examples())
    return Engine(build(words, seed=0).backend())


@contextmanager
def running_app(engine: Engine | None = None, queue_size: int = 16, eager_examples: bool = False):
    """The app at a loopback URL; examples are cached on first click unless ``eager_examples`` (as in app.py)."""
    demo = build_demo(engine or random_engine(), eager_examples=eager_examples)
    port = free_port()
    demo.queue(max_size=queue_size, default_concurrency_limit=1).launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@contextmanager
def app_process(trained: bool = True, queue_size: int = 16, eager_examples: bool = True,
                ) -> Iterator[tuple[str, subprocess.Popen, float]]:
    """The app in a child process: (URL, process, seconds from spawning it to serving with its examples
    cached, the same work as `python app.py`). It stops when the block ends."""
    args = [sys.executable, __file__, "--queue-size", str(queue_size)]
    args += ["--trained"] * trained + ["--eager-examples"] * eager_examples
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        for line in proc.stdout:
            if line.startswith(READY):
                break
        else:
            raise RuntimeError(f"the app process exited with code {proc.wait()} before serving")
        # Keep reading what it prints, or a full pipe would stall it.
        threading.Thread(target=lambda: [sys.stderr.write(x) for x in proc.stdout], daemon=True).start()
        yield line.split()[1], proc, time.perf_counter() - start
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _serve() -> None:
    """Child process: serve until the parent closes our stdin."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--queue-size", type=int, default=16)
    parser.add_argument("--trained", action="store_true", help="the committed model (else a random one)")
    parser.add_argument("--eager-examples", action="store_true")
    args = parser.parse_args()
    if args.trained:
        from lina_core.backends.registry import load_backend

        engine = Engine(load_backend())
    else:
        engine = random_engine()
    with running_app(engine, args.queue_size, args.eager_examples) as url:
        print(READY, url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    _serve()
