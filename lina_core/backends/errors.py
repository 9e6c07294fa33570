"""Backend errors a user can act on (kept free of heavy imports so the CLI can name them cheaply)."""


class MissingWeightsError(RuntimeError):
    """A model's weights are missing or unreadable; the message says how to get them."""
