"""Where the app writes a video backend's baseline and LINA videos for ``gr.Video``.

Gradio copies every file a handler returns into its own cache (cleaned by the Blocks' ``delete_cache``),
so a file written here is needed only until its call returns; older ones are removed at each write.
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import torch

from lina_core.video import export_video

KEEP_S = 600.0


class VideoFolder:
    def __init__(self, keep_s: float = KEEP_S) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="lina-videos-"))
        self.keep_s = keep_s
        atexit.register(shutil.rmtree, self.path, True)

    def write(self, video: torch.Tensor, name: str) -> str:
        """``video`` [3, F, H, W] as an MP4 (what every browser's video player plays); returns its path."""
        now = time.time()
        for old in self.path.glob("*.mp4"):
            if now - old.stat().st_mtime > self.keep_s:
                old.unlink(missing_ok=True)
        return str(export_video(video, self.path / f"{name}-{uuid.uuid4().hex[:12]}.mp4"))
