"""Gradio layout and event handlers. Handlers turn every user error into a ``gr.Error`` message."""
from __future__ import annotations

import random

import gradio as gr

from lina_core.csg import CSG, CSGFormatError, from_json
from lina_core.csg.layout import assign_layout
from lina_core.csg.parser import PromptError
from lina_core.engine import GUIDANCE_RANGE, MAX_SEED, STEP_RANGE, Engine
from lina_core.imaging import to_pil
from lina_core.lina.embedding import EFFECT_TYPES
from lina_core.lina.interventions import STRENGTH_RANGE, InterventionSettings
from lina_core.lina.schedule import GAMMA_RANGE, effective_timesteps

from .csg_view import NODE_COLUMNS, view
from .figures import schedule_plot, score_line, trajectory_strip, verdict_rows
from .text import GENERATE_HELP, HEADER, HOW_TO_READ, INTERVENTION_HELP, SCHEDULE_HELP

PAPER_PROMPTS = [
    "A red ball on a small mirror",
    "a person is close to the water and in the sand",
    "a bird eats a snake",
    "a snake eats a bird",
    "there is more dirt than empty space in the jar",
    "a blue cube on a table with light from the right",
]
DISPLAY_PX = 256
VERDICT_COLUMNS = ["node", "kind", "baseline", "LINA"]


def _user_error(exc: Exception) -> gr.Error:
    return gr.Error(" ".join(str(exc).split()))


def _csg_outputs(csg: CSG, background=None):
    v = view(csg, background)
    return v.graph_image, v.layout_image, v.rows, v.json_text, v.notes


def _graph_for(prompt: str, json_text: str | None) -> CSG:
    """The graph to generate from: the edited JSON when it belongs to this prompt, else a fresh parse."""
    if json_text and json_text.strip():
        try:
            csg = from_json(json_text)
        except CSGFormatError as exc:
            raise gr.Error(f"The edited graph is not valid: {exc}") from None
        if csg.prompt.strip() == prompt.strip():
            return csg if all(n.region for n in csg.nodes()) else assign_layout(csg)
    try:
        return Engine.parse(prompt)
    except PromptError as exc:
        raise _user_error(exc) from None


def _enabled_nodes(table, csg: CSG) -> list[str] | None:
    """Node ids whose "on" box is ticked in the node table; None (= all effects) when the table is not this graph's."""
    rows = getattr(table, "values", table)
    rows = [list(r) for r in (rows.tolist() if hasattr(rows, "tolist") else rows or [])]
    ids = {n.id for n in csg.nodes()}
    if not rows or {str(r[1]) for r in rows} != ids:
        return None
    return [str(r[1]) for r in rows if r[0] in (True, "true", "True", 1)]


def build_demo(engine: Engine | None, load_error: str | None = None) -> gr.Blocks:
    def parse(prompt: str):
        """Prompt -> Causal Scene Graph with its layout."""
        try:
            csg = Engine.parse(prompt)
        except PromptError as exc:
            raise _user_error(exc) from None
        return _csg_outputs(csg)

    def apply_json(json_text: str):
        """Re-draw a hand-edited graph; nodes without a region are laid out again."""
        try:
            csg = from_json(json_text)
        except CSGFormatError as exc:
            raise gr.Error(f"The edited graph is not valid: {exc}") from None
        if any(n.region is None for n in csg.nodes()):
            csg = assign_layout(csg)
        return _csg_outputs(csg)

    def plot_schedule(steps: int, gamma: float):
        if engine is None:
            return None
        base = effective_timesteps(engine.backend.scheduler, int(steps))
        lina = effective_timesteps(engine.backend.scheduler, int(steps), float(gamma))
        return schedule_plot(base, lina, engine.backend.scheduler.config.num_train_timesteps)

    def generate(prompt, json_text, node_table, seed, randomize, steps, guidance, embedding, latent, latent_end, gamma,
                 progress=gr.Progress(track_tqdm=True)):
        """Baseline and LINA at the same seed, judged node by node."""
        if engine is None:
            raise gr.Error(load_error or "No model is loaded.")
        csg = _graph_for(prompt, json_text)
        seed = random.randint(0, MAX_SEED) if randomize else int(seed)
        steps = int(steps)
        try:
            settings = InterventionSettings(
                embedding={t: float(embedding) for t in EFFECT_TYPES}, latent_strength=float(latent),
                latent_window=(0, int(latent_end)) if int(latent_end) > 0 else None, gamma=float(gamma),
                nodes=_enabled_nodes(node_table, csg),
            )
            if int(latent_end) == 0:
                settings.latent_strength = 0.0
            out = engine.generate(csg, seed, steps, float(guidance), settings, progress=True)
        except ValueError as exc:
            raise _user_error(exc) from None
        base_img, lina_img = to_pil(out.baseline.images[0]), to_pil(out.lina.images[0])
        big = lambda im: im.resize((DISPLAY_PX, DISPLAY_PX), 0)  # noqa: E731  (nearest: show the real pixels)
        scores = "\n\n".join([
            score_line("Baseline", out.baseline_verdict, out.baseline.seconds),
            score_line("LINA", out.lina_verdict, out.lina.seconds),
            f"seed {seed} · {steps} steps · guidance {guidance} · trajectory at steps {out.trajectory_steps}",
        ])
        return (
            (big(base_img), big(lina_img)),
            view(csg, base_img).layout_image, view(csg, lina_img).layout_image,
            scores, verdict_rows(out.baseline_verdict, out.lina_verdict),
            trajectory_strip(out.baseline.trajectory, out.baseline.images),
            trajectory_strip(out.lina.trajectory, out.lina.images),
            seed, *_csg_outputs(csg, base_img),
        )

    with gr.Blocks(title="LINA demo") as demo:
        gr.Markdown(HEADER)
        if load_error:
            gr.Markdown(f"> **Generation is off:** {load_error}")
        with gr.Row():
            with gr.Column(scale=2):
                prompt = gr.Textbox(label="Prompt", value=PAPER_PROMPTS[0], max_lines=3, elem_id="prompt")
                with gr.Row():
                    run = gr.Button("Run: baseline vs LINA", variant="primary", elem_id="run")
                    parse_btn = gr.Button("Parse only", elem_id="parse")
                gr.Examples(PAPER_PROMPTS, inputs=prompt, label="The paper's prompts (out of distribution for our model)")
                with gr.Accordion("Sampling", open=False):
                    seed = gr.Slider(0, MAX_SEED, value=0, step=1, label="Seed", elem_id="seed")
                    randomize = gr.Checkbox(False, label="Randomize seed (the seed used is shown after the run)")
                    steps = gr.Slider(*STEP_RANGE, value=20, step=1, label="Steps (same for baseline and LINA)")
                    guidance = gr.Slider(*GUIDANCE_RANGE, value=5.0, step=0.5, label="Guidance scale")
                with gr.Accordion("Interventions (θ)", open=True):
                    gr.Markdown(INTERVENTION_HELP)
                    embedding = gr.Slider(*STRENGTH_RANGE, value=0.5, step=0.05, label="Prompt-embedding guidance α")
                    latent = gr.Slider(*STRENGTH_RANGE, value=1.0, step=0.05, label="Visual-latent guidance strength")
                    latent_end = gr.Slider(0, STEP_RANGE[1], value=6, step=1,
                                           label="Latent guidance acts on steps 0 … (0 = off)")
                    gamma = gr.Slider(*GAMMA_RANGE, value=1.5, step=0.1, label="Schedule reallocation γ (1 = baseline)")
                    gr.Markdown(SCHEDULE_HELP)
                    schedule = gr.Image(label="Timesteps at equal step count", type="pil", elem_id="schedule")
            with gr.Column(scale=3):
                slider = gr.ImageSlider(label="Baseline | LINA (same seed)", type="pil", elem_id="slider")
                scores = gr.Markdown(GENERATE_HELP, elem_id="scores")
                with gr.Row():
                    base_overlay = gr.Image(label="Baseline + CSG regions", type="pil", elem_id="baseline")
                    lina_overlay = gr.Image(label="LINA + CSG regions", type="pil", elem_id="lina")
                verdicts = gr.Dataframe(headers=VERDICT_COLUMNS, label="Judge, node by node", wrap=True)
                base_traj = gr.Image(label="Baseline: predicted clean image at a few steps → final", type="pil")
                lina_traj = gr.Image(label="LINA: predicted clean image at a few steps → final", type="pil")
        with gr.Row():
            with gr.Column(scale=3):
                graph_image = gr.Image(label="Causal Scene Graph", type="pil", elem_id="csg-graph")
                gr.Markdown(HOW_TO_READ)
            with gr.Column(scale=2):
                layout_image = gr.Image(label="Layout regions (one per node)", type="pil", elem_id="csg-layout")
                notes = gr.Markdown(elem_id="notes")
        table = gr.Dataframe(headers=NODE_COLUMNS, label="Nodes: untick 'on' to leave a node out of the guidance",
                             datatype=["bool"] + ["str"] * (len(NODE_COLUMNS) - 1), interactive=True,
                             static_columns=list(range(1, len(NODE_COLUMNS))), wrap=True, elem_id="nodes")
        with gr.Accordion("CSG as JSON (edit, then 'Apply')", open=False):
            json_box = gr.Code(language="json", label="CSG JSON", interactive=True)
            apply_btn = gr.Button("Apply edited graph")

        csg_outputs = [graph_image, layout_image, table, json_box, notes]
        gen_inputs = [prompt, json_box, table, seed, randomize, steps, guidance, embedding, latent, latent_end, gamma]
        gen_outputs = [slider, base_overlay, lina_overlay, scores, verdicts, base_traj, lina_traj, seed, *csg_outputs]
        parse_btn.click(parse, prompt, csg_outputs, api_name="parse")
        run.click(generate, gen_inputs, gen_outputs, api_name="generate", concurrency_limit=1)
        prompt.submit(generate, gen_inputs, gen_outputs, api_visibility="private", concurrency_limit=1)
        apply_btn.click(apply_json, json_box, csg_outputs, api_name="apply_csg")
        for control in (steps, gamma):
            control.change(plot_schedule, [steps, gamma], schedule, api_visibility="private")
        demo.load(parse, prompt, csg_outputs, api_visibility="private")
        demo.load(plot_schedule, [steps, gamma], schedule, api_visibility="private")
    return demo

