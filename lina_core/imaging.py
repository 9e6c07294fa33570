"""Tensor <-> PIL conversions and image grids, shared by training logs, evaluation and the app."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw


def to_pil(image: torch.Tensor) -> Image.Image:
    """[3, H, W] in [0, 1] -> RGB PIL image."""
    arr = (image.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(np.ascontiguousarray(arr))


def grid(rows: list[list[Image.Image]], scale: int = 2, captions: list[str] | None = None) -> Image.Image:
    """Rows of equally sized images, upscaled (nearest) so small images can be looked at; optional row captions."""
    h, w = rows[0][0].height * scale, rows[0][0].width * scale
    cap_h = 14 if captions else 0
    cols = max(len(r) for r in rows)
    sheet = Image.new("RGB", (cols * w, len(rows) * (h + cap_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, row in enumerate(rows):
        y = i * (h + cap_h)
        if captions:
            draw.text((2, y + 1), captions[i], fill="black")
        for j, img in enumerate(row):
            sheet.paste(img.resize((w, h), Image.NEAREST), (j * w, y + cap_h))
    return sheet
