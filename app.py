"""`python app.py [--backend NAME]`: builds and launches the LINA Gradio app (UI in demo/, models in lina_core/).

The backend is the --backend flag, else LINA_BACKEND, else the embedded tiny model; it is loaded once."""
import argparse
import os

from demo.ui import build_demo
from lina_core.backends.errors import MissingWeightsError
from lina_core.backends.registry import BACKENDS, load_backend
from lina_core.engine import Engine

parser = argparse.ArgumentParser(description="The LINA demo app.", allow_abbrev=False)
parser.add_argument("--backend", choices=BACKENDS, help="default: $LINA_BACKEND, else tiny")
args, _ = parser.parse_known_args()  # known only: a launcher (`gradio app.py`) may add its own

try:
    engine, load_error = Engine(load_backend(args.backend)), None
except (MissingWeightsError, ValueError) as exc:
    engine, load_error = None, str(exc)

demo = build_demo(engine, load_error)

if __name__ == "__main__":
    demo.queue(max_size=int(os.environ.get("LINA_QUEUE_SIZE", 16)), default_concurrency_limit=1).launch()
