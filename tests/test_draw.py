"""Drawing: the CSG figure shows every node once, styled by kind, layered by causal depth; overlays mark regions."""
import networkx as nx
import numpy as np
import pytest
from csg_scenes import all_scenes, ball_on_mirror, cup_on_table, dirt_in_jar, eats
from matplotlib.figure import Figure
from PIL import Image

from lina_core.csg import CSG
from lina_core.csg.draw import draw_csg, figure_to_image, overlay_regions
from lina_core.csg.layout import assign_layout


def node_texts(fig: Figure, csg: CSG) -> dict:
    ids = {n.id for n in csg.nodes()}
    found = [t for ax in fig.axes for t in ax.texts if t.get_gid() in ids]
    assert len(found) == len(ids), "exactly one artist per node"
    return {t.get_gid(): t for t in found}


def big_scene() -> CSG:
    """Four of the paper's scenes in one graph: 16 nodes, to check the figure stays readable."""
    g = CSG("a blue cup on a table with light from the left, a red ball on a small mirror, "
            "more dirt than empty space in the jar, and a bird eats a snake")
    parts = (cup_on_table(), ball_on_mirror(), dirt_in_jar(), eats("bird", "snake"))
    g.graph = nx.compose_all([s.graph for s in parts])
    return g


@pytest.mark.parametrize("name", ["small_mirror", "mirror_light", "jar", "bird_eats_snake", "unknown", "pair"])
def test_one_artist_per_node_and_title(name):
    g = all_scenes()[name]
    fig = draw_csg(g)
    assert isinstance(fig, Figure)
    node_texts(fig, g)
    assert fig.axes[0].get_title().replace("\n", " ") == g.prompt
    assert len(fig.axes[0].get_legend().get_texts()) == 4


def test_styles_tell_entities_stated_and_implied_effects_apart():
    g = ball_on_mirror("small", light="left")
    g.node("reflection_ball").implied = False  # one stated effect beside the implied ones
    texts = node_texts(draw_csg(g), g)
    style = {nid: (t.get_bbox_patch().get_linestyle(), t.get_bbox_patch().get_facecolor()) for nid, t in texts.items()}
    assert style["contact_ball"][0] == "--" and style["shadow_ball"][0] == "--", "implied effects are dashed"
    assert style["reflection_ball"][0] == "-" and style["ball"][0] == "-"
    assert style["reflection_ball"][1] != style["contact_ball"][1]
    assert np.allclose(style["ball"][1][:3], np.array((220, 40, 40)) / 255), "entity filled in its colour"
    assert "implied, hop 1" in texts["contact_ball"].get_text()
    assert "stated" in texts["reflection_ball"].get_text()


def test_unknown_entity_is_grey_and_dashed():
    g = all_scenes()["unknown"]
    patch = node_texts(draw_csg(g), g)["zorblax"].get_bbox_patch()
    known = node_texts(draw_csg(g), g)["cube"].get_bbox_patch()
    assert patch.get_linestyle() == "--" and known.get_linestyle() == "-"
    r, gr, b, _ = patch.get_facecolor()
    assert r == gr == b, "grey"


def test_edge_labels_name_type_and_relation():
    g = ball_on_mirror("small")
    fig = draw_csg(g)
    labels = {t.get_text() for t in fig.axes[0].texts if t.get_gid() not in set(g.graph.nodes)}
    assert {"supports", "located_at [on]", "reflects", "causes"} <= labels


def test_layers_follow_causal_depth():
    g = eats("bird", "snake")
    g.graph = nx.compose(g.graph, ball_on_mirror("small").graph)
    x = {nid: t.get_position()[0] for nid, t in node_texts(draw_csg(g), g).items()}
    assert x["mirror"] < x["ball"] < x["contact_ball"] < x["reflection_ball"], "support, object, hop 1, hop 2"
    assert max(x[e.id] for e in g.entities()) < min(x[e.id] for e in g.effects())
    assert x["action_eat"] < x["contact_snake"], "an effect sits after the effect that causes it"


@pytest.mark.parametrize("make", [lambda: all_scenes()["two_balls"], big_scene])
def test_node_boxes_do_not_overlap(make):
    g = make()
    fig = draw_csg(g)
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    boxes = [t.get_bbox_patch().get_window_extent(renderer) for t in node_texts(fig, g).values()]
    assert all(not a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    width, height = fig.get_size_inches() * fig.dpi
    assert all(b.x0 >= 0 and b.y0 >= 0 and b.x1 <= width and b.y1 <= height for b in boxes), "all inside"


def test_draw_into_given_axes_and_empty_graph():
    fig = Figure()
    ax = fig.add_subplot()
    assert draw_csg(ball_on_mirror(), ax=ax) is fig
    empty = draw_csg(CSG("nothing here"))
    assert "empty graph" in empty.axes[0].get_title()


def test_figure_to_image_is_rgb_of_the_figure_size():
    fig = draw_csg(ball_on_mirror())
    img = figure_to_image(fig)
    w, h = fig.get_size_inches() * fig.dpi
    assert img.mode == "RGB" and img.size == (round(w), round(h))
    assert np.asarray(img).std() > 5, "not blank"


def test_overlay_marks_regions_on_an_upscaled_copy():
    g = assign_layout(ball_on_mirror("small"))
    base = Image.new("RGB", (64, 64), (200, 220, 255))
    out = overlay_regions(base, g)
    assert out.mode == "RGB" and out.size == (384, 384)
    up = np.asarray(base.resize(out.size, Image.Resampling.NEAREST))
    arr = np.asarray(out)
    assert (arr != up).any(axis=2).mean() > 0.005
    # the ball's left edge is a solid line in the entity colour; the reflection's right edge is dashed
    ball, refl = g.node("ball").region, g.node("reflection_ball").region
    y0, y1 = round(ball.y0 * 384) + 20, round(ball.y1 * 384) - 2
    assert (arr[y0:y1, round(ball.x0 * 384)] == (30, 144, 255)).all(axis=1).all()
    column = arr[round(refl.y0 * 384) + 2:round(refl.y1 * 384) - 2, round(refl.x1 * 384) - 1]
    on = (column == (0, 225, 225)).all(axis=1)
    assert 0.2 < on.mean() < 0.9, "dashed"


def test_overlay_keeps_large_images_and_grey_input():
    g = assign_layout(cup_on_table())
    out = overlay_regions(Image.new("L", (500, 400), 128), g)
    assert out.size == (500, 400) and out.mode == "RGB"
