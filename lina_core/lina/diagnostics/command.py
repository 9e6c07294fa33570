"""The `diagnose` command: run one probe, print its tables, write ``<out>/<probe>.{md,json,png}``."""
from __future__ import annotations

import argparse
from pathlib import Path

from ...backends.errors import MissingWeightsError
from ...command import Command
from ...defaults import DEFAULT_GUIDANCE

PROBES = ("inpaint", "embedding", "timing")
DEFAULT_OUT = Path(__file__).resolve().parents[3] / "assets" / "diagnostics"
DEFAULT_STRENGTH = {"embedding": 2.0, "timing": 1.0}  # factor flips; latent-guidance strength
STRENGTH_LIMIT = {"embedding": 5.0, "timing": 3.0}
MAX_SEEDS, MAX_STEPS = 64, 200
ONLY_FOR = {"pap": "inpaint", "windows": "timing", "strength": ("embedding", "timing")}


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("probe", choices=PROBES, help="inpaint: restore rate of masked CSG nodes; embedding: physics "
                   "vs texture directions; timing: effect per intervention window and when x̂0's verdict settles")
    p.add_argument("--backend", default=None, help="backend name (default: $LINA_BACKEND or tiny)")
    p.add_argument("--n", type=int, default=None,
                   help="scenes (inpaint, default 8) or prompts (embedding, default 5; timing, default 6)")
    p.add_argument("--seeds", type=int, default=2, help="seeds per scene or prompt (0..K-1, default 2)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for <probe>.md/.json/.png "
                   "(default assets/diagnostics)")
    p.add_argument("--pap", default=None, metavar="PATH",
                   help="inpaint only: read the ground truth from a build-pap folder (default: build it in memory)")
    p.add_argument("--strength", type=float, default=None,
                   help="embedding: edit size in factor flips (default 2); timing: latent-guidance strength "
                        "(default 1)")
    p.add_argument("--windows", type=int, default=None, help="timing only: number of step windows (default 4)")


def check_args(args: argparse.Namespace) -> None:
    """One-line ValueErrors naming the flag, before anything is loaded."""
    for flag, probes in ONLY_FOR.items():
        if getattr(args, flag) is not None and args.probe not in probes:
            allowed = probes if isinstance(probes, str) else " and ".join(probes)
            raise ValueError(f"--{flag} applies to the {allowed} probe only, not to {args.probe}")
    if not 1 <= args.seeds <= MAX_SEEDS:
        raise ValueError(f"--seeds must be between 1 and {MAX_SEEDS}, got {args.seeds}")
    if not 1 <= args.steps <= MAX_STEPS:
        raise ValueError(f"--steps must be between 1 and {MAX_STEPS}, got {args.steps}")
    if args.n is not None and args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}")
    if args.guidance < 0:
        raise ValueError(f"--guidance must be >= 0, got {args.guidance}")
    if args.strength is not None and not 0 < args.strength <= STRENGTH_LIMIT[args.probe]:
        raise ValueError(f"--strength must be in (0, {STRENGTH_LIMIT[args.probe]}] for the {args.probe} probe, "
                         f"got {args.strength}")
    if args.windows is not None and not 1 <= args.windows <= args.steps:
        raise ValueError(f"--windows must be between 1 and --steps ({args.steps}), got {args.windows}")


def _run(args: argparse.Namespace) -> int:
    check_args(args)
    from ...backends.registry import load_backend

    backend = load_backend(args.backend)
    common = dict(seeds=range(args.seeds), steps=args.steps, guidance=args.guidance)
    if args.n is not None:
        common["n"] = args.n
    strength = args.strength if args.strength is not None else DEFAULT_STRENGTH.get(args.probe)
    if args.probe == "inpaint":
        from .inpaint import run_inpaint_probe

        report, fig = run_inpaint_probe(backend, pap=args.pap, **common)
    elif args.probe == "embedding":
        from .embedding_probe import run_embedding_probe

        report, fig = run_embedding_probe(backend, strength=strength, **common)
    else:
        from .timing import run_timing_probe

        report, fig = run_timing_probe(backend, strength=strength, window_count=args.windows or 4, **common)
    report.config["command"] = command_line(args)
    print(report.markdown())
    for path in report.write(args.out, fig):
        print(f"wrote {path}")
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run (written into the report)."""
    optional = ("backend", "n", "pap", "strength", "windows")
    flags = [f"--{k} {v}" for k in optional if (v := getattr(args, k)) is not None]
    flags += [f"--seeds {args.seeds}", f"--steps {args.steps}", f"--guidance {args.guidance}"]
    return " ".join(["python -m lina_core diagnose", args.probe, *flags])


DIAGNOSE_COMMAND = Command(
    name="diagnose",
    help="the paper's three diagnostics on a backend: masked inpainting (explicit vs implied nodes), embedding "
         "directions (physics vs texture), timing (which steps carry an intervention)",
    configure=_configure,
    run=_run,
    user_errors=(ValueError, MissingWeightsError),
)
