"""Pick a backend by name (CLI flag or the LINA_BACKEND environment variable); the tiny model by default.

The diffusers backends load a stock pipeline by hub id or local folder and wrap its parts; the engine
keeps the one instance. Environment (all optional):

    LINA_BACKEND            tiny | sd15 | sdxl | sd3 | wan
    LINA_TINY_PATH          the tiny model's folder (default assets/lina-tiny)
    LINA_MODEL_ID           hub id or local folder of a diffusers backend (default: its entry in SPECS)
    LINA_DTYPE              auto | float16 | bfloat16 | float32 (auto: the spec's dtype on a GPU, float32 on CPU)
    LINA_DEVICE             cuda | cuda:1 | mps | cpu (default: cuda when available, else cpu)
    LINA_CPU_OFFLOAD        1: model CPU offload (each model on the GPU only while it runs; needs accelerate)
    LINA_ATTENTION_SLICING  1: sliced attention (less memory, slower; models without it ignore it)
    LINA_WAN_SIZE           HEIGHTxWIDTHxFRAMES of a Wan video (default 480x832x81; frames 1 + a multiple of 4)
    LINA_WAN_GUIDANCE_2     guidance scale of Wan2.2-A14B's low-noise expert (default: the app's guidance scale)
    LINA_SD3_T5             0: load SD-3 without its T5 encoder (about 9 GB less; the pipeline's zeros instead)
    HF_HUB_OFFLINE          1: never contact the hub (local folders and the hub cache only)
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import Backend
from .errors import MissingWeightsError

DEFAULT_BACKEND = "tiny"
DTYPES = ("auto", "float16", "bfloat16", "float32")
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class DiffusersSpec:
    """How to load one diffusers backend: the stock pipeline class, our wrapper, the default weights."""

    pipeline: str  # a diffusers pipeline class name
    backend: str  # "module:Class" under lina_core.backends, with a ``from_pipeline(pipe, name)``
    model_id: str  # default hub id
    gpu_dtype: str  # what the weights are meant to run in on a GPU
    float32_parts: tuple[str, ...] = ()  # components kept in float32 whatever the dtype (Wan's VAE)


SPECS: dict[str, DiffusersSpec] = {
    "sd15": DiffusersSpec("StableDiffusionPipeline", "unet:UNetBackend",
                          "stable-diffusion-v1-5/stable-diffusion-v1-5", "float16"),
    "sdxl": DiffusersSpec("StableDiffusionXLPipeline", "sdxl:SDXLBackend",
                          "stabilityai/stable-diffusion-xl-base-1.0", "float16"),
    "sd3": DiffusersSpec("StableDiffusion3Pipeline", "sd3:SD3Backend",
                         "stabilityai/stable-diffusion-3.5-large", "bfloat16"),
    "wan": DiffusersSpec("WanPipeline", "wan:WanBackend", "Wan-AI/Wan2.2-T2V-A14B-Diffusers", "bfloat16",
                         float32_parts=("vae",)),
}
BACKENDS = (DEFAULT_BACKEND, *SPECS)


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    return default if value is None or value == "" else value.strip().lower() in _TRUE


@dataclass
class LoadOptions:
    """Where and how a diffusers backend loads; ``from_env`` reads the LINA_* variables."""

    model_id: str | None = None  # None: the spec's default
    dtype: str = "auto"
    device: str | None = None  # None: cuda when available, else cpu
    cpu_offload: bool = False
    attention_slicing: bool = False
    pipeline_kwargs: dict[str, Any] = field(default_factory=dict)  # passed on to ``from_pretrained``
    backend_kwargs: dict[str, Any] = field(default_factory=dict)  # passed on to the wrapper's ``from_pipeline``

    @classmethod
    def from_env(cls, name: str) -> LoadOptions:
        kwargs = {} if name != "sd3" or _flag("LINA_SD3_T5", True) else {"text_encoder_3": None, "tokenizer_3": None}
        return cls(model_id=os.environ.get("LINA_MODEL_ID") or None, dtype=os.environ.get("LINA_DTYPE") or "auto",
                   device=os.environ.get("LINA_DEVICE") or None, cpu_offload=_flag("LINA_CPU_OFFLOAD"),
                   attention_slicing=_flag("LINA_ATTENTION_SLICING"), pipeline_kwargs=kwargs,
                   backend_kwargs=_wan_kwargs() if name == "wan" else {})


def _wan_kwargs() -> dict[str, Any]:
    """LINA_WAN_SIZE and LINA_WAN_GUIDANCE_2, checked."""
    from .wan import parse_size

    kwargs: dict[str, Any] = {}
    if size := os.environ.get("LINA_WAN_SIZE"):
        kwargs["size"] = parse_size(size)
    if scale := os.environ.get("LINA_WAN_GUIDANCE_2"):
        try:
            kwargs["guidance_scale_2"] = float(scale)
        except ValueError:
            raise ValueError(f"LINA_WAN_GUIDANCE_2 must be a number such as 3.0, got {scale!r}") from None
    return kwargs


def backend_name(name: str | None = None) -> str:
    name = name or os.environ.get("LINA_BACKEND") or DEFAULT_BACKEND
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    return name


def load_backend(name: str | None = None, path: str | Path | None = None,
                 options: LoadOptions | None = None) -> Backend:
    """Load a backend once; ``path`` overrides where its weights are (LINA_TINY_PATH / LINA_MODEL_ID)."""
    name = backend_name(name)
    if name == DEFAULT_BACKEND:
        from .tiny.model import DEFAULT_PATH, load

        return load(path or os.environ.get("LINA_TINY_PATH") or DEFAULT_PATH).backend()
    options = options or LoadOptions.from_env(name)
    if path is not None:
        options.model_id = str(path)
    return load_diffusers(name, options)


def load_diffusers(name: str, options: LoadOptions) -> Backend:
    import torch

    spec = SPECS[name]
    device = torch.device(options.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = _dtype(options.dtype, spec, device)
    if options.cpu_offload and device.type == "cpu":
        raise ValueError("LINA_CPU_OFFLOAD needs a GPU device (LINA_DEVICE); on the CPU there is nothing to offload")
    pipe = _from_pretrained(name, spec, options, dtype)
    if type(pipe.scheduler).__name__ == "PNDMScheduler":
        # SD-1.5's default. Its warm-up steps step from a sample they stored, dropping the hooks' latent edits,
        # and it reports no x̂0; Euler on the same config (the usual replacement) has neither problem.
        from diffusers import EulerDiscreteScheduler

        pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    if options.cpu_offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    if options.attention_slicing:
        pipe.enable_attention_slicing()
    module, cls = spec.backend.split(":")
    wrapper = getattr(importlib.import_module(f"{__package__}.{module}"), cls)
    return wrapper.from_pipeline(pipe, name=name, **options.backend_kwargs)


def _dtype(value: str, spec: DiffusersSpec, device):
    import torch

    if value not in DTYPES:
        raise ValueError(f"LINA_DTYPE must be one of {', '.join(DTYPES)}, got {value!r}")
    if value == "auto":
        value = spec.gpu_dtype if device.type == "cuda" else "float32"
    return getattr(torch, value)


def _looks_local(source: str) -> bool:
    return source.startswith((".", "/", "~")) or source.count("/") > 1 or Path(source).exists()


def _from_pretrained(name: str, spec: DiffusersSpec, options: LoadOptions, dtype):
    """The stock pipeline, or one ``MissingWeightsError`` line that names the id and the way to a local copy."""
    import diffusers
    import torch

    source = options.model_id or spec.model_id
    local = _looks_local(source)
    if local:
        folder = Path(source).expanduser()
        fix = (f"set LINA_MODEL_ID to a diffusers model folder (one made by `hf download {spec.model_id} "
               f"--local-dir DIR`, or by save_pretrained)")
        if not folder.is_dir():
            raise MissingWeightsError(f"the {name} backend's model folder {source!r} does not exist; {fix}")
        source = str(folder)
    else:
        fix = (f"download it where the hub is reachable (`hf download {source} --local-dir DIR`, after accepting its "
               f"licence on the model page if it is gated) and set LINA_MODEL_ID=DIR to load it from that folder")
    pipeline = getattr(diffusers, spec.pipeline)
    try:
        dtypes = {"default": dtype, **dict.fromkeys(spec.float32_parts, torch.float32)} if spec.float32_parts else dtype
        return pipeline.from_pretrained(source, dtype=dtypes, local_files_only=_flag("HF_HUB_OFFLINE"),
                                        **options.pipeline_kwargs)
    except (OSError, ValueError) as exc:  # hub errors (offline, unknown or gated repo) are OSErrors here
        reason = " ".join(str(exc).split())[:300]
        where = "folder" if local else "from the Hugging Face Hub"
        raise MissingWeightsError(f"could not load the {name} model {source!r} {where} ({reason}); {fix}") from None
