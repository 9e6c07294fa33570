"""Gradio layout and event handlers. Handlers turn every user error into a ``gr.Error`` message."""
from __future__ import annotations

import random
from dataclasses import dataclass, replace

import gradio as gr

from lina_core.backends.registry import DEFAULT_BACKEND
from lina_core.csg import CSG, CSGFormatError, from_json
from lina_core.csg.draw import overlay_regions
from lina_core.csg.layout import assign_layout
from lina_core.csg.parser import PromptError
from lina_core.defaults import DEFAULT_GUIDANCE
from lina_core.engine import GUIDANCE_RANGE, MAX_SEED, STEP_RANGE, Engine
from lina_core.imaging import to_pil
from lina_core.lina.embedding import EFFECT_TYPES
from lina_core.lina.interventions import LATENT_MODES, STRENGTH_RANGE, WEIGHT_RANGE, InterventionSettings
from lina_core.lina.schedule import GAMMA_RANGE, effective_timesteps
from lina_core.memory import releasing_memory
from lina_core.video import still

from .csg_view import NODE_COLUMNS, view
from .examples import PAPER_PROMPTS, add_examples
from .figures import schedule_plot, score_line, theta_line, trajectory_strip, verdict_rows
from .gpu import on_gpu
from .text import GENERATE_HELP, HOW_TO_READ, INTERVENTION_HELP, NODES_HELP, PREDICTED_HELP, SCHEDULE_HELP, header
from .videos import VideoFolder

DISPLAY_PX = 256  # small images are shown upscaled (nearest: the real pixels) to at least this size
CACHE_CLEANUP_S = (3600, 3600)  # every hour, drop result files older than an hour (Blocks.delete_cache)
VERDICT_COLUMNS = ["node", "kind", "baseline", "LINA"]


@dataclass(frozen=True)
class Defaults:
    """The controls' starting values: also the settings every cached example is computed with."""

    seed: int = 0
    steps: int = 20
    guidance: float = DEFAULT_GUIDANCE
    # Every intervention on, so that each part shows (the embedding push, the timestep plot). The searched fixed θ
    # (assets/lina-predictor) is latent guidance 2.5 on every step alone; "Use predicted interventions" takes the
    # predictor's choice for the prompt instead.
    embedding: float = 0.5
    latent: float = 2.5
    latent_end: int = 20  # of the default 20 steps (steps 0 … 19)
    gamma: float = 2.0
    latent_mode: str = LATENT_MODES[0]


DEFAULTS = Defaults()


def _user_error(exc: Exception) -> gr.Error:
    return gr.Error(" ".join(str(exc).split()))


def shown(image):
    """An image at least DISPLAY_PX on its long side: small ones upscaled by a whole factor, aspect kept."""
    k = -(-DISPLAY_PX // max(image.size))
    return image if k <= 1 else image.resize((image.width * k, image.height * k), 0)


def _csg_outputs(csg: CSG, background=None, weights: dict[str, float] | None = None) -> tuple:
    """Graph figure, layout regions (over ``background``), node table, JSON and notes, in that order."""
    v = view(csg, background, weights)
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


def _rows(table) -> list[list]:
    """Rows of the node table, whether a DataFrame (the UI), a {"headers", "data"} dict or a list of rows."""
    rows = table.get("data", []) if isinstance(table, dict) else getattr(table, "values", table)
    return [list(r) for r in (rows.tolist() if hasattr(rows, "tolist") else rows or [])]


def node_weights(table, csg: CSG) -> dict[str, float]:
    """Each node's weight from the node table; every node at 1 (what a fresh parse shows) when the table is
    not this graph's. A weight that is not a number is refused naming its node; the range is checked by θ."""
    rows, ids = _rows(table), [n.id for n in csg.nodes()]
    if not rows or {str(r[1]) for r in rows} != set(ids):
        return dict.fromkeys(ids, 1.0)
    weights = {}
    for weight, nid, *_ in rows:
        try:
            weights[str(nid)] = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"node table: the weight of {nid!r} must be a number, got {weight!r}") from None
    return weights


def manual_settings(embedding: float, latent: float, latent_end: int, gamma: float, weights: dict[str, float],
                    steps: int, latent_mode: str = LATENT_MODES[0]) -> InterventionSettings:
    """θ from the manual controls: one α for every effect type; latent steps 0 … latent_end (0 = off; past the
    last step = every step, so fewer steps never make the default an error)."""
    end = min(int(latent_end), int(steps))
    return InterventionSettings(
        embedding={t: float(embedding) for t in EFFECT_TYPES}, latent_strength=float(latent) if end > 0 else 0.0,
        latent_window=(0, end) if end > 0 else None, latent_mode=latent_mode, gamma=float(gamma), nodes=weights,
    )


def shown_controls(settings: InterventionSettings, steps: int) -> tuple[float, float, int, float]:
    """The manual controls that show θ: the mean α over effect types, the latent strength, the end of its
    window (0 when off) and γ."""
    alpha = sum(settings.embedding.get(t, 0.0) for t in EFFECT_TYPES) / len(EFFECT_TYPES)
    end = settings.windows(steps)[1][1] if settings.latent_strength > 0 else 0
    return round(alpha, 4), settings.latent_strength, end, settings.gamma


def build_demo(engine: Engine | None, load_error: str | None = None, eager_examples: bool = True) -> gr.Blocks:
    """The app around one engine (None: ``load_error`` says why generation is off). ``eager_examples``
    computes the showcase examples at launch; off, they are computed on first click. With a video backend
    the outputs end with a baseline | LINA pair of videos; the stills are their last frames."""
    video = engine is not None and engine.backend.is_video
    videos = VideoFolder() if video else None
    embedded = engine is None or engine.backend.name == DEFAULT_BACKEND  # our tiny model (or none loaded)

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

    @on_gpu
    @releasing_memory  # each call's figures and buffers given back: a long-running server stays flat
    def generate(prompt, json_text, node_table, seed, randomize, steps, guidance, embedding, latent, latent_end, gamma,
                 predicted=False, latent_mode=LATENT_MODES[0], progress=gr.Progress(track_tqdm=True)):
        """Baseline and LINA at the same seed, judged node by node; θ from the predictor or the manual controls."""
        if engine is None:
            raise gr.Error(load_error or "No model is loaded.")
        csg = _graph_for(prompt, json_text)
        seed = random.randint(0, MAX_SEED) if randomize else int(seed)
        steps = int(steps)
        try:
            if predicted:
                settings = replace(engine.predicted_settings(csg), latent_mode=latent_mode)
            else:
                settings = manual_settings(embedding, latent, latent_end, gamma, node_weights(node_table, csg),
                                           steps, latent_mode)
            out = engine.generate(csg, seed, steps, float(guidance), settings, progress=True)
            weights = settings.node_weights(csg, engine.backend.class_colours)
        except ValueError as exc:
            raise _user_error(exc) from None
        base_img, lina_img = (to_pil(still(r.images[0])) for r in (out.baseline, out.lina))
        clips = []  # with a video backend: the baseline and LINA videos
        if videos is not None:
            try:
                clips = [videos.write(r.images[0], f"seed{seed}-{name}")
                         for r, name in ((out.baseline, "baseline"), (out.lina, "lina"))]
            except RuntimeError as exc:  # no video writer installed: say what to install
                raise _user_error(exc) from None
        scores = "\n\n".join([
            score_line("Baseline", out.baseline_verdict, out.baseline.seconds),
            score_line("LINA", out.lina_verdict, out.lina.seconds),
            f"seed {seed} · {steps} steps · guidance {guidance} · trajectory at steps {out.trajectory_steps}",
            theta_line(settings, steps, "predicted" if predicted else "manual"),
        ])
        parsed = _csg_outputs(csg, base_img, weights)
        return (
            (shown(base_img), shown(lina_img)),
            parsed[1], overlay_regions(lina_img, csg),
            scores, verdict_rows(out.baseline_verdict, out.lina_verdict),
            trajectory_strip(out.baseline.trajectory, out.baseline.images),
            trajectory_strip(out.lina.trajectory, out.lina.images),
            seed, *shown_controls(settings, steps), *parsed, *clips,
        )

    def lock_manual(predicted: bool):
        """With predicted θ the manual controls only show what was used."""
        return [gr.update(interactive=not predicted)] * 5

    with gr.Blocks(title="LINA demo", delete_cache=CACHE_CLEANUP_S) as demo:
        gr.Markdown(header(None if embedded else engine.backend))
        if load_error:
            gr.Markdown(f"> **Generation is off:** {load_error}")
        with gr.Row():
            with gr.Column(scale=2):
                prompt = gr.Textbox(label="Prompt", value=PAPER_PROMPTS[0], max_lines=3, elem_id="prompt")
                with gr.Row():
                    run = gr.Button("Run: baseline vs LINA", variant="primary", elem_id="run")
                    parse_btn = gr.Button("Parse only", elem_id="parse")
                examples_slot = gr.Column()
                with gr.Accordion("Sampling", open=False):
                    seed = gr.Slider(0, MAX_SEED, value=DEFAULTS.seed, step=1, label="Seed", elem_id="seed")
                    randomize = gr.Checkbox(False, label="Randomize seed (the seed used is shown after the run)")
                    steps = gr.Slider(*STEP_RANGE, value=DEFAULTS.steps, step=1,
                                      label="Steps (same for baseline and LINA)")
                    guidance = gr.Slider(*GUIDANCE_RANGE, value=DEFAULTS.guidance, step=0.5, label="Guidance scale")
                with gr.Accordion("Interventions (θ)", open=True):
                    predicted = gr.Checkbox(False, label="Use predicted interventions", elem_id="predicted")
                    gr.Markdown(PREDICTED_HELP)
                    gr.Markdown(INTERVENTION_HELP)
                    embedding = gr.Slider(*STRENGTH_RANGE, value=DEFAULTS.embedding, step=0.05,
                                          label="Prompt-embedding guidance α")
                    latent = gr.Slider(*STRENGTH_RANGE, value=DEFAULTS.latent, step=0.05,
                                       label="Visual-latent guidance strength")
                    latent_mode = gr.Radio(list(LATENT_MODES), value=DEFAULTS.latent_mode,
                                           label="Visual-latent guidance by", elem_id="latent-mode",
                                           info="gradient: a forward and a backward pass more per guided step, "
                                                "and a backward pass's memory (much on a large model)")
                    latent_end = gr.Slider(0, STEP_RANGE[1], value=DEFAULTS.latent_end, step=1,
                                           label="Latent guidance acts on the first k steps (0 = off; k ≥ steps: "
                                                 "all)")
                    gamma = gr.Slider(*GAMMA_RANGE, value=DEFAULTS.gamma, step=0.1,
                                      label="Schedule reallocation γ (1 = baseline)")
                    gr.Markdown(SCHEDULE_HELP)
                    schedule = gr.Image(label="Timesteps at equal step count", type="pil", elem_id="schedule")
            with gr.Column(scale=3):
                slider = gr.ImageSlider(label="Baseline | LINA (same seed" + (", last frame)" if video else ")"),
                                        type="pil", elem_id="slider")
                videos_out = []
                if video:
                    with gr.Row():
                        videos_out = [gr.Video(label=label, elem_id=elem_id, autoplay=True, loop=True)
                                      for label, elem_id in (("Baseline video", "baseline-video"),
                                                             ("LINA video (same seed)", "lina-video"))]
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
        gr.Markdown(NODES_HELP.format(high=WEIGHT_RANGE[1]))
        table = gr.Dataframe(headers=NODE_COLUMNS, label="Nodes: weight each node's guidance (0 = off)",
                             datatype=["number"] + ["str"] * (len(NODE_COLUMNS) - 1), interactive=True,
                             static_columns=list(range(1, len(NODE_COLUMNS))), wrap=True, elem_id="nodes")
        with gr.Accordion("CSG as JSON (edit, then 'Apply')", open=False):
            json_box = gr.Code(language="json", label="CSG JSON", interactive=True)
            apply_btn = gr.Button("Apply edited graph")

        csg_outputs = [graph_image, layout_image, table, json_box, notes]
        manual = [embedding, latent, latent_end, gamma]
        gen_inputs = [prompt, json_box, table, seed, randomize, steps, guidance, *manual, predicted, latent_mode]
        gen_outputs = [slider, base_overlay, lina_overlay, scores, verdicts, base_traj, lina_traj, seed, *manual,
                       *csg_outputs, *videos_out]
        with examples_slot:
            add_examples(generate if engine is not None else None, gen_inputs, gen_outputs, example_row,
                         eager_examples, embedded=embedded)
        parse_btn.click(parse, prompt, csg_outputs, api_name="parse")
        run.click(generate, gen_inputs, gen_outputs, api_name="generate", concurrency_limit=1)
        prompt.submit(generate, gen_inputs, gen_outputs, api_visibility="private", concurrency_limit=1)
        apply_btn.click(apply_json, json_box, csg_outputs, api_name="apply_csg")
        predicted.change(lock_manual, predicted, [*manual, table], api_visibility="private", queue=False)
        for control in (steps, gamma):
            control.change(plot_schedule, [steps, gamma], schedule, api_visibility="private")
        demo.load(parse, prompt, csg_outputs, api_visibility="private")
        demo.load(plot_schedule, [steps, gamma], schedule, api_visibility="private")
    return demo


def example_row(prompt: str) -> list:
    """Every generate input for an example: the prompt at the default settings (a fresh parse, every node at 1)."""
    d = DEFAULTS
    return [prompt, "", {"headers": NODE_COLUMNS, "data": []}, d.seed, False, d.steps, d.guidance, d.embedding,
            d.latent, d.latent_end, d.gamma, False, d.latent_mode]
