"""`python -m lina_core bench`: wall time of the peer, LINA and each ablation against the baseline at EQUAL
step count.

All methods run in one process on the same prompts and seed, after one untimed warm-up call each (and
after the one-off direction measurement), interleaved: every round runs each method once on one prompt,
in alternating order (A B C, C B A, ...), so slow drifts of the machine's load fall on all methods alike
instead of on whichever ran last. Graph parsing and layout happen once, before timing.

The peer (Attend-and-Excite) pays a backward pass through the UNet per updated step, LINA no extra model
call: "peer/baseline" beside "lina/baseline" shows that price. The JSON also records the peer's settings
at the benched step count; on a backend without cross-attention the peer is left out.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import TYPE_CHECKING, Any, Sequence

from .backends.errors import MissingWeightsError
from .command import Command
from .defaults import DEFAULT_GUIDANCE

if TYPE_CHECKING:
    from .backends.base import Backend

REFERENCE = "baseline"
PEER = "peer"


@dataclass
class BenchResult:
    config: dict[str, Any]
    seconds: dict[str, list[float]]  # method -> total seconds of each repeat (all prompts, one image each)

    def seconds_per_image(self) -> dict[str, float]:
        images = len(self.config["prompts"])
        return {m: mean(s) / images for m, s in self.seconds.items()}

    def ratios(self) -> dict[str, float]:
        """"<method>/baseline": total time over total baseline time."""
        ref = sum(self.seconds[REFERENCE])
        return {f"{m}/{REFERENCE}": sum(s) / ref for m, s in self.seconds.items() if m != REFERENCE}

    def ratios_per_repeat(self) -> dict[str, list[float]]:
        """The same ratio within each repeat: its spread shows how much to trust the overall one."""
        ref = self.seconds[REFERENCE]
        return {f"{m}/{REFERENCE}": [a / b for a, b in zip(s, ref)] for m, s in self.seconds.items() if m != REFERENCE}

    def as_dict(self) -> dict[str, Any]:
        return {"config": self.config, "seconds_per_image": self.seconds_per_image(), "ratios": self.ratios(),
                "ratios_per_repeat": self.ratios_per_repeat(), "seconds_per_repeat": self.seconds}

    def table(self) -> str:
        ratios, per_image = self.ratios(), self.seconds_per_image()
        lines = ["| method | s/image | time / baseline |", "|---|---|---|"]
        for m in self.seconds:
            ratio = ratios.get(f"{m}/{REFERENCE}", 1.0)
            lines.append(f"| {m} | {per_image[m]:.4f} | {ratio:.3f} |")
        return "\n".join(lines)


def bench(backend: Backend, prompts: Sequence[str], method_names: Sequence[str], steps: int = 20, repeats: int = 3,
          guidance: float = DEFAULT_GUIDANCE, seed: int = 0) -> BenchResult:
    """Time every method on every prompt, ``repeats`` times, interleaved (see the module docstring)."""
    from .evaluation.methods import make_methods
    from .evaluation.run import canonical_graph, timed, warm_up

    if REFERENCE not in method_names:
        raise ValueError(f"bench compares against {REFERENCE!r}; include it in the methods")
    methods = make_methods(method_names)
    graphs = [canonical_graph(p) for p in prompts]
    warm_up(backend, methods, graphs[0], seed, steps, guidance)
    seconds = {name: [0.0] * repeats for name in methods}
    order = list(methods)
    for r in range(repeats):
        for csg in graphs:
            for name in order:
                _, elapsed = timed(lambda: methods[name](backend, csg, [seed], steps, guidance), backend.device)
                seconds[name][r] += elapsed
            order.reverse()
    config = {"backend": backend.name, "device": str(backend.device), "steps": steps, "repeats": repeats,
              "guidance": guidance, "seed": seed, "prompts": list(prompts)}
    if PEER in methods:
        config[PEER] = methods[PEER].describe(steps)
    return BenchResult(config, seconds)


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default=None, help="backend name (default: $LINA_BACKEND or tiny)")
    p.add_argument("--steps", type=int, default=20, help="sampling steps, the same for every method")
    p.add_argument("--repeats", type=int, default=3, help="timed rounds over all prompts")
    p.add_argument("--prompts", type=int, default=4, metavar="N", help="the first N prompts of the OOD list")
    p.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    p.add_argument("--json", type=Path, metavar="OUT.json", help="write the timings and ratios")


def _run(args: argparse.Namespace) -> int:
    from .backends.registry import load_backend
    from .evaluation.methods import METHOD_NAMES, ORACLE
    from .peers import has_cross_attention
    from .world.prompts import ood_prompts

    available = [s.prompt for s in ood_prompts()]
    if not 1 <= args.prompts <= len(available):
        raise ValueError(f"--prompts must be between 1 and {len(available)}, got {args.prompts}")
    for flag in ("steps", "repeats"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    backend = load_backend(args.backend)
    # The oracle generates every candidate θ and judges them: an evaluation ceiling, not a sampler to time.
    names = [n for n in METHOD_NAMES if n != ORACLE and (n != PEER or has_cross_attention(backend))]
    result = bench(backend, available[:args.prompts], names, steps=args.steps, repeats=args.repeats,
                   guidance=args.guidance)
    print(result.table())
    if args.json:
        args.json.write_text(json.dumps(result.as_dict(), indent=1))
    return 0


BENCH_COMMAND = Command(
    name="bench",
    help="wall time of the peer, LINA and each ablation against the baseline at equal step count, in one "
         "interleaved run",
    configure=_configure,
    run=_run,
    user_errors=(ValueError, MissingWeightsError),
)
