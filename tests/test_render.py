"""The renderer: image + per-node masks from a laid-out CSG, with its physics drawn right.

Scenes are built by hand with regions (so these tests do not depend on the layout), plus a pass
through ``assign_layout`` on the shared paper scenes.
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lina_core.csg import CSG, EdgeType, Effect, EffectType, Entity, Region
from lina_core.csg.layout import assign_layout, container_interior, region_mask
from lina_core.world import RenderError, Rendering, contact_sheet, render

from csg_scenes import all_scenes

SIZE = 64
LIGHT_BOX = {"left": (0.01, 0.05, 0.09, 0.15), "right": (0.91, 0.05, 0.99, 0.15)}


# -- hand-built scenes ---------------------------------------------------------------------------
def _ent(g: CSG, nid: str, cls: str, box: tuple[float, float, float, float] | None, **kw) -> None:
    g.add(Entity(nid, cls, region=Region(*box) if box else None, words=[cls], **kw))


def _effect(g: CSG, nid: str, type: EffectType, box, **params) -> None:
    g.add(Effect(nid, type, params=params, region=Region(*box) if box else None))


def _on(g: CSG, obj: str, support: str) -> None:
    o, s = g.node(obj).region, g.node(support).region
    g.connect(support, obj, EdgeType.SUPPORTS)
    g.connect(obj, support, EdgeType.LOCATED_AT, relation="on")
    _effect(g, f"contact_{obj}", EffectType.CONTACT, (max(o.x0, s.x0), o.y1 - 0.015, min(o.x1, s.x1), o.y1 + 0.015),
            object=obj, support=support)
    g.connect(obj, f"contact_{obj}", EdgeType.CAUSES)
    g.connect(support, f"contact_{obj}", EdgeType.SUPPORTS)


def _reflect(g: CSG, obj: str, surface: str) -> None:
    o, s = g.node(obj).region, g.node(surface).region
    line = max(o.y1, s.y0)
    mirrored = Region(o.x0, 2 * line - o.y1, o.x1, min(1.0, 2 * line - o.y0))
    _effect(g, f"reflection_{obj}", EffectType.REFLECTION, mirrored.intersection(s).as_tuple(), object=obj,
            surface=surface)
    g.connect(obj, f"reflection_{obj}", EdgeType.CAUSES)
    g.connect(surface, f"reflection_{obj}", EdgeType.REFLECTS)


def _light(g: CSG, side: str) -> None:
    _ent(g, "light", "light", LIGHT_BOX[side], side=side)


def _shadow(g: CSG, obj: str, side: str) -> None:
    o = g.node(obj).region
    box = (o.center[0], o.y1 - 0.01, min(1.0, o.x1 + 0.25), o.y1 + 0.05) if side == "right" else (
        max(0.0, o.x0 - 0.25), o.y1 - 0.01, o.center[0], o.y1 + 0.05)
    _effect(g, f"shadow_{obj}", EffectType.SHADOW, box, object=obj, light="light", side=side)
    g.connect(obj, f"shadow_{obj}", EdgeType.CASTS)
    g.connect("light", f"shadow_{obj}", EdgeType.ILLUMINATES)


def _px(*v: int) -> tuple[float, ...]:
    """A box on the 64-pixel grid, so that flips map whole pixels onto whole pixels."""
    return tuple(x / SIZE for x in v)


SMALL_MIRROR, LARGE_MIRROR = _px(28, 42, 36, 47), _px(12, 42, 52, 62)


def on_mirror(cls: str = "ball", mirror: tuple = SMALL_MIRROR, colour: str = "red") -> CSG:
    """An object on a mirror lying flat: its box starts at the mirror's top edge."""
    g = CSG(f"a {colour} {cls} on a mirror")
    _ent(g, "floor", "floor", _px(0, 42, 64, 64))
    _ent(g, "mirror", "mirror", mirror)
    _ent(g, cls, cls, _px(24, 26, 40, 42), colour=colour)
    _on(g, cls, "mirror")
    _reflect(g, cls, "mirror")
    return g


def over_water(cls: str = "bird", colour: str = "red") -> CSG:
    g = CSG(f"a {colour} {cls} above a lake")
    _ent(g, "water", "water", _px(0, 40, 64, 64))
    _ent(g, cls, cls, _px(23, 20, 41, 33), colour=colour)
    g.connect(cls, "water", EdgeType.LOCATED_AT, relation="above")
    _reflect(g, cls, "water")
    return g


def lit_ball(side: str) -> CSG:
    g = CSG(f"a blue ball on the grass, light from the {side}")
    _ent(g, "grass", "grass", (0.0, 0.6, 1.0, 1.0))
    _ent(g, "ball", "ball", (0.4, 0.5, 0.6, 0.7), colour="blue")
    _on(g, "ball", "grass")
    _light(g, side)
    _shadow(g, "ball", "right" if side == "left" else "left")
    return g


def jar_of(level: float, substance: str = "dirt", container: str = "jar") -> CSG:
    g = CSG(f"a {container} of {substance} at level {level}")
    _ent(g, "floor", "floor", (0.0, 0.8, 1.0, 1.0))
    _ent(g, container, container, (0.35, 0.3, 0.65, 0.8))
    inner = container_interior(g.node(container).region)
    _ent(g, substance, substance, (inner.x0, inner.y1 - level * inner.height, inner.x1, inner.y1))
    g.connect(container, substance, EdgeType.CONTAINS)
    _effect(g, f"fill_{container}", EffectType.FILL, g.node(substance).region.as_tuple(), container=container,
            substance=substance, level=level, comparison=None)
    g.connect(substance, f"fill_{container}", EdgeType.CAUSES)
    g.connect(container, f"fill_{container}", EdgeType.CONTAINS)
    return g


def bird_eats_snake() -> CSG:
    g = CSG("a bird eats a snake")
    _ent(g, "bird", "bird", (0.2, 0.45, 0.55, 0.7), colour="blue")
    _ent(g, "snake", "snake", (0.49, 0.48, 0.8, 0.58), colour="green")
    g.connect("bird", "snake", EdgeType.ACTS_ON, verb="eat")
    _effect(g, "action_eat", EffectType.ACTION, (0.2, 0.45, 0.8, 0.7), verb="eat", agent="bird", patient="snake")
    g.connect("bird", "action_eat", EdgeType.CAUSES, role="agent")
    g.connect("action_eat", "snake", EdgeType.ACTS_ON, role="patient")
    _effect(g, "contact_snake", EffectType.CONTACT, (0.49, 0.48, 0.55, 0.58), object="snake", support="bird",
            part="mouth")
    g.connect("action_eat", "contact_snake", EdgeType.CAUSES)
    return g


def two_balls() -> CSG:
    g = CSG("two yellow balls")
    _ent(g, "ball", "ball", (0.3, 0.5, 0.7, 0.7), colour="yellow", count=2)
    return g


HAND_SCENES = {
    "small_mirror": on_mirror, "large_mirror": lambda: on_mirror("cube", LARGE_MIRROR, "green"),
    "water": over_water, "shadow": lambda: lit_ball("left"), "jar": lambda: jar_of(0.5),
    "eat": bird_eats_snake, "pair": two_balls,
}


# -- helpers -------------------------------------------------------------------------------------
def _centres() -> np.ndarray:
    return (np.arange(SIZE) + 0.5) / SIZE


def _inside(mask: np.ndarray, region: Region, tol_px: float = 0.5) -> bool:
    """Every mask pixel's centre lies in the region (give or take ``tol_px``)."""
    ys, xs = np.nonzero(mask)
    t = tol_px / SIZE
    c = _centres()
    return bool(((c[xs] >= region.x0 - t) & (c[xs] <= region.x1 + t)
                 & (c[ys] >= region.y0 - t) & (c[ys] <= region.y1 + t)).all())


def _pixels(r: Rendering, nid: str) -> np.ndarray:
    return np.asarray(r.image, np.float64)[r.masks[nid]]


def _lum(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114])


def _dilate(m: np.ndarray, k: int = 1) -> np.ndarray:
    out = m.copy()
    for _ in range(k):
        p = np.pad(out, 1)
        out = p[1:-1, 1:-1] | p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
    return out


# -- basics --------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [32, 64])
def test_image_and_masks_have_the_requested_size(size):
    r = render(on_mirror(), size=size)
    assert r.image.mode == "RGB" and r.image.size == (size, size)
    assert all(m.shape == (size, size) and m.dtype == bool for m in r.masks.values())


@pytest.mark.parametrize("name", sorted(HAND_SCENES))
def test_every_node_gets_a_non_empty_mask(name):
    g = HAND_SCENES[name]()
    r = render(g)
    assert set(r.masks) == {n.id for n in g.nodes()}
    assert [nid for nid, m in r.masks.items() if not m.any()] == []


def test_masks_follow_occlusion():
    """The object in front owns its pixels: the mirror's mask stops where the ball covers it."""
    r = render(on_mirror())
    assert not (r.masks["ball"] & r.masks["mirror"]).any()
    assert not (r.masks["ball"] & r.masks["reflection_ball"]).any()


def test_same_seed_same_image_other_seed_other_image():
    g = lit_ball("left")
    a, b, c = render(g, seed=3), render(g, seed=3), render(g, seed=4)
    assert a.image.tobytes() == b.image.tobytes()
    assert all((a.masks[k] == b.masks[k]).all() for k in a.masks)
    assert a.image.tobytes() != c.image.tobytes()


def test_colours_stay_recognisable_across_seeds():
    for seed in range(6):
        rgb = _pixels(render(on_mirror(), seed=seed), "ball").mean(axis=0)
        assert rgb[0] > 1.8 * rgb[1] and rgb[0] > 1.8 * rgb[2], (seed, rgb)


def test_count_draws_that_many_copies():
    m = render(two_balls()).masks["ball"]
    cols = m.any(axis=0).astype(int)
    runs = int((np.diff(np.concatenate([[0], cols, [0]])) == 1).sum())
    assert runs == 2


# -- reflections ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [on_mirror, over_water, lambda: on_mirror("cube", LARGE_MIRROR)])
def test_reflection_lies_only_inside_its_surface(make):
    g = make()
    refl = g.effects(EffectType.REFLECTION)[0]
    r = render(g)
    surface = g.node(refl.params["surface"]).region
    assert r.masks[refl.id].sum() >= 6
    assert _inside(r.masks[refl.id], surface)


def test_small_mirror_clips_the_reflection():
    """The mirrored ball would reach y=0.90; on a mirror ending at 0.74 it must stop there."""
    g = on_mirror()
    r = render(g)
    rows = np.nonzero(r.masks["reflection_ball"].any(axis=1))[0]
    assert (rows.max() + 0.5) / SIZE <= g.node("mirror").region.y1 + 0.5 / SIZE
    mirror_glass_rows = np.nonzero(r.masks["mirror"].any(axis=1) | r.masks["reflection_ball"].any(axis=1))[0]
    assert rows.max() >= mirror_glass_rows.max() - 2  # and it does fill the mirror down to its frame


def test_reflection_is_the_object_flipped_and_darker():
    """Pixel (y, x) of the cube reappears at 2*line - y: a flip matches far better than a plain copy below."""
    g = on_mirror("cube", LARGE_MIRROR, "green")
    r = render(g)
    img = _lum(np.asarray(r.image, np.float64))
    refl = r.masks["reflection_cube"]
    ys, xs = np.nonzero(r.masks["cube"])

    def match(to_rows: np.ndarray) -> float:
        ok = (to_rows < SIZE) & refl[np.clip(to_rows, 0, SIZE - 1), xs]
        assert ok.sum() > 0.6 * len(ys)
        return float(np.corrcoef(img[ys[ok], xs[ok]], img[to_rows[ok], xs[ok]])[0, 1])

    line = g.node("cube").region.y1 * SIZE
    flipped = match(np.floor(2 * line - (ys + 0.5)).astype(int))
    copied = match(ys + (ys.max() - ys.min() + 1))
    assert flipped > 0.6 and flipped > copied + 0.2
    o, f = np.median(_pixels(r, "cube"), axis=0), np.median(_pixels(r, "reflection_cube"), axis=0)
    assert f[1] > f[0] and f[1] > f[2]  # still green
    assert _lum(f) < _lum(o) - 5


def test_water_reflection_is_darker_than_a_mirror_reflection():
    r = render(over_water("bird", "yellow"))
    water, bird = _pixels(r, "reflection_bird").mean(axis=0), _pixels(r, "bird").mean(axis=0)
    mirror = _pixels(render(on_mirror("bird", LARGE_MIRROR, "yellow")), "reflection_bird").mean(axis=0)
    assert _lum(water) < _lum(mirror) - 20 and _lum(water) < _lum(bird) - 20


def test_water_reflection_is_rippled():
    """Row by row, the reflection's left edge wanders (it is shifted sideways), a mirror's does not."""
    def edge_wander(r: Rendering, nid: str) -> float:
        m = r.masks[nid]
        lefts = [np.nonzero(row)[0][0] for row in m if row.any()]
        return float(np.abs(np.diff(lefts)).mean())

    water = edge_wander(render(over_water("cube")), "reflection_cube")
    mirror = edge_wander(render(on_mirror("cube", LARGE_MIRROR)), "reflection_cube")
    assert water > mirror + 0.4


# -- shadows -------------------------------------------------------------------------------------
@pytest.mark.parametrize("side", ["left", "right"])
def test_shadow_is_dark_and_opposite_the_light(side):
    g = lit_ball(side)
    r = render(g)
    shadow, ball = r.masks["shadow_ball"], r.masks["ball"]
    sx, bx = np.nonzero(shadow)[1].mean(), np.nonzero(ball)[1].mean()
    assert (sx > bx) if side == "left" else (sx < bx)
    ring = _dilate(shadow, 2) & ~shadow & r.masks["grass"]
    img = _lum(np.asarray(r.image, np.float64))
    assert img[shadow].mean() < img[ring].mean() - 25


def test_light_is_a_yellow_glow_on_its_side():
    r = render(lit_ball("right"))
    rgb = _pixels(r, "light").mean(axis=0)
    assert rgb[0] > 200 and rgb[1] > 170 and rgb[2] < 120
    assert np.nonzero(r.masks["light"])[1].mean() > SIZE * 0.85


def test_shadow_of_a_stacked_object_falls_on_its_support_not_the_wall():
    g = CSG("a ball on a cube, light from the right")
    _ent(g, "grass", "grass", (0.0, 0.6, 1.0, 1.0))
    _ent(g, "cube", "cube", (0.4, 0.5, 0.6, 0.7), colour="yellow")
    _ent(g, "ball", "ball", (0.44, 0.34, 0.56, 0.5), colour="red")
    _on(g, "cube", "grass")
    _on(g, "ball", "cube")
    _light(g, "right")
    _shadow(g, "ball", "left")
    r = render(g)
    shadow = r.masks["shadow_ball"]
    assert shadow.sum() >= 3
    assert _inside(shadow, g.node("cube").region)  # the part over the wall is not drawn
    img = _lum(np.asarray(r.image, np.float64))
    lit = r.masks["cube"] & ~shadow & (np.arange(SIZE)[:, None] > 0.55 * SIZE)
    assert img[shadow].mean() < img[lit].mean() - 25


@pytest.mark.parametrize("side", ["left", "right"])
def test_scene_is_brighter_on_the_light_side(side):
    img = _lum(np.asarray(render(lit_ball(side)).image, np.float64))
    left, right = img[20:36, 2:12].mean(), img[20:36, 52:62].mean()  # plain sky, below the sun
    assert (left > right + 8) if side == "left" else (right > left + 8)


# -- fill ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("level", [0.25, 0.75])
def test_fill_reaches_the_level_and_not_above(level):
    g = jar_of(level)
    r = render(g)
    inner = container_interior(g.node("jar").region)
    fill = r.masks["fill_jar"]
    assert (fill == r.masks["dirt"]).all()
    rows = np.nonzero(fill.any(axis=1))[0]
    top = inner.y1 - level * inner.height
    assert abs(rows.min() / SIZE - top) <= 1.5 / SIZE
    dirt = np.asarray(r.image, np.float64)[fill].mean(axis=0)
    assert dirt[0] > dirt[1] > dirt[2]  # brown
    img = np.asarray(r.image, np.float64)
    c = _centres()
    above = (c[:, None] < top - 2 / SIZE) & (c[:, None] > inner.y0 + 2 / SIZE) \
        & (c[None, :] > inner.x0 + 2 / SIZE) & (c[None, :] < inner.x1 - 2 / SIZE)
    assert above.any()
    dist = np.linalg.norm(img[above] - dirt, axis=1)
    assert dist.min() > 60  # empty glass above the level: no dirt-coloured pixel


def test_more_fill_covers_more_of_the_jar():
    low, high = (render(jar_of(v)).masks["fill_jar"].sum() for v in (0.25, 0.75))
    assert 2.2 < high / low < 3.8


def test_water_fill_is_blue():
    rgb = _pixels(render(jar_of(0.5, "water")), "fill_jar").mean(axis=0)
    assert rgb[2] > rgb[1] > rgb[0]


# -- action and contact --------------------------------------------------------------------------
def test_agent_mouth_is_on_the_patient():
    r = render(bird_eats_snake())
    bird, snake = r.masks["bird"], r.masks["snake"]
    assert (_dilate(bird) & snake).any()  # touching
    assert (r.masks["action_eat"] == (bird | snake)).all()
    bite = r.masks["contact_snake"]
    assert (bite & snake).any() and (bite & _dilate(bird)).any()
    assert bird.sum() > snake.sum()  # the eater is bigger here, as laid out


def test_agent_reaches_into_the_patient():
    """Patient partly inside the mouth: the bird's pixels enter the snake's own box."""
    g = bird_eats_snake()
    snake_box = g.node("snake").region
    r = render(g)
    bird_in_box = r.masks["bird"] & region_mask(snake_box, SIZE, SIZE)
    assert bird_in_box.sum() >= 2
    bite = r.masks["contact_snake"]
    assert (r.masks["bird"] & bite).sum() >= 4  # the beak is drawn over the snake, not hidden behind it


def test_contact_mask_is_the_strip_under_the_object():
    g = lit_ball("left")
    r = render(g)
    strip = r.masks["contact_ball"]
    ball = g.node("ball").region
    ys, xs = np.nonzero(strip)
    assert np.abs((ys + 0.5) / SIZE - ball.y1).max() <= 1.6 / SIZE
    assert _inside(strip, Region(ball.x0, 0.0, ball.x1, 1.0))
    assert (_dilate(r.masks["ball"]) & strip).any()


# -- bad input -----------------------------------------------------------------------------------
def _unknown() -> CSG:
    g = on_mirror()
    g.add(Entity("zorblax", "zorblax", known=False, region=Region(0.1, 0.1, 0.2, 0.2)))
    return g


def _reflection_on_table() -> CSG:
    g = CSG("a ball on a table")
    _ent(g, "table", "table", (0.3, 0.5, 0.7, 0.8))
    _ent(g, "ball", "ball", (0.4, 0.35, 0.55, 0.5))
    _on(g, "ball", "table")
    _reflect(g, "ball", "table")
    return g


def _no_region() -> CSG:
    g = on_mirror()
    g.add(Entity("cube", "cube"))
    return g


def _fill_in_cup() -> CSG:
    return jar_of(0.5, container="cup")


@pytest.mark.parametrize("make, node", [(_unknown, "zorblax"), (_reflection_on_table, "reflection_ball"),
                                        (_no_region, "cube"), (_fill_in_cup, "fill_cup")])
def test_undrawable_graphs_raise_naming_the_node(make, node):
    with pytest.raises(RenderError) as err:
        render(make())
    assert err.value.node == node and repr(node) in str(err.value)


# -- through the layout --------------------------------------------------------------------------
LAID_OUT = {k: v for k, v in all_scenes().items() if k != "unknown"}


@pytest.mark.parametrize("name", sorted(LAID_OUT))
def test_laid_out_scenes_render_with_physics_in_place(name):
    g = assign_layout(all_scenes()[name], seed=7, jitter=0.5)
    r = render(g, seed=7)
    assert set(r.masks) == {n.id for n in g.nodes()}
    for n in g.nodes():
        if isinstance(n, Entity) or n.type != EffectType.CONTACT:
            assert r.masks[n.id].any(), n.id
    for refl in g.effects(EffectType.REFLECTION):
        assert _inside(r.masks[refl.id], g.node(refl.params["surface"]).region)
    for sh in g.effects(EffectType.SHADOW):
        obj = g.node(sh.params["object"]).region
        sx = np.nonzero(r.masks[sh.id])[1].mean() / SIZE
        if sh.params["side"] != "below":
            assert (sx > obj.center[0]) == (sh.params["side"] == "right")


def test_layout_unknown_class_is_refused():
    g = assign_layout(all_scenes()["unknown"], seed=0)
    with pytest.raises(RenderError) as err:
        render(g)
    assert err.value.node == "zorblax"


def test_contact_sheet_writes_a_grid(tmp_path):
    items = [(name, render(make())) for name, make in list(HAND_SCENES.items())[:4]]
    path = tmp_path / "sheet.png"
    contact_sheet(items, path, scale=2, columns=2)
    sheet = Image.open(path)
    assert sheet.width >= 2 * 2 * (2 * SIZE) and sheet.height >= 2 * 2 * SIZE
    px = np.asarray(sheet.convert("RGB"))
    assert (px != 255).any(axis=-1).mean() > 0.2  # images, not a blank page


def test_small_mirror_renders_at_the_tiny_models_resolution():
    """At 32x32 a small mirror is a few pixels wide: it must still draw (with glass) instead of failing in PIL."""
    from lina_core.world.prompts import PromptSample
    from lina_core.world.stream import make_scene

    for seed in range(5):
        scene = make_scene(PromptSample("a yellow bottle on top of a small mirror", "optics", "reflection_mirror"),
                           seed=seed, size=32)
        assert scene.rendering.image.size == (32, 32)
        assert scene.rendering.masks["mirror"].any()
