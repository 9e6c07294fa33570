"""Judge-scored evaluation of backends and methods on prompt sets (``python -m lina_core evaluate``)."""
