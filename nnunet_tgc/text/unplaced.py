"""Reports that place nothing: a training report with its place terms taken out.

A user's report may name no place at all ("Pulmonary infection."). Its place vector then says
"placed nothing" (``places.place_vector``) and the place map gives where lesions lie in general
(fitted to every training mask, ``nnunet/place_fit.py``), so the network has to find the lesions in
the image, as plain nnU-Net does. A network trained only on placed reports never sees that input:
on QaTa, a generic report cost 19 Dice against the correct one (documentation/results.md). So a
share of the training samples gets its report without places: every term the knowledge base says
points somewhere (sides, zones, lobes) is removed by the lookup the reader itself uses, and the rest
of the report (findings, counts) stays, so the text paths still read a report of this dataset.

Nothing here comes from an evaluation wording: the place terms are the knowledge base's, and
``nnunet-tgc ablate``'s ``generic`` variant measures the result.
"""
from __future__ import annotations

import re
from typing import List, Sequence

import numpy as np

from .knowledge import KnowledgeBase

# words a removed place term leaves behind without meaning ("opacity in the ." / "left-sided" -> "-sided")
_DANGLING = re.compile(r"(?:\b(?:in|of|at|on|within|involving|affecting|the|both|and|or|with|plus|as well as)\b|&|-|<|>|=)"
                       r"\s*(?=[,.;:]|$)", re.IGNORECASE)
_SIDED = re.compile(r"(?:(?<=\s)|^)-?sided\b", re.IGNORECASE)
_EMPTY_ITEM = re.compile(r"([,;:])\s*(?=[,.;:]|$)")
_SPACE_BEFORE = re.compile(r"\s+([,.;:])")


def without_places(text: str, knowledge: KnowledgeBase) -> str:
    """``text`` with every place term of ``knowledge`` removed and the sentence tidied; a text that
    keeps no word gets the knowledge base's own statement of a finding without a place."""
    kept, last = [], 0
    for start, end, entry in knowledge.find(text):
        if entry.sides or entry.zones:
            kept.append(text[last:start])
            last = end
    kept.append(text[last:])
    out = "".join(kept)
    previous = None
    while previous != out:  # each pass may leave another word dangling ("in the left and right" -> "in the")
        previous = out
        out = _SIDED.sub("", out)
        out = _SPACE_BEFORE.sub(r"\1", out)
        out = _DANGLING.sub("", out)
        out = _EMPTY_ITEM.sub("", out)
        out = re.sub(r"\s{2,}", " ", out).strip(" ,;:")
        out = re.sub(r"^[.,;:]+\s*", "", out)
    if not re.search(r"[A-Za-z]{3,}", out):
        return NO_PLACE_STATEMENT
    return out[0].upper() + out[1:]


# for a report that was nothing but places ("Left lung."): a finding, nowhere in particular
NO_PLACE_STATEMENT = "Abnormality."


def unplace_batch(texts: Sequence[str], rate: float, knowledge: KnowledgeBase, rng: np.random.Generator) -> List[str]:
    """Each (non-empty) text replaced by its place-free version with probability ``rate``."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"tgc_unplaced_rate must be in [0, 1) (a share of the training samples), got {rate}")
    if rate == 0:
        return list(texts)
    return [without_places(t, knowledge) if t and rng.random() < rate else t for t in texts]
