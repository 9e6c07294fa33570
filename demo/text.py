"""The teaching text shown beside the controls: what each part does in the method."""
from lina_core.backends.base import Backend

PAPER_URL = "https://arxiv.org/abs/2512.13290"

HEADER = f"""
# LINA: learning interventions for physically aligned diffusion
Open reference implementation of *LINA: Learning INterventions Adaptively for Physical Alignment and
Generalization in Diffusion Models* ([arXiv 2512.13290]({PAPER_URL})). A prompt is parsed into a **Causal Scene
Graph (CSG)** — the entities it names, the physical effects that follow (reflections, shadows, contact, fill
levels, who acts on whom; *implied* when the prompt does not say them) and a region per node. LINA then steers
the frozen model at sampling time in those regions, in the prompt embedding and in the noise schedule.
"""

TINY_MODEL = """
**The model here** is a small diffusion model (a ~9M-parameter UNet drawing 32×32 images) that we trained on a synthetic physics
world on 2 CPU cores, on a deliberately biased training split: it never saw reflections in *small* mirrors,
a bird eating a snake, jars filled over half, a cube lit from the right, or a person on sand next to water. The
paper's prompts below are therefore out of distribution for it — the failure LINA is meant to fix. On a GPU,
the same code runs Stable Diffusion 3.5 or Wan2.2.
"""

MODEL_NAMES = {"sd15": "Stable Diffusion 1.5", "sdxl": "Stable Diffusion XL", "sd3": "Stable Diffusion 3.5",
               "wan": "Wan2.2 text-to-video"}

DIFFUSERS_MODEL = """
**The model here** is {model} (the `{name}` backend, through diffusers), its weights frozen. The verdicts come
from the judge of our synthetic physics world, so on real images they are only a rough guide.{video}
"""


def header(backend: Backend | None) -> str:
    """The page header, with what the loaded model is (``backend`` None: our embedded model, or none loaded)."""
    if backend is None:
        return HEADER + TINY_MODEL
    video = (" Each run is a video; the stills, the judge and the overlays use its last frame."
             if backend.is_video else "")
    model = MODEL_NAMES.get(backend.name, f"a {'video' if backend.is_video else 'text-to-image'} diffusion model")
    return HEADER + DIFFUSERS_MODEL.format(model=model, name=backend.name, video=video)

GENERATE_HELP = """
*Run* draws the **baseline** (the model as it is) and **LINA** (same model, same seed, same number of steps,
with the interventions below) and scores both with the world's judge, node by node.
"""

INTERVENTION_HELP = """
* **Prompt-embedding guidance** adds a *physics direction* (measured from prompt pairs that differ in one
  physical factor, kept orthogonal to colour directions) to the tokens of each effect's parent entities — the
  paper's finding that the embedding separates texture from physics.
* **Visual-latent guidance** pulls the model's predicted clean image toward what the graph requires *inside each
  node's region* (a reflection clipped to the mirror, a shadow opposite the light, a jar filled to its level)
  during the first k steps. The paper finds the causal structure fixed early; on this model an early pull alone
  is undone in later steps (a reflection's spill past a small mirror comes back), so guidance runs over all of
  them by default. *Projection*
  moves the next latents by that correction (free); *gradient* differentiates the model's prediction and steps
  the current latents (one extra forward and backward pass per guided step).
"""

SCHEDULE_HELP = """
**Schedule reallocation** keeps the step count and moves steps to high noise (γ > 1), where the scene's layout is
decided: the plot shows where each step lands.
"""

HOW_TO_READ = """
**Reading the graph.** Solid boxes are entities the prompt names; dashed boxes are *implied* effects a physicist
would add (hop = inference steps from the text). Arrows are causal: a mirror *reflects* into the reflection, which
it also bounds; an object *casts* its shadow; a support *supports*.
"""

PREDICTED_HELP = """
**Use predicted interventions**: θ comes from LINA's intervention predictor for this prompt's graph (the
learned policy; until it is trained, one fixed θ) and the controls below then show what it chose (the latent
guidance's projection / gradient choice still applies). Off: the controls below are θ.
"""

NODES_HELP = """
**Node weights** scale each node's guidance: 1 = the strengths set above, 0 = leave the node out, up to
{high:g}. An effect's weight scales its prompt-embedding push and its latent target; an entity's weight
scales the pull toward its stated colour.
"""
