"""Keep a report consistent with its image when the image is mirrored.

A report says "upper left lung"; after a horizontal flip the lesion sits on the other side, so
the words must be swapped too or the augmentation teaches the model to ignore the text.

Rules (see documentation/text.md):

* flipping the lateral (left-right) image axis swaps left <-> right (also RUL <-> LUL, RLL <-> LLL,
  RML <-> lingula, the zone abbreviations RUZ <-> LUZ, RMZ <-> LMZ, RLZ <-> LLZ, Rt <-> Lt and the single
  letters L <-> R);
* flipping the vertical (top-bottom) image axis swaps upper <-> lower, superior <-> inferior,
  top <-> bottom, apical <-> basal, apex <-> base, apices <-> bases, RUL <-> RLL, LUL <-> LLL,
  RUZ <-> RLZ, LUZ <-> LLZ, biapical <-> bibasal, suprahilar <-> infrahilar ("middle" stays).

For axial CT slices the lung zones (upper/lower lobe) run along the body axis, not the image's
vertical axis; pass ``vertical_axis=None`` there so a vertical flip leaves the zones alone.

Every swap is a bijection applied in one pass, so applying it twice restores the text.
Only whole words are touched ("leftover", "bright", "lowered" are not), and case is kept
(Left -> Right, LEFT -> RIGHT).

Place words glued by a missed space ("rightbase", ``glued.py``) swap part by part ("leftbase"), as the reader
splits them. A misspelt side or zone word that the reader takes for one of these words (``typos.py``: "rigth",
"uooer") swaps as that word does, spelt right ("rigth" -> "left"): left as it was, the mirrored report
would still be read on the old side. Such a text comes back from two swaps spelt right, not as typed.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Optional


def _bijection(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    mapping = {}
    for a, b in pairs:
        mapping[a], mapping[b] = b, a
    return mapping


# lobe abbreviations and single-letter sides ("L lower zone") swap with the side they name; the
# lingula (left) and the right middle lobe are each other's mirror image on a frontal radiograph
_LEFT_RIGHT = _bijection([("left", "right"), ("rul", "lul"), ("rll", "lll"), ("rml", "lingula"), ("ruz", "luz"),
                          ("rmz", "lmz"), ("rlz", "llz"), ("rt", "lt"), ("l", "r")])
_UPPER_LOWER = _bijection([
    ("upper", "lower"),
    ("superior", "inferior"),
    ("top", "bottom"),
    ("apical", "basal"),
    ("apex", "base"),
    ("apices", "bases"),
    ("rul", "rll"),
    ("lul", "lll"),
    ("ruz", "rlz"),
    ("luz", "llz"),
    ("suprahilar", "infrahilar"),
    ("biapical", "bibasal"),
    ("biapically", "bibasally"),
    ("upr", "lwr"),
    ("uppermost", "lowermost"),
    ("topmost", "bottommost"),
])


# whole words of letters; a swap word is one of them (the knowledge base's patterns see the same words); an underscore
# parts words, as in a record's key or value ("left_lower_zone", "right_upper": true), a digit does not ("L2")
_WORD_RE = re.compile(r"(?<![^\W_])[^\W\d_]+(?![^\W_])")


@lru_cache(maxsize=1)
def _knowledge():
    """The shipped knowledge base, all domains: how the reader takes a misspelt word (typos.py) or a glued one
    (glued.py)."""
    from .knowledge import KnowledgeBase
    return KnowledgeBase.load()


def _typo_reading():
    return _knowledge().typo_reading


def _meant(word: str, mapping: dict[str, str]) -> Optional[str]:
    """The swap word ``word`` stands for: itself, or the one the reader takes its misspelling for."""
    lower = word.lower()
    if lower in mapping:
        return lower
    if len(word) < 4:  # too short to be read as a misspelling (typos.py)
        return None
    meant = _typo_reading()(lower)
    return meant if meant in mapping else None


def _same_case(source: str, word: str) -> str:
    if source.isupper() and len(source) > 1:
        return word.upper()
    if source[0].isupper():
        return word[0].upper() + word[1:]
    return word


def _swap(text: str, mapping: dict[str, str]) -> str:
    def one(m: re.Match) -> str:
        word = m.group(0)
        if m.string[max(0, m.start() - 2):m.start()].lower() == "b/":
            return word  # "B/L": bilateral, no side
        meant = _meant(word, mapping)
        if meant is None:
            return "".join(_swap_part(part, mapping) for part in _knowledge().glued_parts(word) or [word])
        return _same_case(word, mapping[meant])
    return _WORD_RE.sub(one, text)


def _swap_part(part: str, mapping: dict[str, str]) -> str:
    """A part of a glued word ("ltbase": "lt", "base") swapped as the word alone would be."""
    swapped = mapping.get(part.lower())
    return part if swapped is None else _same_case(part, swapped)


def swap_left_right(text: str) -> str:
    """left <-> right, whole words, case kept."""
    return _swap(text, _LEFT_RIGHT)


def swap_upper_lower(text: str) -> str:
    """upper <-> lower, superior <-> inferior, top <-> bottom, apical <-> basal, apex <-> base,
    suprahilar <-> infrahilar."""
    return _swap(text, _UPPER_LOWER)


def mirror_text(text: str, axes: tuple[int, ...], lateral_axis: int | None, vertical_axis: int | None) -> str:
    """The report of an image mirrored along the spatial ``axes``.

    ``lateral_axis``/``vertical_axis`` are the spatial axes (same numbering as ``axes``, e.g.
    nnU-Net's 2D mirror axes (0, 1) = (rows, columns)) along which the image's left-right and
    top-bottom run; None means "no such axis" and that swap never happens.
    """
    axes = tuple(axes)
    if lateral_axis is not None and lateral_axis in axes:
        text = swap_left_right(text)
    if vertical_axis is not None and vertical_axis in axes:
        text = swap_upper_lower(text)
    return text


def patient_to_image_side(text: str) -> str:
    """Convert a clinical report (patient's left/right) to the image-side convention.

    QaTa-COV19's annotations (and this plugin's datasets with ``"tgc_laterality": "image"``) use
    "left" for the image's left. On a PA chest radiograph and on a CT slice in radiological
    display the patient's left is shown on the image's right, so a clinical report converts by
    swapping the two words. The conversion is its own inverse.
    """
    return swap_left_right(text)


image_to_patient_side = patient_to_image_side
