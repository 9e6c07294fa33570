"""Lexical layer of the prompt parser: tokens, singular forms, and the word/phrase lexicon.

Why a layer of its own: the chunker and the clause rules in ``parser.py`` should reason about
*kinds* of words (a colour, a relation, a verb, a fill level), never about spellings. Everything
about spelling lives here: case, contractions, plurals, synonyms ("sphere" -> ball, "close to" ->
near) and multi-word phrases ("to the left of", "more empty space than"). Words outside the lexicon
come out as UNKNOWN (English-looking) or FOREIGN (other scripts, emoji), so they can be reported.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .graph import EffectType
from .vocab import CLASSES, COLOURS, SIZES, canonical_class, canonical_colour, canonical_material

# --------------------------------------------------------------------------------------------
# Tokens


@dataclass(frozen=True)
class Token:
    text: str  # as written
    word: str  # lower-case
    kind: str  # "word" (ASCII letters) | "number" | "punct" | "foreign" (other scripts, emoji)


# Letter runs (any script; "half-full" and "there's" stay one run), ASCII digits, runs of non-ASCII
# symbols (an emoji with its joiners stays one token), then any other single character (punctuation).
_TOKEN_RE = re.compile(r"[^\W\d_]+(?:[-'\u2019][^\W\d_]+)*|[0-9]+|[^\w\s\x00-\x7f]+|\S")


def _split_contraction(word: str) -> list[str]:
    """"there's" -> there (the "is" is a filler anyway), "isn't" -> is not, "snake's" -> snake."""
    base, _, tail = word.replace("\u2019", "'").partition("'")
    if tail == "t" and base.endswith("n"):
        return [base[:-1], "not"]
    return [base]


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    for raw in _TOKEN_RE.findall(text):
        if raw.isascii() and raw[0].isalpha():
            tokens += [Token(raw, w, "word") for part in raw.lower().split("-") for w in _split_contraction(part)]
        elif raw.isascii() and raw.isdigit():
            tokens.append(Token(raw, raw, "number"))
        elif raw in string.punctuation:
            tokens.append(Token(raw, raw, "punct"))
        else:
            tokens.append(Token(raw, raw, "foreign"))
    return tokens


# --------------------------------------------------------------------------------------------
# Plurals

_IRREGULAR_PLURALS = {
    "people": "person", "men": "man", "women": "woman", "children": "child", "kids": "kid",
    "mice": "mouse", "geese": "goose", "knives": "knife", "shelves": "shelf", "boxes": "box",
}


def singular_candidates(word: str) -> list[str]:
    """Possible singular forms of ``word`` (most specific rule first); empty if it does not look plural."""
    if word in _IRREGULAR_PLURALS:
        return [_IRREGULAR_PLURALS[word]]
    if len(word) <= 3 or not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return []
    out = []
    if word.endswith("ies"):
        out.append(word[:-3] + "y")
    if word.endswith("ves"):
        out += [word[:-3] + "f", word[:-3] + "fe"]
    if word.endswith(("ses", "xes", "zes", "ches", "shes", "oes")):
        out.append(word[:-2])
    out.append(word[:-1])
    return out


def as_class(word: str) -> tuple[str, bool] | None:
    """(class, plural) for a word naming a vocabulary class ("spheres" -> ("ball", True)), else None."""
    cls = canonical_class(word)
    if cls is not None and word not in _IRREGULAR_PLURALS:
        return cls, False
    for cand in singular_candidates(word):
        cls = canonical_class(cand)
        if cls is not None:
            return cls, True
    return None


def singular_unknown(word: str) -> tuple[str, bool]:
    """Best-guess singular for a word outside the vocabulary ("zorblaxes" -> ("zorblax", True))."""
    cands = singular_candidates(word)
    return (cands[0], True) if cands else (word, False)


# --------------------------------------------------------------------------------------------
# Lexicon


class LexKind(str, Enum):
    DET = "det"  # a, the, some
    NUM = "num"  # two, 3, a pair of
    COLOUR = "colour"
    SIZE = "size"
    MATERIAL = "material"
    LEVEL = "level"  # fill level: "half full", "more ... than empty space", "almost empty"
    CLASS = "class"  # a vocabulary class (after synonyms and plurals)
    UNKNOWN = "unknown"  # an English-looking word outside the lexicon
    FOREIGN = "foreign"  # other scripts, emoji, symbols
    PREP = "prep"  # spatial relation (value in RELATIONS)
    PREP_IT = "prep_it"  # a relation to "it" in one phrase: "to its left" (value in RELATIONS)
    PRON = "pron"  # "it": refers back to a thing already named
    MUTUAL = "mutual"  # "side by side": the group holds the relation among itself (value in RELATIONS)
    SIDE = "side"  # "from the left", "on the right", "from above"
    VERB = "verb"  # agent-patient verb (value: Verb)
    LIT = "lit"  # "lit", "illuminated": a light whose side may follow
    EFFECT = "effect"  # a stated effect word: "reflection", "shadow"
    WITH = "with"  # with, containing, holding
    OF = "of"
    CONJ = "conj"  # and, &
    COMMA = "comma"
    END = "end"  # . ; ! ?
    COP = "cop"  # is, are, being: what follows is said about the clause's subject
    NEG = "neg"  # not, no, without: understood but not represented
    FILLER = "filler"  # understood, carries nothing for the graph (is, there, a photo of...)


@dataclass(frozen=True)
class Level:
    """A stated fill level and, for comparative phrasing, which side of half it is on."""

    level: float
    comparison: str | None = None  # "more" | "less" | "equal" | None


@dataclass(frozen=True)
class Verb:
    verb: str  # canonical verb the renderer and judge know: eat, catch, bite, chase
    passive: bool = False  # "is eaten by": the agent follows


@dataclass(frozen=True)
class Lex:
    kind: LexKind
    value: Any
    words: tuple[str, ...]
    plural: bool = False


def _phrases(kind: LexKind, table: dict[str, Any]) -> dict[tuple[str, ...], tuple[LexKind, Any]]:
    return {tuple(p.split()): (kind, v) for p, v in table.items()}


_DETS = "a an the some this these those its their his her my our your any each every"
_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "a pair of": 2, "a couple of": 2, "several": 3, "a few": 3, "many": 4,
}

_RELATIONS = {
    "on": "on", "upon": "on", "onto": "on", "atop": "on", "on top of": "on",
    "in": "in", "inside": "in", "inside of": "in", "within": "in", "into": "in",
    "under": "under", "underneath": "under", "beneath": "under", "below": "below",
    "above": "above", "over": "above",
    "next to": "next_to", "beside": "next_to", "alongside": "next_to",
    "near": "near", "near to": "near", "close to": "near", "by": "near", "at": "near",
    "behind": "behind", "in front of": "in_front_of",
}
for _side in ("left", "right"):
    for _lead in ("", "to the ", "on the ", "at the "):
        for _mid in ("", " side", " hand side"):
            if _lead or not _mid:
                _RELATIONS[f"{_lead}{_side}{_mid} of"] = f"{_side}_of"

_SIDES: dict[str, str] = {
    "overhead": "top", "from overhead": "top", "from above": "top", "from up above": "top",
    "from the top": "top", "at the top": "top", "on top": "top", "from the sky": "top",
}
for _side in ("left", "right"):
    for _lead in ("from", "on", "to", "at", "in"):
        for _the in ("", " the"):
            for _tail in ("", " side", " hand side"):
                _SIDES[f"{_lead}{_the} {_side}{_tail}"] = _side

# Levels follow the common graph conventions: more/less than empty -> 0.75/0.25, half -> 0.5,
# full -> 0.95, almost empty -> 0.15. The "more empty space than X" forms invert the comparison.
_MORE, _LESS, _EQUAL = Level(0.75, "more"), Level(0.25, "less"), Level(0.5, "equal")
_LEVELS: dict[str, Level] = {
    "more": _MORE, "less": _LESS, "fewer": _LESS, "as much": _EQUAL,
    **{f"{cmp} {empty} than": inv for cmp, inv in (("more", _LESS), ("less", _MORE))
       for empty in ("empty space", "space", "air", "room", "empty room")},
    "as much empty space as": _EQUAL, "as much air as": _EQUAL,
    "half full": Level(0.5), "half filled": Level(0.5), "half empty": Level(0.5),
    "full": Level(0.95), "filled": Level(0.95), "completely full": Level(0.95), "completely filled": Level(0.95),
    "filled to the top": Level(0.95), "full to the top": Level(0.95), "filled to the brim": Level(0.95),
    "almost full": Level(0.85), "nearly full": Level(0.85),
    "mostly full": _MORE, "mostly filled": _MORE, "mostly empty": _LESS,
    "almost empty": Level(0.15), "nearly empty": Level(0.15), "empty": Level(0.0),
}

# lemma -> (canonical verb, irregular past, irregular participle)
_VERB_LEMMAS: dict[str, tuple[str, str | None, str | None]] = {
    "eat": ("eat", "ate", "eaten"), "devour": ("eat", None, None), "swallow": ("eat", None, None),
    "consume": ("eat", None, None),
    "catch": ("catch", "caught", "caught"), "grab": ("catch", "grabbed", "grabbed"), "seize": ("catch", None, None),
    "bite": ("bite", "bit", "bitten"),
    "chase": ("chase", None, None), "pursue": ("chase", None, None), "hunt": ("chase", None, None),
}
_PHRASAL_VERBS = {"feed on": "eat", "feeds on": "eat", "feeding on": "eat", "fed on": "eat",
                  "prey on": "eat", "preys on": "eat", "preying on": "eat"}


def _inflections(lemma: str, past: str | None) -> tuple[list[str], str]:
    """([base, 3rd person, -ing, past], regular participle) of an English verb."""
    third = lemma + ("es" if lemma.endswith(("ch", "sh", "s", "x", "z")) else "s")
    stem = lemma[:-1] if lemma.endswith("e") and not lemma.endswith("ee") else lemma
    ing = stem + ("bing" if lemma.endswith("ab") else "ing")
    regular_past = lemma + ("d" if lemma.endswith("e") else "ed")  # chase -> chased, hunt -> hunted
    return [lemma, third, ing, past or regular_past], past or regular_past


def _verb_phrases() -> dict[tuple[str, ...], tuple[LexKind, Any]]:
    out: dict[tuple[str, ...], tuple[LexKind, Any]] = {}
    for lemma, (verb, past, participle) in _VERB_LEMMAS.items():
        forms, regular_participle = _inflections(lemma, past)
        for form in forms:
            out[(form,)] = (LexKind.VERB, Verb(verb))
        out[(participle or regular_participle, "by")] = (LexKind.VERB, Verb(verb, passive=True))
    out.update(_phrases(LexKind.VERB, {p: Verb(v) for p, v in _PHRASAL_VERBS.items()}))
    return out


# Participles that say how a thing is placed; the preposition after them says where, so they are
# understood and carry nothing ("a bird flying over the water" = a bird above the water).
_POSTURES = (
    "resting sitting standing lying laying placed located positioned set put kept lies sits stands rests sit "
    "stand lie rest floating floats hovering hovers flying flies soaring gliding swimming swims wading perched "
    "stacked piled balanced leaning hanging hangs mounted parked walking running sleeping laid"
)

_FILLERS = (
    "there here they that which who whom where while than space air "
    "photo photograph picture image scene view render rendering drawing painting illustration "
    "shot snapshot showing shows depicting depicts featuring coming "
    "comes shining shines falling falls cast casts casting very quite really just also both together directly "
    "amount lot"
)

# Relations a group holds among itself ("a ball and a cube side by side": the ball is next to the cube).
_MUTUAL = {
    "side by side": "next_to", "next to each other": "next_to", "beside each other": "next_to",
    "near each other": "near", "close to each other": "near",
}

# A relation and its reference in one phrase: "to its left" = "to the left of it".
_RELATIONS_TO_IT: dict[str, str] = {"by its side": "next_to", "at its side": "next_to"}
for _side in ("left", "right"):
    for _lead in ("to", "on", "at"):
        for _tail in ("", " side", " hand side"):
            _RELATIONS_TO_IT[f"{_lead} its {_side}{_tail}"] = f"{_side}_of"


def looks_like_participle(word: str) -> bool:
    """"zooming", "tucked": an -ing/-ed form long enough not to be a short noun ("ring", "bed")."""
    return len(word) > 5 and word.endswith(("ing", "ed"))

_WORDS: dict[str, tuple[LexKind, Any]] = {
    **{w: (LexKind.DET, None) for w in _DETS.split()},
    **{w: (LexKind.FILLER, None) for w in (_FILLERS + " " + _POSTURES).split()},
    "it": (LexKind.PRON, None),
    **{w: (LexKind.CONJ, None) for w in ("and", "plus")},
    **{w: (LexKind.COP, None) for w in ("is", "are", "was", "were", "be", "being", "been", "am")},
    **{w: (LexKind.WITH, None) for w in ("with", "containing", "contains", "holding", "holds", "has", "have",
                                         "having")},
    **{w: (LexKind.NEG, None) for w in ("not", "no", "without", "never")},
    **{w: (LexKind.LIT, None) for w in ("lit", "lighted", "illuminated")},
    "of": (LexKind.OF, None),
    **{w: (LexKind.EFFECT, EffectType.REFLECTION) for w in ("reflection", "reflections", "reflected")},
    **{w: (LexKind.EFFECT, EffectType.SHADOW) for w in ("shadow", "shadows", "shadowed")},
}

PHRASES: dict[tuple[str, ...], tuple[LexKind, Any]] = {
    **{(w,): v for w, v in _WORDS.items()},
    ("a", "photo", "of"): (LexKind.FILLER, None), ("a", "picture", "of"): (LexKind.FILLER, None),
    ("an", "image", "of"): (LexKind.FILLER, None), ("as", "well", "as"): (LexKind.CONJ, None),
    **{tuple(p.split()): (LexKind.FILLER, None) for p in (
        "empty space", "than empty space", "than empty room", "than empty", "as empty space", "as air", "as space")},
    ("lit", "by"): (LexKind.LIT, None), ("lit", "up"): (LexKind.LIT, None),
    ("mirror", "image"): (LexKind.EFFECT, EffectType.REFLECTION),
    **_phrases(LexKind.NUM, _NUMBERS),
    **_phrases(LexKind.PREP, _RELATIONS),
    **_phrases(LexKind.PREP_IT, _RELATIONS_TO_IT),
    **_phrases(LexKind.MUTUAL, _MUTUAL),
    **_phrases(LexKind.SIDE, _SIDES),
    **_phrases(LexKind.LEVEL, _LEVELS),
    **_verb_phrases(),
    # "light blue", "dark red": the shade is not modelled, the colour is.
    **{(shade, c): (LexKind.COLOUR, c) for shade in ("light", "dark", "bright", "pale") for c in COLOURS},
    # multi-word class synonyms ("looking glass", "light source")
    **{tuple(s.split()): (LexKind.CLASS, info.name) for info in CLASSES.values() for s in info.synonyms if " " in s},
}
_MAX_PHRASE = max(len(p) for p in PHRASES)


def _single_word(word: str) -> Lex:
    """A word no phrase matched: colour, size, material, class (with plurals), or UNKNOWN."""
    if (colour := canonical_colour(word)) is not None:
        return Lex(LexKind.COLOUR, colour, (word,))
    if word in SIZES:
        return Lex(LexKind.SIZE, SIZES[word], (word,))
    if (material := canonical_material(word)) is not None:
        return Lex(LexKind.MATERIAL, material, (word,))
    if (found := as_class(word)) is not None:
        return Lex(LexKind.CLASS, found[0], (word,), plural=found[1])
    return Lex(LexKind.UNKNOWN, word, (word,))


_PUNCT = {",": LexKind.COMMA, ".": LexKind.END, ";": LexKind.END, "!": LexKind.END, "?": LexKind.END,
          ":": LexKind.END, "&": LexKind.CONJ}


def _word_run(tokens: list[Token], i: int) -> list[str]:
    """The lower-case words from ``i`` up to the first non-word token (phrases never span punctuation)."""
    out = []
    while i < len(tokens) and tokens[i].kind == "word" and len(out) < _MAX_PHRASE:
        out.append(tokens[i].word)
        i += 1
    return out


def lex(tokens: list[Token]) -> list[Lex]:
    """Tokens -> lexical items, longest phrase first ("on the left of" beats "on the left" beats "on")."""
    out: list[Lex] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind == "foreign":
            out.append(Lex(LexKind.FOREIGN, tok.text, (tok.text,)))
        elif tok.kind == "number":
            out.append(Lex(LexKind.NUM, int(tok.text), (tok.text,)))
        elif tok.kind == "punct":
            if tok.text in _PUNCT:
                out.append(Lex(_PUNCT[tok.text], None, (tok.text,)))
        else:
            run = _word_run(tokens, i)
            for n in range(len(run), 0, -1):
                hit = PHRASES.get(tuple(run[:n]))
                if hit is not None:
                    out.append(Lex(hit[0], hit[1], tuple(run[:n])))
                    i += n
                    break
            else:
                out.append(_single_word(tok.word))
                i += 1
            continue
        i += 1
    return out
