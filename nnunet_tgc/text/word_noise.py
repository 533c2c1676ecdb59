"""Training reports with other words around their facts: words that state nothing are left out, and words
that state nothing are put in.

A user's report is free text: beside the facts the reader reads (places, counts, findings, negation) it holds
words no training report held ("projected over", "ill-defined", "likely atypical infection"). The place map
never sees them (``places.py`` reads facts only), but DATE and VLCM read the frozen text tower's features of
the whole report; trained on one dataset's few templates, they can take an unknown word for a signal, and a
report worded otherwise then tips a small lesion over (results.md, "What the extra empty predictions are").
This is the random deletion and insertion of "EDA" (Wei and Zou, 2019) restricted to words that state
nothing:

* a word is **kept** if it is part of a knowledge-base term (sides, zones, lobes, counts, findings) or
  anything else the reader reads; every other word is **left out** with a small probability;
* after any word, a **filler** is put in with a small probability: a word of the knowledge base's own
  descriptions that is no term of it and no cue of the reader (so no evaluation wording, and no place).

A noised report must state what its original states: if the reader reads other places or another count from
it (a deleted "no", a filler read as a misspelt place word), the original is kept. So the mask, the place map
and the report still agree.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import List, Sequence, Tuple

import numpy as np

from .knowledge import KnowledgeBase
from .places import is_cue, read_places

WORD_DROP_PROBABILITY = 0.15   # per word that states nothing (EDA's alpha is 0.05 to 0.2)
WORD_INSERT_PROBABILITY = 0.15  # per word, a filler after it
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


@lru_cache(maxsize=8)
def filler_words(knowledge: KnowledgeBase) -> Tuple[str, ...]:
    """Words of ``knowledge``'s descriptions that the reader reads as nothing: no term (nor a misspelt place
    word, which ``find`` reads as one), no cue of its rules; at least three letters, lower case, sorted (so a
    seeded draw is reproducible)."""
    words = {w.lower() for e in knowledge.entries for w in _WORD.findall(e.description) if len(w) >= 3}
    return tuple(sorted(w for w in words if not knowledge.find(w) and not is_cue(w)))


def with_word_noise(text: str, knowledge: KnowledgeBase, rng: np.random.Generator) -> str:
    """``text`` with some words that state nothing left out and some fillers put in; ``text`` itself if the
    result would read as other facts."""
    fillers = filler_words(knowledge)
    kept = [(s, e) for s, e, _ in knowledge.find(text)]
    pieces, last = [], 0
    for m in _WORD.finditer(text):
        pieces.append(text[last:m.start()])
        stated = any(s < m.end() and m.start() < e for s, e in kept)
        if stated or rng.random() >= WORD_DROP_PROBABILITY:
            pieces.append(m.group(0))
        inside_a_term = any(s < m.end() < e for s, e in kept)  # "right lung": nothing between its words
        if fillers and not inside_a_term and rng.random() < WORD_INSERT_PROBABILITY:
            pieces.append(" " + fillers[int(rng.integers(len(fillers)))])
        last = m.end()
    pieces.append(text[last:])
    noised = re.sub(r"\s+([,.;:])", r"\1", re.sub(r"\s{2,}", " ", "".join(pieces))).strip()
    return noised if read_places(noised, knowledge) == read_places(text, knowledge) else text


def noise_batch(texts: Sequence[str], rate: float, knowledge: KnowledgeBase, rng: np.random.Generator) -> List[str]:
    """Each (non-empty) text given word noise with probability ``rate`` (the trainer's ``tgc_word_noise_rate``)."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"tgc_word_noise_rate must be in [0, 1) (a share of the training samples), got {rate}")
    if rate == 0:
        return list(texts)
    return [with_word_noise(t, knowledge, rng) if t and rng.random() < rate else t for t in texts]
