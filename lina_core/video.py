"""Generated videos ([3, F, H, W] in [0, 1], one sample of a video backend's ``decode``): the still that stands
for a video where an image is expected, and writing a video to a file.

Animated GIF and WebP go through Pillow (always installed). MP4, what ``gr.Video`` plays in every browser,
goes through diffusers' ``export_to_video``, which needs imageio with its ffmpeg plugin (imageio-ffmpeg);
without them the error says so and names the formats that work.
"""
from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import numpy as np
import torch
from PIL import Image

PILLOW_FORMATS = (".gif", ".webp")
FFMPEG_FORMATS = (".mp4",)
DEFAULT_FPS = 16  # Wan's frame rate


def is_video(sample: torch.Tensor) -> bool:
    """One sample of ``decode``: [3, H, W] from an image backend, [3, F, H, W] from a video backend."""
    return sample.dim() == 4


def still(sample: torch.Tensor) -> torch.Tensor:
    """[3, H, W] for an image or a video sample. A video's last frame: by then every implied effect has
    happened (the snake has eaten the bird), so the judge, the overlays and the slider show that frame."""
    if sample.dim() not in (3, 4) or sample.shape[0] != 3:
        raise ValueError(f"sample: expected [3, H, W] or [3, F, H, W], got shape {tuple(sample.shape)}")
    return sample[:, -1] if is_video(sample) else sample


def video_frames(video: torch.Tensor) -> list[np.ndarray]:
    """[3, F, H, W] in [0, 1] -> F uint8 arrays [H, W, 3]."""
    if video.dim() != 4 or video.shape[0] != 3:
        raise ValueError(f"video: expected a [3, F, H, W] tensor, got shape {tuple(video.shape)}")
    frames = (video.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 3, 0)
    return list(frames.cpu().numpy())


def export_video(video: torch.Tensor, path: str | Path, fps: int = DEFAULT_FPS) -> Path:
    """Write ``video`` to ``path``; the format follows the suffix (.gif, .webp, .mp4)."""
    path = Path(path)
    suffix = path.suffix.lower()
    images = [Image.fromarray(f) for f in video_frames(video)]
    if suffix in PILLOW_FORMATS:
        extra = {"lossless": True} if suffix == ".webp" else {}
        images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0, **extra)
        return path
    if suffix in FFMPEG_FORMATS:
        from diffusers.utils import export_to_video

        if not all(find_spec(m) for m in ("imageio", "imageio_ffmpeg")):
            raise RuntimeError(f"writing {suffix} needs the imageio and imageio-ffmpeg packages "
                               f"(pip install imageio imageio-ffmpeg); {', '.join(PILLOW_FORMATS)} need only Pillow")
        export_to_video(images, str(path), fps=fps)
        return path
    raise ValueError(f"path: unknown video format {suffix!r}; use one of {', '.join(PILLOW_FORMATS + FFMPEG_FORMATS)}")
