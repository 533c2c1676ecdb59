"""Reworded reports: the same facts (sides, zones, number of areas) in other words.

The instrument of issue 13: a model that *reads* a report segments the same with "Patchy airspace
opacities in the left lower zone." as with QaTa's "Unilateral pulmonary infection, one infected
area, lower left lung."; a model that recalls its training sentences does not. ``nnunet-tgc
ablate`` predicts with every style (variants ``reworded_<style>``).

The wording comes from how chest radiograph reports are written (zones and lobes, "bibasilar",
abbreviations such as RLL and b/l, negations such as "no pleural effusion"), never from a test
set. The generator has its own parser of the QaTa/MosMedData+ template (:func:`parse_report`); it
deliberately does not use the model's reader (``nnunet_tgc.text.places``), so that the ablation
tests that reader instead of agreeing with it by construction.

Styles (each a deterministic function of the report and a seeded ``random.Random``):

* ``clinical``: radiologist phrasing, varied finding words (opacity, consolidation, ground-glass
  opacity, airspace disease, infiltrate): "Patchy consolidation in the left lower zone. One area of
  involvement.";
* ``lobes``: zones named as lobes and anatomy (see "Zones and lobes" below): "Airspace opacity in
  the right middle and lower lobes.";
* ``abbreviations``: RUL/RML/RLL/LUL/LLL, "b/l", "L"/"R" lung: "B/l opacities: LLL, RLL. 2 areas.";
* ``reordered``: the template's facts in another order: "Lower left lung: unilateral pulmonary
  infection, one infected area.";
* ``terse``: telegraphic: "L lower zone opacity. Single focus.";
* ``negation``: the report plus true negative statements: for a one-sided report a statement that
  the other side is clear ("No right-sided opacity."), otherwise statements that name no place of
  the infection ("No pleural effusion.");
* ``patient``: left and right swapped, i.e. the report in the patient's side convention (declared
  through reports.json's ``"tgc_laterality": "patient"`` by the ablation). Unlike the others it
  applies to every report, readable or not: a declared convention is swapped back for every
  report, so a report left as written would end up on the wrong side.

Zones and lobes (``lobes``, ``abbreviations``). A frontal radiograph shows zones, not lobes; the
mapping radiologists use when they name a lobe from a frontal film is an approximation: upper zone
~ upper lobe, lower zone ~ lower lobe / base / basal, middle zone ~ mid zone / perihilar; right
middle zone ~ right middle lobe, left middle zone ~ lingula. (The lower lobes reach far up
posteriorly, the right middle lobe and the lingula project over the mid and lower zones, so the
same image can be described either way.) "All"/the whole lung stays "the entire lung".

A report the parser cannot read (another template, a contradiction such as MosMedData+'s
"Unilateral ..., left lung and middle right lung") is returned unchanged and counted by
:func:`reword_reports`; sides are kept as written (the convention of the source).
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Mapping, Optional

STYLES = ("clinical", "lobes", "abbreviations", "reordered", "terse", "negation", "patient")
STYLE_DESCRIPTIONS = {
    "clinical": "radiologist phrasing, varied finding words",
    "lobes": "zones named as lobes (upper/lower lobe, right middle lobe, lingula, base, perihilar)",
    "abbreviations": "RUL/RML/RLL/LUL/LLL, b/l, L/R",
    "reordered": "the template's facts in another order",
    "terse": "telegraphic",
    "negation": "the report plus true negative statements (the uninvolved side, no effusion)",
    "patient": "left/right swapped: the patient's side convention, declared as such",
}
ZONES = ("upper", "middle", "lower")
SIDES = ("left", "right")
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                 "eleven", "twelve")


@dataclass(frozen=True)
class Place:
    """One side of the infection: ``side`` as the report writes it, its zones, or the whole lung."""
    side: str
    zones: tuple = ()          # a subset of ZONES, in that order; () when whole
    whole: bool = False        # "all left lung", MosMedData+'s bare "left lung"

    @property
    def all_zones(self) -> tuple:
        return ZONES if self.whole else self.zones


@dataclass(frozen=True)
class Facts:
    """What a template report states."""
    extent: str                # "bilateral", "unilateral" or "none"
    count: int                 # number of infected areas
    places: tuple = ()         # Place per side, in the report's order

    def meaning(self) -> tuple:
        """(count, {side: zones}) with the whole lung as all three zones: equal for equal meaning."""
        return self.count, tuple(sorted((p.side, p.all_zones) for p in self.places))


# ---------------------------------------------------------------- the parser (QaTa / MosMedData+ template)

_HEAD_RE = re.compile(r"^(bilateral|unilateral|no) pulmonary infections? ?, ?(\w+) infected areas? ?(?:, ?(.*?))?[ .]*$")
_COUNTS = {w: i for i, w in enumerate(_NUMBER_WORDS)}
_ZONE_WORDS = {"upper": "upper", "higher": "upper", "middle": "middle", "mid": "middle", "lower": "lower",
               "lowe": "lower", "all": "all", "whole": "all", "entire": "all"}
_GLUED = re.compile(r"(upper|middle|lower)(?=(upper|middle|lower)\b)")


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", text.lower()).strip()
    text = re.sub(r"([a-z])\1\1+", r"\1\1", text)       # "midddle", "alll"
    text = _GLUED.sub(r"\1 ", text)                      # "upperlower"
    return re.sub(r" ?, ?", ", ", text)


def parse_report(text: Optional[str]) -> Optional[Facts]:
    """The facts of a QaTa-style template report, or None if it is not one (or contradicts itself).

    "Bilateral pulmonary infection, two infected areas, all left lung and lower right lung." ->
    Facts("bilateral", 2, (Place("left", whole=True), Place("right", ("lower",)))).
    """
    if not text or not isinstance(text, str):
        return None
    m = _HEAD_RE.match(_clean(text))
    if not m:
        return None
    extent, count_word, rest = m.group(1), m.group(2), (m.group(3) or "").strip(" .")
    count = _COUNTS.get(count_word, int(count_word) if count_word.isdigit() else None)
    if count is None:
        return None
    if extent == "no":
        return Facts("none", 0, ()) if count == 0 and not rest else None
    places = _parse_places(rest)
    if places is None or count == 0 or len(places) != (2 if extent == "bilateral" else 1):
        return None
    return Facts(extent, count, places)


def _parse_places(text: str) -> Optional[tuple]:
    places = []
    for part in re.split(r", |,? and ", text):
        words = part.split()
        if words and words[-1] in ("lung", "lungs"):
            words = words[:-1]
        words = [w for i, w in enumerate(words) if i == 0 or w != words[i - 1]]  # "right right"
        if not words or words[-1] not in SIDES:
            return None
        zones = set()
        for word in words[:-1]:
            zone = _ZONE_WORDS.get(word)
            if zone is None:
                return None
            zones.add(zone)
        named = tuple(z for z in ZONES if z in zones)  # "all lower left lung": all of the lower zone
        places.append(Place(words[-1], named) if named else Place(words[-1], (), True))
    if not places or len({p.side for p in places}) != len(places):
        return None
    return tuple(places)


# ---------------------------------------------------------------- wording helpers

def _join(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _join_sides(phrases, rng: random.Random) -> str:
    """Two sides' phrases; "and" only where neither phrase has one already (no "a and b and c and d")."""
    phrases = list(phrases)
    if len(phrases) == 1:
        return phrases[0]
    if not any(" and " in p for p in phrases) and rng.random() < 0.7:
        return " and ".join(phrases)
    return rng.choice((", as well as ", "; also ")).join(phrases)


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _number(n: int) -> str:
    return _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)


def _other(side: str) -> str:
    return "right" if side == "left" else "left"


def _same_zones(facts: Facts) -> bool:
    a, b = facts.places if len(facts.places) == 2 else (None, None)
    return a is not None and a.whole == b.whole and a.zones == b.zones


_FINDINGS = (("opacity", "opacities"), ("airspace opacity", "airspace opacities"), ("consolidation", "consolidation"),
             ("ground-glass opacity", "ground-glass opacities"), ("airspace disease", "airspace disease"),
             ("infiltrate", "infiltrates"))
_MODIFIERS = ("patchy ", "hazy ", "ill-defined ", "")
_AREAS = (("area", "areas"), ("focus", "foci"), ("region", "regions"))


def _finding(rng: random.Random, plural: bool, modifier: bool = True) -> str:
    word = rng.choice(_FINDINGS)[1 if plural else 0]
    return (rng.choice(_MODIFIERS) if modifier else "") + word


def _areas(rng: random.Random, count: int, digits: bool = False) -> str:
    word = rng.choice(_AREAS)[0 if count == 1 else 1]
    return f"{count if digits else _number(count)} {word}"


# ---------------------------------------------------------------- styles

def _zone_place(place: Place, rng: random.Random) -> str:
    """A clinical noun phrase for one side's zones: "the left mid and lower zones"."""
    side = place.side
    if place.whole:
        return rng.choice((f"the entire {side} lung", f"all zones of the {side} lung", f"the whole {side} lung"))
    mid = rng.choice(("mid", "middle"))
    words = [mid if z == "middle" else z for z in place.zones]
    return f"the {side} {_join(words)} zone{'s' if len(words) > 1 else ''}"


def _zone_places(facts: Facts, rng: random.Random) -> str:
    if _same_zones(facts) and rng.random() < 0.4:
        place = facts.places[0]
        if place.whole:
            return rng.choice(("both lungs diffusely", "all zones of both lungs"))
        words = [rng.choice(("mid", "middle")) if z == "middle" else z for z in place.zones]
        return rng.choice((f"both {_join(words)} zones", f"the {_join(words)} zones bilaterally"))
    return _join_sides([_zone_place(p, rng) for p in facts.places], rng)


def _clinical(facts: Facts, rng: random.Random) -> str:
    if facts.extent == "none":
        return rng.choice(("No focal airspace opacity. The lungs are clear.", "No consolidation or ground-glass "
                           "opacity.", "Clear lungs. No airspace disease."))
    plural = facts.count > 1
    where, n = _zone_places(facts, rng), facts.count
    template = rng.randrange(4)
    if template == 0:
        return _sentence(f"{_finding(rng, plural)} in {where}") + " " + _sentence(f"{_areas(rng, n)} of involvement")
    if template == 1:
        return _sentence(f"{_finding(rng, plural)} involving {where}, {_areas(rng, n)} in total")
    if template == 2:
        return _sentence(f"there {'are' if plural else 'is'} {_areas(rng, n)} of {_finding(rng, False)} in {where}")
    return _sentence(f"{_finding(rng, plural)} ({_areas(rng, n)}) in {where}")


_LOBES = {"right": {"upper": "right upper lobe", "middle": "right middle lobe", "lower": "right lower lobe"},
          "left": {"upper": "left upper lobe", "middle": "lingula", "lower": "left lower lobe"}}


def _lobe_place(place: Place, rng: random.Random) -> str:
    side = place.side
    if place.whole:
        return rng.choice((f"the entire {side} lung", f"all lobes of the {side} lung" if side == "right"
                           else f"the whole {side} lung"))
    zones = place.zones
    if zones == ("lower",) and rng.random() < 0.4:
        return rng.choice((f"the {side} lung base", f"the {side} base"))
    if zones == ("middle",) and rng.random() < 0.3:
        return f"the {side} perihilar region"
    if side == "right" or "middle" not in zones:
        if len(zones) == 2 and rng.random() < 0.4:
            return _join(f"the {_LOBES[side][z]}" for z in zones)
        return f"the {side} {_join(zones)} lobe{'s' if len(zones) > 1 else ''}"  # "the right middle and lower lobes"
    return "the " + _join(_LOBES[side][z] for z in zones)  # the lingula keeps its own name


def _lobes(facts: Facts, rng: random.Random) -> str:
    if facts.extent == "none":
        return rng.choice(("No consolidation in any lobe.", "All lobes are clear."))
    plural = facts.count > 1
    if _same_zones(facts) and facts.places[0].zones == ("lower",) and rng.random() < 0.5:
        where = rng.choice(("both lower lobes", "the lung bases bilaterally"))
        if rng.random() < 0.5:
            return _sentence(f"bibasilar {_finding(rng, plural, False)}") + " " + _sentence(_areas(rng, facts.count))
    else:
        where = _join_sides([_lobe_place(p, rng) for p in facts.places], rng)
    return _sentence(f"{_finding(rng, plural)} in {where}") + " " + _sentence(
        rng.choice((f"{_areas(rng, facts.count)} of involvement", f"{_areas(rng, facts.count)} in total")))


_ABBREVIATIONS = {"right": {"upper": "RUL", "middle": "RML", "lower": "RLL"},
                  "left": {"upper": "LUL", "middle": "lingula", "lower": "LLL"}}
_SHORT_FINDINGS = (("opacity", "opacities"), ("opac.", "opac."), ("consolidation", "consolidation"),
                   ("GGO", "GGOs"), ("airspace dz", "airspace dz"))


def _abbreviated_place(place: Place, rng: random.Random) -> str:
    letter = place.side[0].upper()
    if place.whole:
        return rng.choice((f"entire {letter} lung", f"whole {letter} lung"))
    joiners = ("/", " + ", " and ") if len(place.zones) == 2 else ("/", " + ")
    return rng.choice(joiners).join(_ABBREVIATIONS[place.side][z] for z in place.zones)


def _abbreviations(facts: Facts, rng: random.Random) -> str:
    if facts.extent == "none":
        return rng.choice(("No opac.", "Lungs clear, no consolidation/GGO."))
    finding = rng.choice(_SHORT_FINDINGS)[facts.count > 1]
    places = [_abbreviated_place(p, rng) for p in facts.places]
    count = f"{_areas(rng, facts.count, digits=True)}."
    if facts.count > 1 and rng.random() < 0.4:
        count = f"x{facts.count}."
    if facts.extent == "bilateral":
        return f"{rng.choice(('B/l', 'b/l'))} {finding}: {', '.join(places)}. {count}"
    return _sentence(f"{places[0]} {finding}, {count}")


def _template_place(place: Place, rng: random.Random) -> str:
    if place.whole:
        return rng.choice((f"all {place.side} lung", f"the whole {place.side} lung"))
    if rng.random() < 0.5:
        return f"{' '.join(place.zones)} {place.side} lung"
    return f"the {_join(place.zones)} {'parts' if len(place.zones) > 1 else 'part'} of the {place.side} lung"


def _reordered(facts: Facts, rng: random.Random) -> str:
    n = facts.count
    areas = f"{_number(n)} infected area{'s' if n != 1 else ''}"
    if facts.extent == "none":
        return rng.choice(("Zero infected areas, no pulmonary infection.", "Infected areas: zero. No pulmonary infection."))
    places = list(facts.places)
    if len(places) == 2 and rng.random() < 0.5:
        places.reverse()
    where = _join(_template_place(p, rng) for p in places)
    template = rng.randrange(3)
    if template == 0:
        return _sentence(f"{where}: {facts.extent} pulmonary infection, {areas}")
    if template == 1:
        return _sentence(f"{facts.extent} pulmonary infection of {where}") + " " + \
            _sentence(f"number of infected areas: {_number(n)}")
    return _sentence(f"{areas} in {where}") + " " + _sentence(f"{facts.extent} pulmonary infection")


def _terse(facts: Facts, rng: random.Random) -> str:
    if facts.extent == "none":
        return "No opacity. Lungs clear."

    def place(p: Place) -> str:
        letter = rng.choice((p.side[0].upper(), p.side[0].upper() + "t"))
        if p.whole:
            return f"{letter} lung diffuse"
        zones = rng.choice(("+", "/")).join("mid" if z == "middle" else z for z in p.zones)
        return f"{letter} {zones} zone"
    count = {1: rng.choice(("Single focus.", "1 focus.")), 2: "2 foci."}.get(facts.count, f"{facts.count} foci.")
    finding = rng.choice(("opacity", "opac.", "consolidation"))
    if facts.extent == "bilateral":
        return f"{rng.choice(('Bilat.', 'B/l'))} {finding}: {', '.join(place(p) for p in facts.places)}. {count}"
    return f"{place(facts.places[0])} {finding}. {count}"


_GENERAL_NEGATIVES = ("No pleural effusion.", "No pneumothorax.", "No pleural effusion or pneumothorax.",
                      "No cardiomegaly.")


def _negation(facts: Facts, rng: random.Random, text: str) -> str:
    negatives = []
    if facts.extent == "unilateral":
        other = _other(facts.places[0].side)
        negatives.append(rng.choice((f"No {other}-sided opacity.", f"The {other} lung is clear.",
                                     f"No infection in the {other} lung.")))
    if not negatives or rng.random() < 0.5:
        negatives.append(rng.choice(_GENERAL_NEGATIVES))
    own = _sentence(re.sub(r"\s+", " ", text).strip())
    return " ".join([own, *negatives] if rng.random() < 0.6 else [*negatives, own])


_LEFT_RIGHT = re.compile(r"\b(left|right)\b", re.IGNORECASE)


def swap_sides(text: str) -> str:
    """left <-> right, whole words, case kept (this module's own rule, independent of laterality.py)."""
    def swap(m: re.Match) -> str:
        word = m.group(0)
        new = "right" if word.lower() == "left" else "left"
        if word.isupper():
            return new.upper()
        return new.capitalize() if word[0].isupper() else new
    return _LEFT_RIGHT.sub(swap, text)


_RENDER = {"clinical": _clinical, "lobes": _lobes, "abbreviations": _abbreviations, "reordered": _reordered,
           "terse": _terse}


def reword(text: Optional[str], style: str, rng: random.Random) -> Optional[str]:
    """``text`` in ``style`` (one of :data:`STYLES`); unchanged if the parser cannot read it
    (``patient`` swaps the sides of any text)."""
    if style not in STYLES:
        raise ValueError(f"unknown rewording style {style!r}; choose from {', '.join(STYLES)}")
    if text is None:
        return None
    if style == "patient":
        return swap_sides(text)
    facts = parse_report(text)
    if facts is None:
        return text
    if style == "negation":
        return _negation(facts, rng, text)
    return _RENDER[style](facts, rng)


@dataclass
class Reworded:
    reports: dict              # case -> reworded text
    unchanged: list            # cases whose text stayed as it was (not readable, or nothing to swap)


def case_rng(seed: int, style: str, case: str) -> random.Random:
    """The generator of one case: a function of (seed, style, case) only, so a case's rewording does not
    depend on which other cases are present."""
    return random.Random(f"{seed}|{style}|{case}")


def reword_reports(reports: Mapping[str, Optional[str]], style: str, seed: int = 0) -> Reworded:
    """Every report of ``{case: text}`` in ``style``; the cases left unchanged are listed."""
    out = {case: reword(text, style, case_rng(seed, style, case)) for case, text in reports.items()}
    return Reworded(out, sorted(c for c in reports if out[c] == reports[c]))
