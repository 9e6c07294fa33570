"""Latent guidance places a missing object: the texture target paints a blob of the entity's stated colour
on its silhouette when the model left it out, and only shifts the colour of what is there when it drew it."""
from __future__ import annotations

import numpy as np
import torch

from lina_core.csg.graph import Region
from lina_core.csg.layout import region_mask
from lina_core.csg.vocab import COLOURS
from lina_core.evaluation.run import canonical_graph
from lina_core.lina.latent import guided_nodes, silhouette, texture_target
from lina_core.world.render import render

SIZE = 32
PROMPT = "a red ball on a large mirror"


class PixelCodec:
    """The working space is the pixels themselves (what ExactCodec gives for the tiny model)."""

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
