"""Time the app as a user meets it: start-up (`python app.py` until it serves, showcase examples cached) and
click to both images at the default settings, with the committed tiny model, over loopback.

Run from the repository root: `python scripts/time_click.py [--clicks 5]`. Targets: start <= 15 s and a click
<= 3 s on 2 CPU cores; exits 1 when one is missed. Besides wall time it reports the server's CPU seconds,
which do not depend on what else the machine is running."""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import psutil  # noqa: E402
from app_server import app_process  # noqa: E402
from gradio_client import Client  # noqa: E402

from demo.examples import PAPER_PROMPTS  # noqa: E402
from demo.ui import example_row  # noqa: E402

START_TARGET_S, CLICK_TARGET_S = 15.0, 3.0


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=5)
    args = parser.parse_args()
    with app_process(trained=True, eager_examples=True) as (url, proc, start_s):
        server = psutil.Process(proc.pid)
        start_cpu = cpu_seconds(server)
        client = Client(url, verbose=False)
        walls, cpus = [], []
        for i in range(args.clicks):
            prompt = PAPER_PROMPTS[i % len(PAPER_PROMPTS)]
            before, t = cpu_seconds(server), time.perf_counter()
            client.predict(*example_row(prompt), api_name="/generate")
            walls.append(time.perf_counter() - t)
            cpus.append(cpu_seconds(server) - before)
            print(f"click {i + 1}: {walls[-1]:.2f} s wall, {cpus[-1]:.2f} s server CPU  ({prompt})")
    click = statistics.median(walls)
    print(f"start: {start_s:.1f} s wall, {start_cpu:.1f} s server CPU (target <= {START_TARGET_S:g} s)")
    print(f"click to both images: median {click:.2f} s wall (max {max(walls):.2f}), median "
          f"{statistics.median(cpus):.2f} s server CPU (target <= {CLICK_TARGET_S:g} s)")
    print(f"machine: {psutil.cpu_count()} cores, load average {', '.join(f'{x:.1f}' for x in psutil.getloadavg())}")
    missed = [name for name, value, target in (("start", start_s, START_TARGET_S), ("click", click, CLICK_TARGET_S))
              if value > target]
    print("targets met" if not missed else f"missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
