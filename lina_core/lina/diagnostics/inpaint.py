"""Masked-inpainting probe (insight 1): which CSG nodes can the model put back from the rest of the scene?

Ground truth comes as PAP records (prompt -> CSG with layout -> render with one mask per node): built in
memory, or read from a ``build-pap`` folder. For each record, each node with a visible mask and each seed,
the node's pixels are hidden and the model inpaints them by noised-known-region blending: before every
model call the known latents are set to the ground truth noised to the current step (with the SAME noise
the unknown region starts from), and after the last step to the ground truth itself. The judge then
says whether that node is there again.

Only cases that test something count towards the restore rate: the judge must pass the node on the
ground truth and fail it when its pixels are blanked (filled with the median colour of the known
pixels). Expected by the paper: explicit nodes (named entities, stated effects) restore, implied
effects less, the more so the more hops they are from what the prompt says.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image
from tqdm.auto import tqdm

from ...backends.base import Backend
from ...csg.graph import CSG, Effect
from ...defaults import DEFAULT_GUIDANCE
from ...evaluation.run import judge_image
from ...imaging import grid, to_pil
from ...sampling import StepState, make_generators, sample
from ...world.pap import FEATURES, PapRecord, load_pap, make_row, rows_to_samples
from ..latent import ExactCodec, codec_for, dilate
from .report import ProbeReport, Table, rate

Tensor = torch.Tensor
EXAMPLES = 4  # inpainted cases shown in the figure


# -- the blending hook ---------------------------------------------------------------------------------

class KnownRegionBlend:
    """Keeps the known latent cells on the ground truth's noising path (a ``StepHook``).

    ``known`` [B, C, h, w] are the ground-truth latents, ``keep`` [B, 1, h, w] is True on known cells,
    ``noise`` is the sampler's initial noise (unscaled), ``scheduler`` a copy of the sampler's scheduler set
    to the same timesteps, whose ``add_noise`` gives x_t for the current timestep.
    """

    def __init__(self, known: Tensor, keep: Tensor, noise: Tensor, scheduler) -> None:
        if not hasattr(scheduler, "add_noise"):
            raise ValueError(f"{type(scheduler).__name__} has no add_noise: cannot noise the known region")
        self.known, self.keep, self.noise, self.scheduler = known, keep, noise, scheduler

    def noised(self, t: Tensor) -> Tensor:
        return self.scheduler.add_noise(self.known, self.noise, t.reshape(1))

    def before_model(self, state: StepState) -> None:
        state.latents = torch.where(self.keep, self.noised(state.timestep).to(state.latents), state.latents)

    def after_step(self, state: StepState) -> None:
        if state.index == state.num_steps - 1:
            state.prev_latents = torch.where(self.keep, self.known.to(state.prev_latents), state.prev_latents)


def sampler_scheduler(backend: Backend, steps: int):
    """A scheduler set to the timesteps ``sample(backend, ..., steps)`` runs with its default schedule."""
    scheduler = type(backend.scheduler).from_config(backend.scheduler.config)
    scheduler.set_timesteps(steps, device=backend.device)
    return scheduler


def encode_images(backend: Backend, pixels: Tensor) -> Tensor:
    """Images [B, 3, H, W] in [0, 1] -> the backend's latents (exact for the tiny model's space-to-depth)."""
    pixels = pixels.to(backend.device, backend.dtype)
    codec = codec_for(backend)
    if isinstance(codec, ExactCodec):
        return codec.to_latents(pixels)
    vae = getattr(backend, "vae", None)
    if vae is None:
        raise ValueError(f"backend {backend.name!r} has no VAE to encode the ground truth with")
    out = vae.encode(pixels * 2 - 1)
    latents = out.latent_dist.mean if hasattr(out, "latent_dist") else out
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return (latents - shift) * getattr(vae.config, "scaling_factor", 1.0)


def latent_keep(hidden: Tensor, latent_hw: tuple[int, int]) -> Tensor:
    """Pixel masks [B, 1, H, W] (True = hidden) -> known latent cells [B, 1, h, w]: a cell is known only
    when none of its pixels is hidden."""
    return F.adaptive_max_pool2d(hidden.float(), latent_hw) == 0


@torch.no_grad()
def inpaint(backend: Backend, prompt: str, image: Tensor, hidden: Tensor, seeds: Sequence[int], steps: int = 20,
            guidance: float = DEFAULT_GUIDANCE) -> Tensor:
    """Inpaint ``image`` [B, 3, H, W] (in [0, 1]) where ``hidden`` [B, H, W] is True; one seed per row."""
    shape = backend.latent_shape(len(seeds))
    known = encode_images(backend, image)
    keep = latent_keep(hidden[:, None].to(backend.device), shape[-2:])
    noise = randn_tensor(shape, generator=make_generators(seeds), device=backend.device, dtype=backend.dtype)
    scheduler = sampler_scheduler(backend, steps)
    blend = KnownRegionBlend(known, keep, noise, scheduler)
    return sample(backend, [prompt] * len(seeds), seeds, steps, guidance, hooks=[blend],
                  latents=noise * scheduler.init_noise_sigma).images


# -- ground truth ------------------------------------------------------------------------------------

def built_records(n: int, size: int, seed: int = 0) -> list[PapRecord]:
    """The first ``n`` rows of a train-split PAP build, rendered at the model's size (nothing written to disk)."""
    import datasets

    rows = [make_row(i, seed=seed, split="train", size=size) for i in range(n)]
    return list(rows_to_samples(datasets.Dataset.from_list(rows, features=FEATURES)))


def loaded_records(path: str, n: int) -> list[PapRecord]:
    """The first ``n`` rows of a PAP dataset that carry a CSG (a ``build-pap`` folder)."""
    out = [r for r in islice(rows_to_samples(load_pap(path)), n) if r.csg is not None]
    if not out:
        raise ValueError(f"--pap {path}: its rows carry no CSG in their metadata (build one with build-pap)")
    return out


def _resized(record: PapRecord, size: int) -> tuple[Tensor, dict[str, np.ndarray]]:
    """The image [3, size, size] in [0, 1] and node masks at ``size`` (a pixel is masked if any part of it was)."""
    image = record.image if record.image.size == (size, size) else record.image.resize((size, size), Image.BOX)
    pixels = torch.from_numpy(np.asarray(image, np.float32) / 255).permute(2, 0, 1)
    masks = {}
    for nid, m in record.masks.items():
        if m.shape != (size, size):
            m = np.asarray(Image.fromarray(m.astype(np.uint8) * 255).resize((size, size), Image.BOX)) > 0
        masks[nid] = m
    return pixels, masks


def blanked(image: Tensor, hidden: np.ndarray) -> Tensor:
    """The control: hidden pixels set to the per-channel median of the known ones."""
    h = torch.from_numpy(hidden)
    out = image.clone()
    out[:, h] = image[:, ~h].median(dim=1).values[:, None]
    return out


def group_of(csg: CSG, node_id: str) -> tuple[str, int]:
    """(group label, hop): named entities and stated effects are explicit at hop 0."""
    node = csg.node(node_id)
    if not isinstance(node, Effect):
        return "explicit: entity", 0
    if not node.implied:
        return "explicit: stated effect", node.hop
    return f"implied: hop {node.hop}", node.hop


@dataclass
class Case:
    record: str
    prompt: str
    node: str
    node_type: str
    group: str
    hop: int
    seed: int
    gt_passes: bool
    blank_passes: bool
    restored: bool

    @property
    def informative(self) -> bool:
        return self.gt_passes and not self.blank_passes


def _node_type(csg: CSG, node_id: str) -> str:
    node = csg.node(node_id)
    return node.type.value if isinstance(node, Effect) else "entity"


def probe_record(backend: Backend, record: PapRecord, seeds: Sequence[int], steps: int, guidance: float,
                 ) -> tuple[list[Case], list[tuple[Tensor, Tensor, Tensor]]]:
    """Every visible node of one record at every seed, in one batch; also (truth, blanked, inpainted) images."""
    csg = record.csg
    image, masks = _resized(record, backend.image_size)
    gt = judge_image(image, csg).by_id()
    nodes = [n.id for n in csg.nodes() if n.id in masks and masks[n.id].any() and n.id in gt]
    if not nodes:
        return [], []
    hidden = {nid: dilate(masks[nid]) for nid in nodes}  # the antialiased rim belongs to the node too
    jobs = [(nid, s) for nid in nodes for s in seeds]
    out = inpaint(backend, csg.prompt, image[None].expand(len(jobs), -1, -1, -1),
                  torch.from_numpy(np.stack([hidden[nid] for nid, _ in jobs])), [s for _, s in jobs], steps, guidance)
    blank = {nid: blanked(image, hidden[nid]) for nid in nodes}
    # a blank the judge cannot read is no evidence that the node is gone: such a case is not informative
    blank_pass = {nid: judge_image(blank[nid], csg).by_id()[nid].verdict is not False for nid in nodes}
    cases, shown = [], []
    for (nid, seed), img in zip(jobs, out):
        group, hop = group_of(csg, nid)
        restored = judge_image(img, csg).by_id()[nid].verdict is True
        cases.append(Case(record.id, csg.prompt, nid, _node_type(csg, nid), group, hop, int(seed),
                          gt[nid].verdict is True, blank_pass[nid], restored))
        shown.append((image, blank[nid], img.cpu()))
    return cases, shown


# -- tables and figure ----------------------------------------------------------------------------------

COLUMNS = ["group", "cases", "judge passes truth", "passes blanked", "informative", "restored", "restore rate"]


def _row(label: str, cases: list[Case]) -> list:
    info = [c for c in cases if c.informative]
    restored = sum(c.restored for c in info)
    return [label, len(cases), sum(c.gt_passes for c in cases), sum(c.blank_passes for c in cases), len(info),
            restored, rate(restored, len(info))]


def _grouped(cases: Iterable[Case], key) -> dict:
    out: dict = defaultdict(list)
    for c in cases:
        out[key(c)].append(c)
    return dict(sorted(out.items()))


def tables(cases: list[Case]) -> list[Table]:
    by_group = _grouped(cases, lambda c: (not c.group.startswith("explicit"), c.hop, c.group))
    by_type = _grouped(cases, lambda c: (c.hop, c.node_type, c.group))
    explicit = [c for c in cases if c.group.startswith("explicit")]
    implied = [c for c in cases if not c.group.startswith("explicit")]
    return [
        Table("Restore rate by kind and hop", COLUMNS,
              [_row(k[2], v) for k, v in by_group.items()]
              + [_row("all explicit", explicit), _row("all implied", implied)]),
        Table("Restore rate by node type", ["node type (group)"] + COLUMNS[1:],
              [_row(f"{k[1]} ({k[2]})", v) for k, v in by_type.items()]),
    ]


def figure(table: Table, shown: list[tuple[Tensor, Tensor, Tensor]], captions: list[str]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in table.rows if not str(r[0]).startswith("all ")]
    fig, (ax, ax_img) = plt.subplots(1, 2, figsize=(12, 6), gridspec_kw={"width_ratios": [1, 1]}, layout="constrained")
    values = [r[-1] or 0.0 for r in rows]
    bars = ax.bar(range(len(rows)), values, color=["tab:blue" if str(r[0]).startswith("explicit") else "tab:orange"
                                                   for r in rows])
    for bar, r in zip(bars, rows):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.02, f"{r[5]}/{r[4]}", ha="center", fontsize=8)
    ax.set_xticks(range(len(rows)), [str(r[0]).replace(": ", ":\n") for r in rows], fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("restore rate (informative cases)")
    ax.set_title("Masked inpainting: is the hidden node restored?")
    sheet = grid([[to_pil(a), to_pil(b), to_pil(c)] for a, b, c in shown], scale=4, captions=captions)
    ax_img.imshow(sheet)
    ax_img.set_title("truth | node blanked | inpainted", fontsize=9)
    ax_img.axis("off")
    return fig


def _examples(cases: list[Case], shown: list, k: int) -> tuple[list, list[str]]:
    """Up to ``k`` informative cases, spread over the groups."""
    picked: list[int] = []
    by_group = _grouped([i for i, c in enumerate(cases) if c.informative], lambda i: cases[i].group)
    while len(picked) < k and any(by_group.values()):
        for items in by_group.values():
            if items and len(picked) < k:
                picked.append(items.pop(0))
    return [shown[i] for i in picked], [_caption(cases[i]) for i in picked]


def _caption(c: Case) -> str:
    return f"{c.node} {'restored' if c.restored else 'NOT restored'}: {c.prompt}"[:60]


def run_inpaint_probe(backend: Backend, n: int = 8, seeds: Sequence[int] = (0, 1), steps: int = 20,
                      guidance: float = DEFAULT_GUIDANCE, pap: str | Path | None = None, progress: bool = True):
    """(report, figure) over ``n`` ground-truth scenes."""
    records = loaded_records(str(pap), n) if pap else built_records(n, backend.image_size)
    cases: list[Case] = []
    shown: list = []
    for record in tqdm(records, desc="inpaint", disable=not progress):
        c, s = probe_record(backend, record, seeds, steps, guidance)
        cases += c
        shown += s
    if not cases:
        raise ValueError("no node of the given scenes has a visible mask: nothing to inpaint")
    tabs = tables(cases)
    totals = {r[0]: r for r in tabs[0].rows}
    report = ProbeReport(
        probe="inpaint",
        question=("Hide one CSG node of a ground-truth scene and let the model inpaint it (noised-known-region "
                  "blending at every step); does the judge see the node again? Counted over informative cases "
                  "(the judge passes the node on the truth and fails it when blanked). Paper: explicit nodes "
                  "restore, implied multi-hop effects less."),
        config={"backend": backend.name, "scenes": len(records), "seeds": list(seeds), "steps": steps,
                "guidance": guidance, "source": str(pap) if pap else "built in memory (train split, seed 0)"},
        tables=tabs,
        summary={"explicit_restore_rate": totals["all explicit"][-1], "implied_restore_rate": totals["all implied"][-1],
                 **{f"restore_rate[{k}]": r[-1] for k, r in totals.items() if not k.startswith("all ")}},
        records=[vars(c) | {"informative": c.informative} for c in cases],
    )
    return report, figure(tabs[0], *_examples(cases, shown, EXAMPLES))
