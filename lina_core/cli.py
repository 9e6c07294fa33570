"""`python -m lina_core <command>`: one entry point for every workflow.

Each subcommand is a ``Command``: its name, help, argument set-up, a run function and the
exceptions that count as user errors (reported as one line on stderr with exit code 2, never a
traceback). A workflow's module defines its ``Command`` beside the code it drives and is listed
in ``COMMANDS``; heavy imports (torch, diffusers, matplotlib) stay inside ``run`` so that
``--help`` and the light commands start fast.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .backends.tiny.command import TRAIN_TINY_COMMAND
from .bench import BENCH_COMMAND
from .command import Command
from .evaluation.command import EVALUATE_COMMAND
from .lina.diagnostics.command import DIAGNOSE_COMMAND
from .lina.predictor_command import TRAIN_PREDICTOR_COMMAND
from .world.pap_command import BUILD_PAP_COMMAND
from .csg.graph import CSG
from .csg.llm import LLMBackendError, LLMConfig, LLMParseError, LLMParser
from .csg.parser import PromptError, parse_prompt
from .csg.serialize import CSGFormatError, to_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from PIL import Image

EXIT_USER_ERROR = 2
OVERLAY_PX = 256  # the layout overlay is drawn on a plain square canvas of this size


class CLIError(Exception):
    """A user-facing problem found by the CLI itself (bad flag combination, missing configuration)."""


# -- csg ---------------------------------------------------------------------------------------

def _configure_csg(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", help="the image prompt, in quotes")
    p.add_argument("--json", type=Path, metavar="OUT.json", help="write the CSG as JSON")
    p.add_argument("--png", type=Path, metavar="OUT.png", help="draw the graph")
    p.add_argument("--overlay", type=Path, metavar="OUT.png", help="draw the layout regions")
    p.add_argument("--seed", type=int, default=0, help="layout seed (default 0)")
    p.add_argument("--llm", action="store_true",
                   help="parse with the LLM parser (set LINA_LLM_MODEL, LINA_LLM_BASE_URL, ...)")


def _parse(prompt: str, use_llm: bool) -> CSG:
    if not use_llm:
        return parse_prompt(prompt)
    try:
        config = LLMConfig.from_env()
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if config is None:
        raise CLIError("--llm needs LINA_LLM_MODEL set (and LINA_LLM_BASE_URL for a local OpenAI-compatible server)")
    return LLMParser(config).parse(prompt)


def _report(csg: CSG) -> str:
    lines = [csg.summary()]
    lines += [f"note: {note}" for note in csg.notes]
    if csg.unknown_words:
        lines.append(f"unknown words: {', '.join(csg.unknown_words)}")
    return "\n".join(lines)


def _save_figure(fig: Figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)


def _blank_canvas() -> Image.Image:
    from PIL import Image

    return Image.new("RGB", (OVERLAY_PX, OVERLAY_PX), (235, 235, 235))


def _run_csg(args: argparse.Namespace) -> int:
    from .csg.layout import assign_layout

    csg = _parse(args.prompt, args.llm)
    assign_layout(csg, seed=args.seed)
    print(_report(csg))
    if args.json:
        args.json.write_text(to_json(csg) + "\n")
    if args.png or args.overlay:
        from .csg import draw

        if args.png:
            _save_figure(draw.draw_csg(csg), args.png)
        if args.overlay:
            draw.overlay_regions(_blank_canvas(), csg).save(args.overlay, format="PNG")
    return 0


CSG_COMMAND = Command(
    name="csg",
    help="parse a prompt into a Causal Scene Graph, lay it out, print it and optionally save JSON/figures",
    configure=_configure_csg,
    run=_run_csg,
    user_errors=(PromptError, CSGFormatError, LLMParseError, LLMBackendError),
)

COMMANDS: tuple[Command, ...] = (CSG_COMMAND, TRAIN_TINY_COMMAND, EVALUATE_COMMAND, BENCH_COMMAND, BUILD_PAP_COMMAND,
                                 DIAGNOSE_COMMAND, TRAIN_PREDICTOR_COMMAND)


# -- entry point -------------------------------------------------------------------------------

def build_parser(commands: tuple[Command, ...] = COMMANDS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lina_core", description="LINA demo command line.")
    parser.add_argument("--version", action="version", version=f"lina_core {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="<command>", required=True)
    for command in commands:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.configure(p)
        p.set_defaults(command=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand and return its exit code (argparse's own exits are returned, not raised)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0)
    command: Command = args.command
    try:
        return command.run(args)
    except (CLIError, OSError, *command.user_errors) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USER_ERROR
