"""Peer methods that LINA is compared against on the same backend, loop, seeds and step count."""
from .attend_excite import AttendExcite, AttendExciteMethod, AttendExciteSettings
from .attention import NoCrossAttentionError, has_cross_attention

__all__ = ["AttendExcite", "AttendExciteMethod", "AttendExciteSettings", "NoCrossAttentionError",
           "has_cross_attention"]
