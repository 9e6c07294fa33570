"""``@spaces.GPU`` on a Hugging Face ZeroGPU Space, a no-op everywhere else.

ZeroGPU lends a GPU only for the duration a decorated call asks for, and a shorter request is queued
sooner, so the request is computed from the call's step count instead of one worst case.
"""
from __future__ import annotations

import inspect
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)

GPU_OVERHEAD_S = 20  # judge, figures, and measuring the physics directions on a cold start
GPU_SECONDS_PER_STEP = 1.0  # baseline + LINA, one step each: SD-3.5 at 1024 px with CFG, with a margin
GPU_MAX_S = 120  # ZeroGPU's cap for a single call
GRADIENT_COST = 2.0  # the gradient latent guidance adds a forward and a backward pass to each guided step


def gpu_seconds(steps: int, latent_mode: str = "projection") -> int:
    """Seconds of GPU to ask for a baseline + LINA pair of ``steps`` steps each (the gradient latent guidance's
    extra passes counted as if it guided every step)."""
    per_step = GPU_SECONDS_PER_STEP * (1 + GRADIENT_COST if latent_mode == "gradient" else 1)
    return int(min(GPU_MAX_S, GPU_OVERHEAD_S + per_step * int(steps)))


def on_gpu(fn: F, steps_arg: str = "steps", mode_arg: str = "latent_mode") -> F:
    """``spaces.GPU(duration=...)`` around ``fn`` when the ``spaces`` package is installed, else ``fn`` itself.
    The duration callable gets ``fn``'s own arguments (that is how ``spaces`` calls it) and reads ``steps_arg``
    and, when ``fn`` has it, ``mode_arg``."""
    try:
        import spaces
    except ImportError:
        return fn
    signature = inspect.signature(fn)

    def duration(*args, **kwargs) -> int:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return gpu_seconds(bound.arguments[steps_arg], bound.arguments.get(mode_arg, "projection"))

    return spaces.GPU(duration=duration)(fn)
