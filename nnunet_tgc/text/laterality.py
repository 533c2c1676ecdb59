"""Keep a report consistent with its image when the image is mirrored.

A report says "upper left lung"; after a horizontal flip the lesion sits on the other side, so
the words must be swapped too or the augmentation teaches the model to ignore the text.

Rules (see documentation/text.md):

* flipping the lateral (left-right) image axis swaps left <-> right (also RUL <-> LUL, RLL <-> LLL,
  RML <-> lingula and the single letters L <-> R);
* flipping the vertical (top-bottom) image axis swaps upper <-> lower, superior <-> inferior,
  top <-> bottom, apical <-> basal, apex <-> base, apices <-> bases, RUL <-> RLL, LUL <-> LLL
  ("middle" stays).

For axial CT slices the lung zones (upper/lower lobe) run along the body axis, not the image's
vertical axis; pass ``vertical_axis=None`` there so a vertical flip leaves the zones alone.

Every swap is a bijection applied in one pass, so applying it twice restores the text.
Only whole words are touched ("leftover", "bright", "lowered" are not), and case is kept
(Left -> Right, LEFT -> RIGHT).
"""
from __future__ import annotations

import re
from typing import Iterable


def _bijection(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    mapping = {}
    for a, b in pairs:
        mapping[a], mapping[b] = b, a
    return mapping


# lobe abbreviations and single-letter sides ("L lower zone") swap with the side they name; the
# lingula (left) and the right middle lobe are each other's mirror image on a frontal radiograph
_LEFT_RIGHT = _bijection([("left", "right"), ("rul", "lul"), ("rll", "lll"), ("rml", "lingula"), ("l", "r")])
_UPPER_LOWER = _bijection([
    ("upper", "lower"),
    ("superior", "inferior"),
    ("top", "bottom"),
    ("apical", "basal"),
    ("apex", "base"),
    ("apices", "bases"),
    ("rul", "rll"),
    ("lul", "lll"),
])


def _compile(mapping: dict[str, str]) -> re.Pattern:
    words = sorted(mapping, key=lambda w: (-len(w), w))
    return re.compile(r"\b(" + "|".join(words) + r")\b", re.IGNORECASE)


_LEFT_RIGHT_RE = _compile(_LEFT_RIGHT)
_UPPER_LOWER_RE = _compile(_UPPER_LOWER)


def _same_case(source: str, word: str) -> str:
    if source.isupper() and len(source) > 1:
        return word.upper()
    if source[0].isupper():
        return word[0].upper() + word[1:]
    return word


def _swap(text: str, pattern: re.Pattern, mapping: dict[str, str]) -> str:
    return pattern.sub(lambda m: _same_case(m.group(0), mapping[m.group(0).lower()]), text)


def swap_left_right(text: str) -> str:
    """left <-> right, whole words, case kept."""
    return _swap(text, _LEFT_RIGHT_RE, _LEFT_RIGHT)


def swap_upper_lower(text: str) -> str:
    """upper <-> lower, superior <-> inferior, top <-> bottom, apical <-> basal, apex <-> base."""
    return _swap(text, _UPPER_LOWER_RE, _UPPER_LOWER)


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
