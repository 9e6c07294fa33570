"""The Gradio UI of the LINA demo (layout, event handlers, figures). No model code lives here."""
