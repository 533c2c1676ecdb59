"""Training reports in other words: every knowledge-base term replaced by another term of its entry.

A report's meaning reaches the place map through the places it states (``places.py``), whatever
its words; the frozen text tower's features of the same report do depend on the words, and DATE and
VLCM read them. Trained on one template, those paths learn one wording. So a share of the training
reports is re-worded at random with the knowledge base's own synonyms ("lower" -> "basal", "left
lung" -> "left hemithorax", "one" -> "single"): terms of one entry name the same place, so the
places, the mask and the report still agree, and the text paths learn that the words vary.

This uses only the knowledge base, never an evaluation wording: ``nnunet-tgc ablate``'s reworded
variants (``rewording.py``) are written independently and measure what this does.
"""
from __future__ import annotations

import numpy as np

from .knowledge import KnowledgeBase


def with_synonyms(text: str, knowledge: KnowledgeBase, rng: np.random.Generator) -> str:
    """``text`` with every term occurrence replaced by a random term of the same entry (itself included)."""
    out, last = [], 0
    for start, end, entry in knowledge.find(text):
        out.append(text[last:start])
        out.append(_case_like(text[start:end], entry.terms[int(rng.integers(len(entry.terms)))]))
        last = end
    out.append(text[last:])
    return "".join(out)


def _case_like(source: str, term: str) -> str:
    if len(source) > 1 and source.isupper():
        return term.upper()
    return term[0].upper() + term[1:] if source[:1].isupper() else term


def reword_batch(texts, rate: float, knowledge: KnowledgeBase, rng: np.random.Generator) -> list:
    """Each text re-worded with probability ``rate``."""
    if rate <= 0:
        return list(texts)
    return [with_synonyms(t, knowledge, rng) if t and rng.random() < rate else t for t in texts]
