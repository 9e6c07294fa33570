"""Rule-based prompt parser: English text -> Causal Scene Graph (before layout).

Three small stages, each readable on its own:

1. ``text.lex``: tokens -> lexical items (colour, class, relation, verb, fill level, ...).
2. ``chunk``: noun-phrase chunker. ``[det] [number] modifiers* head`` becomes one NounPhrase;
   everything else passes through as a one-item chunk.
3. ``_ClauseReader``: walks the chunks with a little state (the current noun-phrase group, the
   clause's subject, a relation or verb waiting for its noun phrase) and writes entities and
   edges into the CSG. Then ``kb.apply_physics`` adds the implied effects.

Why rule-based: the CSG must be exact and explainable (every node traces back to prompt words,
every unknown word is reported), and it must run anywhere without a model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Collection

from . import kb
from .graph import CSG, EdgeType, EffectType, Entity
from .text import Level, Lex, LexKind, lex, looks_like_participle, singular_unknown, tokenize
from .vocab import Category, category

MAX_PROMPT_CHARS = 500
MAX_COUNT = 20  # the JSON schema's bound on Entity.count
EXAMPLE = "a red ball on a small mirror"


class PromptError(ValueError):
    """The prompt cannot be turned into a scene graph; the message is meant for the user."""


# --------------------------------------------------------------------------------------------
# Stage 2: noun-phrase chunker


@dataclass
class NounPhrase:
    cls: str
    known: bool = True
    definite: bool = False  # "the ball" may refer back to a ball already named
    count: int | None = None  # stated number ("two", "3"), None when not stated
    plural: bool = False
    colour: str | None = None
    size: str | None = None
    material: str | None = None
    level: Level | None = None  # "a half full jar", "more dirt (than empty space)"
    words: list[str] = field(default_factory=list)


@dataclass
class Chunk:
    kind: LexKind | str  # "np" for a NounPhrase, else the LexKind of a single item
    value: Any
    words: tuple[str, ...] = ()


_MODIFIERS = {LexKind.DET, LexKind.NUM, LexKind.COLOUR, LexKind.SIZE, LexKind.MATERIAL, LexKind.LEVEL}
# Modifiers that still mean something after their noun ("the ball is red", "a jar half full of").
_PREDICATES = {LexKind.COLOUR, LexKind.SIZE, LexKind.MATERIAL, LexKind.LEVEL}
# After these, a bare unknown word sits in an entity slot ("a ball on zorblax").
_OPENS_SLOT = {LexKind.PREP, LexKind.VERB, LexKind.WITH, LexKind.OF}
# Before these, a bare unknown word is a subject ("zorblax on a table").
_CLOSES_SLOT = {LexKind.PREP, LexKind.VERB, LexKind.SIDE, LexKind.LIT, LexKind.COP}
# Items that say where a thing is; an unknown participle right before one says how ("zooming over").
_PLACES = {LexKind.PREP, LexKind.PREP_IT, LexKind.SIDE}


def _absorbed_participle(items: list[Lex], j: int) -> bool:
    """Is ``items[j]`` an unknown participle after its noun and before a place ("a bird zooming over")?

    It then joins the relation instead of becoming a thing. After a modifier or a preposition it is a
    noun ("a building near the water", "on building").
    """
    item, prev = items[j], items[j - 1].kind if j else None
    return (item.kind == LexKind.UNKNOWN and looks_like_participle(item.value) and j + 1 < len(items)
            and items[j + 1].kind in _PLACES and prev not in _MODIFIERS | _OPENS_SLOT)


def _unknown_is_head(items: list[Lex], start: int, j: int, prev: LexKind | None) -> bool:
    """Is the unknown word ``items[j]`` a noun (a generic entity) rather than a stray word?"""
    after = items[j + 1].kind if j + 1 < len(items) else None
    modified = any(m.kind in _MODIFIERS for m in items[start:j])  # "a red zorblax", not "beautifully rendered"
    return modified or prev in _OPENS_SLOT or after in _CLOSES_SLOT


def _unknown_modifier(items: list[Lex], j: int) -> bool:
    """An unknown word followed by more of a noun phrase ("a zorblax ball") only modifies it."""
    nxt = items[j + 1].kind if j + 1 < len(items) else None
    if nxt == LexKind.UNKNOWN and _absorbed_participle(items, j + 1):
        return False  # "a zorblax zooming over": the zorblax is the noun
    return items[j].kind == LexKind.UNKNOWN and nxt in _MODIFIERS | {LexKind.CLASS, LexKind.UNKNOWN}


def _build_np(mods: list[Lex], head: Lex) -> NounPhrase:
    """Fold modifiers into the head's NounPhrase; determiners are not part of the naming words."""
    if head.kind == LexKind.CLASS:
        np = NounPhrase(cls=head.value, plural=head.plural)
    else:
        cls, plural = singular_unknown(head.value)
        np = NounPhrase(cls=cls, known=False, plural=plural)
    for m in mods:
        if m.kind == LexKind.UNKNOWN:
            continue  # reported in unknown_words; not part of what names the entity
        if m.kind == LexKind.DET:
            np.definite = np.definite or m.words[0] in ("the", "this", "its", "their", "his", "her")
            continue
        np.words += m.words
        if m.kind == LexKind.NUM:
            np.count = m.value
        elif m.kind == LexKind.LEVEL:
            np.level = m.value
        elif m.kind == LexKind.SIZE and m.words == ("little",) and kb.is_fillable(np.cls):
            np.level = Level(0.15)  # "a little sand": an amount, not a size
        else:
            setattr(np, m.kind.value, m.value)
    np.words += head.words
    return np


def chunk(items: list[Lex]) -> list[Chunk]:
    """Group lexical items into noun phrases; other items pass through one per chunk."""
    out: list[Chunk] = []
    i = 0
    while i < len(items):
        if _absorbed_participle(items, i):  # still reported as unknown: only its place is understood
            place = items[i + 1]
            out.append(Chunk(place.kind, place.value, items[i].words + place.words))
            i += 2
            continue
        j = i
        while j < len(items) and (items[j].kind in _MODIFIERS or _unknown_modifier(items, j)):
            j += 1
        prev = items[i - 1].kind if i else None
        head = items[j] if j < len(items) else None
        if head is not None and (head.kind == LexKind.CLASS or (
                head.kind == LexKind.UNKNOWN and _unknown_is_head(items, i, j, prev))):
            out.append(Chunk("np", _build_np(items[i:j], head)))
            i = j + 1
        elif j > i:  # modifiers with no noun: predicates ("the ball is red", "a jar filled with")
            out += [Chunk(m.kind, m.value, m.words) for m in items[i:j] if m.kind in _PREDICATES]
            i = j
        else:
            out.append(Chunk(items[i].kind, items[i].value, items[i].words))
            i += 1
    return out


# --------------------------------------------------------------------------------------------
# Stage 3: clause reader


@dataclass
class _Pending:
    """A relation, verb, "with" or "of" waiting for the noun phrase that completes it."""

    kind: LexKind
    value: Any
    subjects: list[str] | None  # None: fronted ("on a mirror there is a ball"), subject comes later
    words: tuple[str, ...] = ()


_LIGHT_SOURCES = frozenset({"light", "lamp"})
# Things a support is never placed relative to when it holds the clause's subject (see _relation_owners).
_SMALL = frozenset({Category.OBJECT, Category.CONTAINER})
_GROUND = frozenset({Category.SUPPORT, Category.SURFACE})
# What "with" / "of" must follow to attach to something ("X, with Y": Y is with the subject X).
_ATTACHES_AFTER: dict[LexKind, tuple[LexKind | str, ...]] = {
    LexKind.WITH: ("np", LexKind.LEVEL, LexKind.COMMA), LexKind.OF: ("np", LexKind.LEVEL)}
# A preposition with nothing after it that still says something: "the sun above, ..." is overhead.
_DANGLING_SIDES = {"above": "top"}


def with_relation(owner_cls: str, thing_cls: str) -> str | None:
    """What "OWNER with THING" means spatially: in a container, on a support, or nothing."""
    owner = category(owner_cls)
    if thing_cls in _LIGHT_SOURCES:
        return None  # "with a lamp on the right": a light for the scene, not a thing on the owner
    if owner == Category.CONTAINER:
        return "in"
    if owner in (Category.SUPPORT, Category.SURFACE):
        return "on"
    return None


class _ClauseReader:
    def __init__(self, csg: CSG) -> None:
        self.csg = csg
        self.levels: dict[str, tuple[Level, tuple[str, ...]]] = {}  # entity id -> stated fill level
        self.stated: set[EffectType] = set()
        self.shadow_side: str | None = None  # "a shadow to the left"
        self.notes: list[str] = []
        self._reset()

    def _reset(self) -> None:
        self.group: list[str] = []  # entity ids of the latest noun-phrase group ("a ball and a cube")
        self.group_closed = False  # something was said about the group (so "and X" starts a new one)
        self.subject: list[str] = []  # the clause's subject group
        self.pending: _Pending | None = None
        self.fronted: tuple[str, list[str]] | None = None  # (relation, reference) awaiting its subject
        self.fronted_subject: list[str] | None = None
        self.fronted_side: tuple[str, tuple[str, ...]] | None = None
        self.lit = False
        self.prev: LexKind | str | None = None
        self.named_effect: EffectType | None = None  # an effect word just read ("a shadow" + "to the left")
        self.companion: dict[str, str] = {}  # "a ball, with a cup": cup id -> ball id (for "on the left")

    # -- entities -------------------------------------------------------------------------
    def _entity(self, np: NounPhrase) -> str:
        """A new entity for the phrase, or the one "the X" refers back to."""
        if np.definite and np.count is None:
            for ent in reversed(self.csg.entities(np.cls)):
                if np.colour in (None, ent.colour):
                    for attr in ("colour", "size", "material"):
                        setattr(ent, attr, getattr(ent, attr) or getattr(np, attr))
                    return ent.id
        stated = np.count if np.count is not None else (2 if np.plural else 1)
        count = min(max(stated, 1), MAX_COUNT)
        if count != stated:
            self.notes.append(f"Count {stated} for '{np.cls}' is outside 1..{MAX_COUNT}; using {count}.")
        ent = Entity(self.csg.new_id(np.cls), np.cls, colour=np.colour, size=np.size, material=np.material,
                     count=count, known=np.known, words=list(np.words))
        self.csg.add(ent)
        if np.level is not None:
            self.levels[ent.id] = (np.level, tuple(np.words))
        return ent.id

    def _place(self, eid: str, side: str, words: tuple[str, ...]) -> None:
        """Put an entity on a side; a lamp placed on a side is the scene's light source."""
        ent = self.csg.node(eid)
        if ent.cls == "lamp" and self.csg.graph.degree(eid) == 0:
            self.csg.remove(eid)
            ent = Entity(self.csg.new_id("light"), "light", words=ent.words)
            self.csg.add(ent)
            for ids in (self.group, self.subject, self.fronted_subject or []):
                ids[:] = [ent.id if g == eid else g for g in ids]
        ent.side = side
        if ent.cls == "light":
            ent.words += [w for w in words if w != "the"]

    def _light(self, side: str | None, words: tuple[str, ...]) -> None:
        """"lit from the left": reuse a light with no side yet, else add one."""
        free = [e for e in self.csg.entities("light") if e.side is None]
        ent = free[-1] if free else self.csg.add(Entity(self.csg.new_id("light"), "light", words=["lit"]))
        if side is not None:
            self._place(ent.id, side, words)

    def _referent(self, exclude: list[str]) -> str | None:
        """What "it" means: the latest thing named that is not a support or surface, else the latest other."""
        others = [e for e in self.csg.entities() if e.id not in exclude and e.cls != "light"]
        pool = [e for e in others if category(e.cls) not in _GROUND] or others
        return pool[-1].id if pool else None

    # -- relations ------------------------------------------------------------------------
    def relate(self, obj: str, relation: str, ref: str) -> None:
        """obj -located_at{relation}-> ref, plus the physical edge the relation implies."""
        if obj == ref or "light" in (self.csg.node(obj).cls, self.csg.node(ref).cls):
            return  # a light is placed by its side ("sunlight from the left on a ball"), not by relations
        self.csg.connect(obj, ref, EdgeType.LOCATED_AT, relation=relation)
        edge = kb.structural_edge(relation, self.csg.node(obj).cls, self.csg.node(ref).cls)
        if edge is not None:
            self.csg.connect(ref, obj, edge)

    def _relation_owners(self, subjects: list[str], relation: str, ref: str) -> list[str]:
        """Who "<relation> ref" is about, given the noun phrase just before it.

        In "a ball on a table next to a cup" the table is where the subject stands: a support or
        surface holding the subject is never placed relative to a small thing, the subject is.
        """
        if relation in ("on", "in") or category(self.csg.node(ref).cls) not in _SMALL:
            return subjects
        return list(self.subject) if self._grounds_subject(subjects, _GROUND) else subjects

    def _with(self, owner: str, eid: str, sole_owner: bool) -> None:
        """"OWNER with THING": in a container, on a support, else (one owner) a companion a side places."""
        owner_cls, cls = self.csg.node(owner).cls, self.csg.node(eid).cls
        if rel := with_relation(owner_cls, cls):
            self.relate(eid, rel, owner)
        elif sole_owner and owner_cls != "light" and cls not in _LIGHT_SOURCES:
            self.companion[eid] = owner

    def _complete(self, p: _Pending, eid: str) -> None:
        """The noun phrase ``eid`` completes the pending relation / verb / with / of."""
        subjects = p.subjects or []
        if p.kind == LexKind.PREP:
            subjects = self._relation_owners(subjects, p.value, eid)
        for s in subjects:
            if p.kind == LexKind.PREP:
                self.relate(s, p.value, eid)
            elif p.kind == LexKind.VERB and s != eid:
                agent, patient = (eid, s) if p.value.passive else (s, eid)
                kb.add_action(self.csg, p.value.verb, agent, patient, words=list(p.words))
            elif p.kind == LexKind.OF and category(self.csg.node(s).cls) == Category.CONTAINER:
                self.relate(eid, "in", s)
            elif p.kind == LexKind.WITH:
                self._with(s, eid, sole_owner=len(subjects) == 1)
        if p.kind == LexKind.PREP and p.subjects is None:
            self.fronted = (p.value, [eid])

    # -- chunk handlers ---------------------------------------------------------------------
    def _targets(self) -> list[str]:
        """Who a relation/verb/side right here is about: the noun phrase just before, else the subject.

        Except after a surface the subject is at: in "a man in the sand near the lake" the sand is
        where the man stands, not a placed thing, so "near the lake" is about the man. (In "a jar
        with sand in it" the sand is a placed thing: the jar is not at it.)
        """
        ground = self.group_closed and self._grounds_subject(self.group, {Category.SURFACE})
        if self.prev == "np" and not ground:
            return list(self.group)
        return list(self.subject)

    def _grounds_subject(self, ids: list[str], categories: Collection[Category]) -> bool:
        """Are ``ids`` all places of these categories where the clause's subject is ("on a table")?"""
        def ground(g: str) -> bool:
            return category(self.csg.node(g).cls) in categories and any(self.csg.relation(s, g) for s in self.subject)
        return bool(ids) and all(ground(g) for g in ids)

    def on_np(self, c: Chunk) -> None:
        eid = self._entity(c.value)
        if self.pending is not None:
            self._complete(self.pending, eid)
            # "a jar of water on a table": what follows is about the jar, not the water
            self.group = list(self.pending.subjects or []) if self.pending.kind == LexKind.OF else [eid]
            self.group_closed, self.pending = True, None
        elif self.prev in (LexKind.CONJ, LexKind.COMMA) and self.group and not self.group_closed:
            self.group.append(eid)
        else:
            self.group, self.group_closed = [eid], False
            self.subject = self.group
            if self.fronted is not None and self.fronted_subject is None:
                self.fronted_subject = self.group
        if self.fronted_side is not None:
            self._place(eid, *self.fronted_side)
            self.fronted_side = None

    def on_relation(self, c: Chunk) -> None:
        """A preposition, verb, "with" or "of": wait for the noun phrase that completes it."""
        targets = self._targets()
        if c.kind in _ATTACHES_AFTER and (self.prev not in _ATTACHES_AFTER[c.kind] or not targets):
            return  # "with light from above" / "a photo of": nothing to attach to
        if c.kind == LexKind.VERB and not targets:
            self.notes.append(f"'{' '.join(c.words)}' has no one doing it; the action is left out.")
            return
        self.pending = _Pending(c.kind, c.value, targets or None, c.words)

    def on_pronoun(self) -> None:
        """"next to it": the pending relation is to what "it" refers to."""
        p = self.pending
        if p is None:
            return
        ref = self._referent(p.subjects or [])
        if ref is None and p.subjects and len(p.subjects) > 1:  # "a table and a cup on it": the cup is on the table
            p.subjects = p.subjects[-1:]
            ref = self._referent(p.subjects)
        if ref is None:
            return
        self._complete(p, ref)
        self.pending, self.group_closed = None, True

    def on_mutual(self, c: Chunk) -> None:
        """"a ball and a cube side by side": each next to the one after it (one counted node needs nothing)."""
        targets = self._targets()
        for a, b in zip(targets, targets[1:]):
            self.relate(a, c.value, b)
        self.group_closed = True

    def on_side(self, c: Chunk) -> None:
        if self.lit:
            self._light(c.value, c.words)
            self.lit = False
            return
        if self.named_effect == EffectType.SHADOW:
            self.shadow_side = c.value  # "a shadow to the left": where the shadow falls, not the object
            return
        targets = self._targets()
        if not targets:
            self.fronted_side = (c.value, c.words)
        for eid in targets:
            if eid in self.companion and c.value in ("left", "right"):
                self.relate(eid, f"{c.value}_of", self.companion[eid])  # "a ball, with a cup on the left"
            else:
                self._place(eid, c.value, c.words)
        self.group_closed = True

    def on_predicate(self, c: Chunk) -> None:
        """"the ball is red", "a jar that is half full": an attribute after its noun."""
        targets = self._targets()
        if not targets:
            return
        if c.kind == LexKind.LEVEL:
            self.levels[targets[-1]] = (c.value, c.words)
            return
        for eid in targets:
            ent = self.csg.node(eid)
            setattr(ent, c.kind.value, c.value)
            ent.words += list(c.words)

    def close_dangling(self) -> None:
        """"the sun above, ...": a preposition with no noun phrase after it that names a side."""
        p = self.pending
        if p is None or p.kind != LexKind.PREP or p.value not in _DANGLING_SIDES or not p.subjects:
            return
        for eid in p.subjects:
            self._place(eid, _DANGLING_SIDES[p.value], p.words)
        self.pending, self.group_closed = None, True

    def end_clause(self) -> None:
        if self.fronted is not None and self.fronted_subject:
            relation, refs = self.fronted
            for s in self.fronted_subject:
                for r in refs:
                    self.relate(s, relation, r)
        self.close_dangling()
        if self.lit:
            self._light(None, ())
        self._reset()

    def read(self, chunks: list[Chunk]) -> None:
        for c in chunks:
            if c.kind == "np":
                self.on_np(c)
            elif c.kind in (LexKind.PREP, LexKind.VERB, LexKind.WITH, LexKind.OF):
                self.on_relation(c)
            elif c.kind == LexKind.PREP_IT:  # "to its left" = "to the left of" + "it"
                self.on_relation(Chunk(LexKind.PREP, c.value, c.words))
                self.on_pronoun()
            elif c.kind == LexKind.PRON:
                self.on_pronoun()
            elif c.kind == LexKind.MUTUAL:
                self.on_mutual(c)
            elif c.kind == LexKind.SIDE:
                self.on_side(c)
            elif c.kind in _PREDICATES:
                self.on_predicate(c)
            elif c.kind == LexKind.LIT:
                self.lit = True
            elif c.kind == LexKind.EFFECT:
                self.stated.add(c.value)
                self.named_effect = c.value
                continue  # "a ball and its reflection on a mirror": the relation still attaches to the ball
            elif c.kind == LexKind.NEG:
                note = "Negation ('not', 'no', 'without') is not represented; the graph ignores it."
                if note not in self.notes:
                    self.notes.append(note)
            elif c.kind in (LexKind.COMMA, LexKind.CONJ):
                self.close_dangling()
            elif c.kind == LexKind.END:
                self.end_clause()
            self.prev, self.named_effect = c.kind, None
        self.end_clause()


# --------------------------------------------------------------------------------------------
# Finishing: stated effects, notes


def _stated_fills(csg: CSG, levels: dict[str, tuple[Level, tuple[str, ...]]], notes: list[str]) -> None:
    """A stated level ("half full", "more dirt than empty space") becomes a stated fill effect."""
    used: set[str] = set()
    for e in csg.edges(EdgeType.CONTAINS):
        container, substance = csg.node(e.src), csg.node(e.dst)
        if not kb.is_fillable(substance.cls):
            continue
        for key in (substance.id, container.id):
            if key in levels:
                level, words = levels[key]
                kb.add_fill(csg, container.id, substance.id, level.level, level.comparison, stated=True,
                            words=list(words))
                used.add(key)
                break
    for key in levels.keys() - used:
        notes.append(f"A fill level is stated for '{csg.node(key).cls}' but no container holding a substance "
                     "(e.g. 'a jar half full of water'); it is ignored.")


def _light_for_shadows(csg: CSG, shadow_side: str | None, notes: list[str]) -> None:
    """Stated shadows need a light: opposite a stated shadow side ("a shadow to the left"), else overhead."""
    light_side = kb.opposite_side(shadow_side) if shadow_side in ("left", "right") else None
    lights = csg.entities("light")
    placed = [e for e in lights if e.side is not None]
    if not lights:
        csg.add(Entity(csg.new_id("light"), "light", side=light_side))  # side None: overhead (the KB's default)
        notes.append(f"The shadow falls to the {shadow_side}: assumed a light on the {light_side}." if light_side
                     else "Shadows are mentioned but no light: assumed a light overhead.")
    elif light_side is not None and not placed:
        lights[-1].side = light_side
        notes.append(f"The shadow falls to the {shadow_side}: the light is placed on the {light_side}.")
    elif light_side is not None and any(e.side != light_side for e in placed):
        notes.append(f"The shadow is said to fall to the {shadow_side}, but the light is not on the {light_side}; "
                     "shadows are drawn opposite the light.")


def _mark_stated(csg: CSG, stated: set[EffectType], notes: list[str]) -> None:
    """Effects the prompt names ("its reflection", "shadows") are stated, not implied."""
    for type in stated:
        effects = csg.effects(type)
        if not effects:
            need = "a mirror or water under an object" if type == EffectType.REFLECTION else "an object"
            notes.append(f"The prompt mentions a {type.value} but the scene has no {need} for it.")
        for eff in effects:
            eff.implied, eff.hop = False, 0


def _describe(ent: Entity) -> str:
    count = str(ent.count) if ent.count > 1 else None
    attrs = " ".join(a for a in (count, ent.size, ent.colour, ent.material, ent.cls) if a)
    return attrs + ("" if ent.known else " (unknown word, kept as a generic object)")


def _quote(words: list[str], limit: int = 12) -> str:
    shown = ", ".join(f"'{w}'" for w in words[:limit])
    return shown + (f" and {len(words) - limit} more" if len(words) > limit else "")


def _unknown_note(csg: CSG) -> str:
    captured = "; ".join(_describe(e) for e in csg.entities())
    effects = sorted({e.type.value for e in csg.effects()})
    return (f"Words not understood: {_quote(csg.unknown_words)}. The graph still captures: {captured}"
            + (f" (effects: {', '.join(effects)})." if effects else "."))


def _check_text(prompt: Any) -> str:
    if not isinstance(prompt, str):
        raise PromptError(f"The prompt must be text, got {type(prompt).__name__}.")
    if not prompt.strip():
        raise PromptError(f"The prompt is empty: describe a scene, e.g. '{EXAMPLE}'.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise PromptError(f"The prompt is {len(prompt)} characters long; the limit is {MAX_PROMPT_CHARS}. "
                          "Shorten it to the scene's objects, their relations and the light.")
    return prompt


def parse_prompt(prompt: str) -> CSG:
    """Text -> CSG with the implied effects added by the knowledge base (no layout regions).

    Raises ``PromptError`` (a user-facing message) for an empty or over-long prompt, or one with no
    English word understood; otherwise unknown words are reported in ``unknown_words`` and ``notes``.
    """
    items = lex(tokenize(_check_text(prompt)))
    unknown = list(dict.fromkeys(i.value for i in items if i.kind in (LexKind.UNKNOWN, LexKind.FOREIGN)))
    understood = [i for i in items if i.kind not in (LexKind.UNKNOWN, LexKind.FOREIGN)]
    if not any(i.words[0].isalnum() for i in understood):
        what = f"not understood: {_quote(unknown)}" if unknown else "it holds only punctuation"
        raise PromptError(f"No English words understood in the prompt ({what}). "
                          f"Describe the scene in English, e.g. '{EXAMPLE}'.")

    csg = CSG(prompt)
    reader = _ClauseReader(csg)
    reader.read(chunk([i for i in items if i.kind not in (LexKind.FOREIGN, LexKind.FILLER)]))
    if not csg.entities():
        what = f" (not understood: {_quote(unknown)})" if unknown else ""
        raise PromptError(f"The prompt names nothing to draw{what}. Name the objects in the scene, e.g. '{EXAMPLE}'.")
    _stated_fills(csg, reader.levels, reader.notes)
    if EffectType.SHADOW in reader.stated:
        _light_for_shadows(csg, reader.shadow_side, reader.notes)
    kb.apply_physics(csg)
    _mark_stated(csg, reader.stated, reader.notes)
    csg.unknown_words = unknown
    csg.notes = ([_unknown_note(csg)] if unknown else []) + reader.notes
    return csg


__all__ = ["MAX_PROMPT_CHARS", "PromptError", "parse_prompt", "chunk", "NounPhrase", "with_relation"]
