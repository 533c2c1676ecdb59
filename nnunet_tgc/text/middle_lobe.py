"""A middle lobe named without a side is the right lung's: its side written out before the report is read.

Only the right lung has a middle lobe (its counterpart on the left is the lingula), so radiologists often write
"middle lobe consolidation" with no side word. Read as written, a zone word without a side takes the sides of the
places around it (documentation/text.md, "Places"): "Opacities in the left upper lobe and the middle lobe" put the
middle zone on the left, and "Middle lobe pneumonia" on both sides. Mirroring and the patient convention swap side
words only, so a side the text does not write could not follow the image either.

So the one normalisation of every report (:func:`nnunet_tgc.text.convention.prepare_report`) writes the side in,
before the convention is mapped and before any mirroring: "the middle lobe" becomes "the right middle lobe", in the
report's own side words, as the reader takes "RML" (a lobe's name goes with the report's side words; mirroring
swaps RML with the lingula). A middle lobe that has a side word right before it ("right middle lobe", "R middle
lobe", "right lung middle lobe") or right after it ("middle lobe on the left", "middle lobe (right)") stays as
written, and so does the plural ("both middle lobes" names no lobe the anatomy has).
"""
from __future__ import annotations

import re

_SIDE = r"(?:right|left|rt|lt|r|l)\.?"
# a side word just before: "right middle lobe", "R. middle lobe", "right-sided middle lobe", "left lung, middle lobe"
_SIDE_BEFORE = re.compile(rf"\b{_SIDE}(?:[\s-]+sided)?(?:\s+lung(?:'s)?)?[\s,:-]*$", re.IGNORECASE)
# a side word just after: "middle lobe on the left", "middle lobe of the right lung", "middle lobe (R)"
_SIDE_AFTER = re.compile(rf"^(?:\s+(?:on|of|in)\s+the\s+{_SIDE}\b|\s*\(\s*{_SIDE}\s*\))", re.IGNORECASE)
_MIDDLE_LOBE = re.compile(r"\bmiddle[\s-]+lob(?:e|ar)\b", re.IGNORECASE)


def middle_lobe_sided(text: str) -> str:
    """``text`` with "right" written before every middle lobe that names no side (case follows the word)."""
    return _MIDDLE_LOBE.sub(lambda m: _sided(text, m), text)


def _sided(text: str, match: re.Match) -> str:
    if _SIDE_BEFORE.search(text[:match.start()]) or _SIDE_AFTER.match(text[match.end():]):
        return match.group(0)
    word = match.group(0)
    side = "RIGHT" if word.isupper() else "Right" if word[0].isupper() else "right"
    return f"{side} {word[0].lower() + word[1:] if side == 'Right' else word}"
