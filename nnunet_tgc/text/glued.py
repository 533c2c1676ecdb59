"""Place words typed without a space between them: "rightbase", "lowerzones", "andlower", "upperlower".

A phone's keyboard, a hurried typist and text pasted from a narrow column drop spaces, and a place word glued to its
neighbour is no word the knowledge base knows: the place would silently be lost. A word is read as its parts when
it is made, letter for letter, of two or more known one-word place terms and the words typed beside them ("lung",
"zone", "and", "the", ...), at least one part a place term. Ordinary words are never split: "midline", "baseline",
"allow" and "bases" hold a part that is no such word. Sides of one letter ("l", "r") are not parts, so no word is
split around a stray letter.

The reader of places (``places.py``) reads the parts with spaces between them, and mirroring (``laterality.py``)
swaps a glued side or zone as it swaps the word alone ("ltbase" -> "rtbase"), so that a mirrored report is read on
the mirrored side.
"""
from __future__ import annotations

import re
from typing import Iterable, Optional

# the words typed beside a place word, glued to it by a missed space ("rightlung", "lowerzones", "andbase", "seenlower")
BESIDE_PLACES = frozenset({"lung", "lungs", "lobe", "lobes", "zone", "zones", "field", "fields", "and", "the", "of",
                           "in", "seen", "also", "with"})


class GluedReader:
    """Splits words glued from ``places`` (one-word place terms, at least two letters) and :data:`BESIDE_PLACES`."""

    def __init__(self, places: Iterable[str]):
        self._places = frozenset(w.lower() for w in places if w.isalpha() and len(w) > 1)
        parts = sorted(self._places | BESIDE_PLACES, key=lambda w: (-len(w), w))
        one = "(?:" + "|".join(map(re.escape, parts)) + ")"
        self._part = re.compile(one, re.IGNORECASE)
        self._glued = re.compile(rf"\b{one}{{2,}}\b", re.IGNORECASE)

    def parts(self, word: str) -> Optional[list]:
        """The parts of a glued ``word`` as typed ("Rightbase" -> ["Right", "base"]), or None."""
        if not self._glued.fullmatch(word):
            return None
        parts = self._part.findall(word)
        whole = "".join(parts) == word and any(p.lower() in self._places for p in parts)
        return parts if whole else None

    def unglue(self, text: str) -> str:
        """``text`` with every glued word written as its parts, a space between them."""
        return self._glued.sub(lambda m: " ".join(self.parts(m.group(0)) or [m.group(0)]), text)
