"""Gradio layout and event handlers. Handlers turn every user error into a ``gr.Error`` message."""
from __future__ import annotations

import gradio as gr

from lina_core.csg import CSGFormatError, from_json
from lina_core.csg.layout import assign_layout
from lina_core.csg.parser import PromptError, parse_prompt

from .csg_view import NODE_COLUMNS, view

PAPER_URL = "https://arxiv.org/abs/2512.13290"
PAPER_PROMPTS = [
    "A red ball on a small mirror",
    "a person is close to the water and in the sand",
    "a bird eats a snake",
    "a snake eats a bird",
    "there is more dirt than empty space in the jar",
    "a blue cube on a table with light from the left",
]

HEADER = f"""
# LINA: causal scene graphs for physically aligned diffusion
Reference open implementation of *LINA: Learning INterventions Adaptively for Physical Alignment and
Generalization in Diffusion Models* ([arXiv 2512.13290]({PAPER_URL})).
A prompt is parsed into a **Causal Scene Graph (CSG)**: the entities it names, the physical effects that
follow (reflections, shadows, contact, fill levels, who acts on whom, *implied* when the prompt does not
say them) and a layout region per node. Those regions are the masks the method later intervenes in.
"""

HOW_TO_READ = """
**Reading the graph.** Solid boxes are entities the prompt names; dashed boxes are *implied* effects a
physicist would add (hop = how many inference steps away from the text). Arrows are causal: a mirror
*reflects* into the reflection, which it also bounds; an object *casts* its shadow; a support *supports*.
"""


def _outputs(csg):
    v = view(csg)
    return v.graph_image, v.layout_image, v.rows, v.json_text, v.notes


def parse(prompt: str, seed: int = 0):
    """Parse a prompt into a CSG with a layout; bad input becomes a readable message, never a traceback."""
    try:
        csg = parse_prompt(prompt)
    except PromptError as exc:
        raise gr.Error(str(exc)) from None
    return _outputs(assign_layout(csg, seed=int(seed)))


def load_edited_json(json_text: str):
    """Re-draw a hand-edited CSG. Regions missing after the edit are laid out again."""
    try:
        csg = from_json(json_text)
    except CSGFormatError as exc:
        raise gr.Error(f"The edited graph is not valid: {exc}") from None
    if any(n.region is None for n in csg.nodes()):
        csg = assign_layout(csg)
    return _outputs(csg)


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="LINA demo") as demo:
        gr.Markdown(HEADER)
        with gr.Row():
            with gr.Column(scale=2):
                prompt = gr.Textbox(label="Prompt", value=PAPER_PROMPTS[0], max_lines=3, elem_id="prompt")
                run = gr.Button("Parse", variant="primary", elem_id="run")
                gr.Examples(PAPER_PROMPTS, inputs=prompt, label="The paper's prompts")
                notes = gr.Markdown(elem_id="notes")
            with gr.Column(scale=3):
                graph_image = gr.Image(label="Causal Scene Graph", type="pil", elem_id="csg-graph")
                gr.Markdown(HOW_TO_READ)
        with gr.Row():
            layout_image = gr.Image(label="Layout regions (one per node)", type="pil", elem_id="csg-layout")
            table = gr.Dataframe(headers=NODE_COLUMNS, label="Nodes", interactive=False, wrap=True)
        with gr.Accordion("CSG as JSON (edit and re-draw)", open=False):
            json_box = gr.Code(language="json", label="CSG JSON", interactive=True)
            redraw = gr.Button("Re-draw edited graph")

        outputs = [graph_image, layout_image, table, json_box, notes]
        run.click(parse, inputs=prompt, outputs=outputs, api_name="parse")
        prompt.submit(parse, inputs=prompt, outputs=outputs, api_visibility="private")
        redraw.click(load_edited_json, inputs=json_box, outputs=outputs, api_name="load_csg")
        demo.load(parse, inputs=prompt, outputs=outputs, api_visibility="private")
    return demo
