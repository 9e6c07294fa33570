"""Latent guidance places a missing object: the texture target paints a blob of the entity's stated colour
on its silhouette when the model left it out, and only shifts the colour of what is there when it drew it."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from lina_core.backends.registry import load_backend
from lina_core.csg.graph import Region
from lina_core.csg.layout import container_interior, region_mask
from lina_core.csg.vocab import COLOURS
from lina_core.evaluation.run import canonical_graph
from lina_core.lina.interventions import InterventionSettings, build_interventions
from lina_core.lina.latent import guided_nodes, silhouette, texture_target
from lina_core.world.render import render

SIZE = 32
PROMPT = "a red ball on a large mirror"


class PixelCodec:
    """The working space is the pixels themselves (what ExactCodec gives for the tiny model)."""

    def __init__(self, class_colours: dict[str, str] | None = None) -> None:
        self.backend = SimpleNamespace(class_colours=class_colours or {}, substance_colours={})

    def colour(self, rgb: tuple[int, int, int]) -> torch.Tensor:
        return torch.tensor(rgb, dtype=torch.float32) / 255.0


def test_silhouette_lies_inside_its_box_and_never_vanishes() -> None:
    box = Region(0.25, 0.25, 0.75, 0.5)
    sil = silhouette(box, SIZE, SIZE)
    assert sil.any() and not (sil & ~region_mask(box, SIZE, SIZE)).any()
    assert silhouette(Region(0.5, 0.5, 0.51, 0.51), SIZE, SIZE).sum() >= 1


def test_a_missing_object_is_painted_in_its_colour_on_its_silhouette() -> None:
    csg = canonical_graph(PROMPT)
    ball = csg.node("ball")
    empty = torch.full((3, SIZE, SIZE), 0.8)  # a plain wall: no ball anywhere
    target = texture_target(csg, ball, empty, PixelCodec())
    sil = torch.from_numpy(silhouette(ball.region, SIZE, SIZE))
    assert target.mask.any() and bool((target.mask <= sil).all())
    red = torch.tensor(COLOURS["red"], dtype=torch.float32) / 255.0
    assert torch.allclose(target.value[:, target.mask], red[:, None].expand(3, int(target.mask.sum())))


def test_a_missing_container_colour_goes_on_its_rim_not_over_its_glass() -> None:
    """A glass jar shows its colour on its rim: the blob of "a blue jar" covers the rows above its interior only,
    so the substance and the clear glass inside stay what the fill target makes them."""
    csg = canonical_graph("a blue jar full of dirt")
    jar = csg.node("jar")
    empty = torch.full((3, 64, 64), 0.8)
    target = texture_target(csg, jar, empty, PixelCodec())
    rows = (np.arange(64) + 0.5) / 64
    rim = region_mask(jar.region, 64, 64) & (rows < container_interior(jar.region).y0)[:, None]
    assert target.mask.any() and np.array_equal(target.mask.numpy(), rim)
    blue = torch.tensor(COLOURS["blue"], dtype=torch.float32) / 255.0
    assert torch.allclose(target.value[:, target.mask], blue[:, None].expand(3, int(target.mask.sum())))


def test_a_drawn_object_only_gets_its_colour_shifted_not_a_blob() -> None:
    csg = canonical_graph(PROMPT)
    ball = csg.node("ball")
    image = torch.from_numpy(np.asarray(render(csg, size=SIZE, seed=0).image, dtype=np.float32) / 255.0)
    image = image.permute(2, 0, 1)
    target = texture_target(csg, ball, image, PixelCodec())
    assert target.mask.any()
    # Shifted pixels keep their shading: the target is the image plus one constant offset, not a flat colour.
    diff = (target.value - image)[:, target.mask]
    assert torch.allclose(diff, diff[:, :1].expand_as(diff), atol=1e-6)
    assert float(diff.abs().max()) < 0.2  # the renderer drew the stated red already


def test_default_guided_nodes_are_coloured_things_then_effects() -> None:
    csg = canonical_graph("a red ball on a small mirror")
    nodes = guided_nodes(csg, None)
    assert nodes[0] == "ball" and "mirror" not in nodes  # the mirror has no colour and is a support
    assert set(nodes[1:]) == {e.id for e in csg.effects()}
    assert "bird" not in guided_nodes(canonical_graph("a bird eats a snake"), None)  # no colour stated


def test_an_uncoloured_thing_is_placed_in_the_colour_its_backend_draws_it_in() -> None:
    csg = canonical_graph("a bird eats a snake")
    bird = csg.node("bird")
    empty = torch.full((3, SIZE, SIZE), 0.8)
    assert texture_target(csg, bird, empty, PixelCodec()) is None  # a real model: no habit, nothing to place
    target = texture_target(csg, bird, empty, PixelCodec({"bird": "brown"}))
    brown = torch.tensor(COLOURS["brown"], dtype=torch.float32) / 255.0
    assert target.mask.any() and bool((target.mask <= torch.from_numpy(silhouette(bird.region, SIZE, SIZE))).all())
    assert torch.allclose(target.value[:, target.mask], brown[:, None].expand(3, int(target.mask.sum())))
    nodes = guided_nodes(csg, None, {"bird": "brown"})
    assert nodes[0] == "bird" and "snake" not in nodes  # only the classes the backend has a colour for


def test_the_embedded_model_guides_its_uncoloured_things_by_default() -> None:
    backend = load_backend("tiny")
    csg = canonical_graph("a bird eats a snake")
    hooks, _ = build_interventions(backend, csg, InterventionSettings(embedding={}, latent_strength=1.0), 4)
    assert "bird" in hooks[0].nodes and "snake" in hooks[0].nodes
    assert backend.class_colours["bird"] == "brown" and "bird" in InterventionSettings().node_weights(
        csg, backend.class_colours)
