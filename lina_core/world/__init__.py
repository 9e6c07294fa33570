"""The synthetic physics world: scene -> image + per-node masks, prompts and splits, the judge."""
from .render import RenderError, Rendering, contact_sheet, render

__all__ = ["RenderError", "Rendering", "contact_sheet", "render"]
