"""`python app.py`: builds and launches the LINA Gradio app (UI in demo/, models in lina_core/)."""
from demo.ui import build_demo

demo = build_demo()

if __name__ == "__main__":
    demo.queue(max_size=20, default_concurrency_limit=1).launch()
