"""`python app.py`: builds and launches the LINA Gradio app (UI in demo/, models in lina_core/).

The backend is chosen by LINA_BACKEND (default: the embedded tiny model) and loaded once."""
import os

from demo.ui import build_demo
from lina_core.backends.errors import MissingWeightsError
from lina_core.backends.registry import load_backend
from lina_core.engine import Engine

try:
    engine, load_error = Engine(load_backend()), None
except (MissingWeightsError, ValueError) as exc:
    engine, load_error = None, str(exc)

demo = build_demo(engine, load_error)

if __name__ == "__main__":
    demo.queue(max_size=int(os.environ.get("LINA_QUEUE_SIZE", 16)), default_concurrency_limit=1).launch()
