"""The `train-tiny` command: arguments and configuration only, so `python -m lina_core --help` stays fast
(torch and the trainer are imported when the command runs)."""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from ...command import Command


@dataclass
class TrainConfig:
    out: str
    steps: int = 10000  # the defaults are the committed model's recipe (assets/lina-tiny/README.md)
    batch: int = 32
    lr: float = 4e-4
    lr_schedule: str = "cosine"  # diffusers' warmup-then-cosine decay to 0 over ``steps``, or "constant"
    warmup: int = 250
    balanced: bool = False  # every subcategory of the train split equally often (WorldStream)
    seed: int = 0
    prompt_dropout: float = 0.1
    ema_decay: float = 0.999
    checkpoint_every: int = 250
    sample_every: int = 500
    workers: int = 0  # rendering is ~400 scenes/s: in-process is cheaper than a second process on 2 cores
    threads: int = 2
    top_attention: bool = False  # attention at the UNet's full 16x16 latent resolution: three times the step time
    init_from: str | None = None  # start from saved weights (e.g. assets/lina-tiny) instead of random ones


def _configure(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig(out="")
    parser.add_argument("--out", required=True, help="output folder (diffusers-style, loadable offline)")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch", type=int, default=defaults.batch)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--lr-schedule", choices=("constant", "cosine"), default=defaults.lr_schedule,
                        help="learning rate over the run: constant, or linear warm-up then cosine decay to 0 at "
                             "--steps")
    parser.add_argument("--warmup", type=int, default=defaults.warmup, help="warm-up steps of the learning rate")
    parser.add_argument("--balanced", action=argparse.BooleanOptionalAction, default=defaults.balanced,
                        help="draw every subcategory of the train split equally often (rejection sampling alone thins "
                             "out those the OOD split carves most of, such as 'eat')")
    parser.add_argument("--top-attention", action=argparse.BooleanOptionalAction, default=defaults.top_attention,
                        help="attention blocks at the UNet's full 16x16 latent resolution; --no-top-attention keeps "
                             "text conditioning at 8x8 and 4x4 only, for steps three times faster on a CPU")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--sample-every", type=int, default=defaults.sample_every)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--init-from", metavar="DIR", help="start from saved weights, e.g. assets/lina-tiny")


def _run(args: argparse.Namespace) -> int:
    from .train import Trainer

    cfg = TrainConfig(out=args.out, steps=args.steps, batch=args.batch, lr=args.lr, lr_schedule=args.lr_schedule,
                      warmup=args.warmup, balanced=args.balanced, seed=args.seed, top_attention=args.top_attention,
                      sample_every=args.sample_every, workers=args.workers, init_from=args.init_from)
    trainer = Trainer(cfg)
    if args.resume and trainer.ckpt.exists():
        trainer.resume()
    trainer.run()
    print(f"saved the tiny model to {cfg.out} after {trainer.step} steps ({trainer.elapsed / 60:.1f} min of training)")
    return 0


TRAIN_TINY_COMMAND = Command(
    name="train-tiny",
    help="train the embedded tiny text-to-image model on the synthetic world's train split",
    configure=_configure,
    run=_run,
)
