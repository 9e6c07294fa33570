"""Bounded load test over loopback: concurrent gradio_client users calling /generate on the app in a child process.

Run from the repository root: `python scripts/load_test.py [--users 8] [--calls 10] [--steps 20]`. Passes when
no call fails, the queue never holds more than its bound, the server's resident memory grows by at most
50 MB from after a warm-up call to the end, and every call with the same prompt and seed returned the same
images. Prints a summary; exits 1 on any failure."""
from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
from app_server import app_process  # noqa: E402
from gradio_client import Client  # noqa: E402
from PIL import Image  # noqa: E402

from demo.ui import example_row  # noqa: E402

PROMPTS = ("A red ball on a small mirror", "a bird eats a snake")
SEEDS = (0, 1)
MAX_GROWTH_MB = 50.0
MB = 2**20


class Monitor(threading.Thread):
    """Samples the queue length and the server's resident memory until stopped."""

    def __init__(self, url: str, pid: int, every_s: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.url, self.server, self.every_s = url, psutil.Process(pid), every_s
        self.max_queue, self.max_rss = 0, 0
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self.stop.is_set():
                waiting = http.get(f"{self.url}gradio_api/queue/status").json()["queue_size"]
                self.max_queue = max(self.max_queue, waiting)
                self.max_rss = max(self.max_rss, self.server.memory_info().rss)
                self.stop.wait(self.every_s)


def call(client: Client, prompt: str, seed: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    row = example_row(prompt)
    row[3], row[5] = seed, steps  # seed and steps; everything else at the app's defaults
    out = client.predict(*row, api_name="/generate")
    return tuple(np.asarray(Image.open(p).convert("RGB")) for p in out[0])


def compare(key: tuple[str, int], outs: list[tuple[np.ndarray, np.ndarray]]) -> str | None:
    """None when every call for this prompt and seed gave the first call's images, else what differed."""
    first = outs[0]
    differ = [o for o in outs if not all(np.array_equal(a, b) for a, b in zip(o, first))]
    if not differ:
        return None
    worst = [max(int(np.abs(o[i].astype(int) - first[i]).max()) for o in differ) for i in (0, 1)]
    return (f"{key[0]!r} seed {key[1]}: {len(differ)}/{len(outs)} calls differ from the first, by up to "
            f"{worst[0]} (baseline) and {worst[1]} (LINA) grey levels")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--calls", type=int, default=10, help="generate calls per user")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--queue-size", type=int, default=16)
    parser.add_argument("--random-model", action="store_true", help="a random tiny model instead of the committed one")
    args = parser.parse_args()

    results: dict[tuple[str, int], list] = defaultdict(list)
    errors: list[str] = []
    rss_after: list[int] = []  # the server's RSS after each finished call, in finishing order
    with app_process(trained=not args.random_model, queue_size=args.queue_size, eager_examples=False) as (url, proc, _):
        server = psutil.Process(proc.pid)
        call(Client(url, verbose=False), PROMPTS[0], SEEDS[0], args.steps)  # warm-up: directions, first buffers
        rss_start = server.memory_info().rss
        monitor = Monitor(url, proc.pid)
        monitor.start()

        def user(u: int) -> None:
            client = Client(url, verbose=False)
            key = (PROMPTS[u % len(PROMPTS)], SEEDS[(u // len(PROMPTS)) % len(SEEDS)])
            for i in range(args.calls):
                try:
                    results[key].append(call(client, *key, args.steps))
                except Exception as exc:  # noqa: BLE001  (every failure is counted and reported)
                    errors.append(f"user {u} call {i}: {' '.join(str(exc).split())[:200]}")
                rss_after.append(server.memory_info().rss)
            print(f"user {u} done after {time.perf_counter() - t:.0f} s", flush=True)

        t = time.perf_counter()
        users = [threading.Thread(target=user, args=(u,)) for u in range(args.users)]
        for th in users:
            th.start()
        for th in users:
            th.join()
        wall = time.perf_counter() - t
        monitor.stop.set()
        monitor.join()
        rss_end = server.memory_info().rss

    calls = args.users * args.calls
    mismatched = [line for key, outs in results.items() if (line := compare(key, outs))]
    growth = (rss_end - rss_start) / MB
    checks = {
        "no errors": not errors,
        f"queue bounded (max {monitor.max_queue} waiting, bound {args.queue_size})":
            monitor.max_queue <= args.queue_size,
        f"memory growth {growth:+.1f} MB <= {MAX_GROWTH_MB:g} MB": growth <= MAX_GROWTH_MB,
        "same prompt and seed -> identical images": not mismatched and sum(map(len, results.values())) > 0,
    }
    print(f"{args.users} users x {args.calls} calls = {calls} generate calls at {args.steps} steps in {wall:.0f} s "
          f"({calls / wall:.2f} calls/s, {wall / calls:.1f} s per call served)")
    quarters = [rss_after[max(0, len(rss_after) * k // 4 - 1)] / MB for k in (1, 2, 3, 4)]
    print(f"server RSS: {rss_start / MB:.0f} MB after warm-up, peak {monitor.max_rss / MB:.0f} MB, "
          f"{rss_end / MB:.0f} MB at the end; after 1/4, 2/4, 3/4, 4/4 of the calls: "
          + ", ".join(f"{q:.0f}" for q in quarters) + " MB")
    print(f"machine: {psutil.cpu_count()} cores, load average {', '.join(f'{x:.1f}' for x in psutil.getloadavg())}")
    for line in errors[:10]:
        print("error:", line)
    for line in mismatched:
        print("different images for", line)
    for name, ok in checks.items():
        print(("PASS " if ok else "FAIL ") + name)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
