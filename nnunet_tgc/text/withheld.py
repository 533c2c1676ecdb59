"""Reports that withhold a fact: a training report without its places, its counts or its laterality words.

A user's report may name no place at all ("Pulmonary infection."), and most reports count nothing
("Opacity in the left lower zone."). A network trained on one dataset's reports only ever sees the
facts those reports always state (QaTa's state places and counts in every report), so it has never
learnt what their absence means:

* **no place**: every term that says where or on how many sides ("left", "RLL", "bilateral",
  "unilateral") is removed; the place vector then says "placed nothing" (``places.place_vector``) and the place
  map gives where lesions lie in general, so the network has to find the lesions in the image, as plain
  nnU-Net does;
* **no count**: the place map ignores counts (it says where, not how much), but DATE's text tokens read
  the whole report, and a report that counts nothing is a kind of text they never saw;
* **no laterality word** (an option, off by default: documentation/results.md section 20): a report whose
  places already say on how many sides its findings lie loses the words that say it once more ("Unilateral",
  "bilateral", "both lungs"). Every one-sided QaTa-COV19 report opens with "Unilateral" and every two-sided
  one with "Bilateral", so DATE and VLCM learn one-sidedness from that one word, and reports worded
  otherwise rarely say it (documentation/results.md section 19). Without it the places have to say it.
  The places read stay the same by construction (a text whose places would change keeps its words), so
  the place map's fit needs no version of its own.

So a share of the training samples gets its report with one of these facts taken out: every term the
knowledge base says points somewhere (sides, zones, lobes), or every count term, is removed by the
lookup the reader itself uses, and the rest of the report stays, so the text paths still read a report
of this dataset. The place map's fit before training weights the same versions as training draws them
(``nnunet/place_fit.py``).

Nothing here comes from an evaluation wording: the terms are the knowledge base's, and
``nnunet-tgc ablate``'s ``generic`` variant measures the result.
"""
from __future__ import annotations

import re
from typing import Callable, List, Sequence, Tuple

import numpy as np

from .knowledge import Entry, KnowledgeBase
from .places import place_vector, read_places

# words a removed term leaves behind without meaning ("opacity in the ." / "left-sided" -> "-sided")
_DANGLING_WORDS = "in|of|at|on|within|involving|affecting|the|both|and|or|with|plus|as well as|only"
_DANGLING = re.compile(rf"(?:\b(?:{_DANGLING_WORDS})\b|&|-|<|>|=)\s*(?=[,.;:]|$)", re.IGNORECASE)
_SIDED = re.compile(r"(?:(?<=\s)|^)-?sided\b", re.IGNORECASE)
_EMPTY_ITEM = re.compile(r"([,;:])\s*(?=[,.;:]|$)")
_SPACE_BEFORE = re.compile(r"\s+([,.;:])")

# for a report that was nothing but places ("Left lung."): a finding, nowhere in particular
NO_PLACE_STATEMENT = "Abnormality."


def _is_place(entry: Entry) -> bool:
    # laterality words are place terms even where they name no side: a report that keeps "unilateral"
    # still tells one-sided cases from two-sided ones, so its place-free version would not be place-free
    # (QaTa's "Unilateral ..." and "Bilateral ..." reports would lose "Bilateral" alone, so a report that
    # places nothing, "Pulmonary infection.", would match the words of the two-sided half of the mixture)
    return bool(entry.sides or entry.zones) or _is_laterality(entry)


def _is_count(entry: Entry) -> bool:
    return entry.category == "count"


def _is_laterality(entry: Entry) -> bool:
    return entry.category == "laterality"


def _without(text: str, knowledge: KnowledgeBase, withheld: Callable[[Entry], bool]) -> str:
    """``text`` with every term of the entries ``withheld`` selects removed and the sentence tidied; a text
    that keeps no word gets the knowledge base's own statement of a finding without a place."""
    kept, last = [], 0
    for start, end, entry in knowledge.find(text):
        if withheld(entry):
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


def without_places(text: str, knowledge: KnowledgeBase) -> str:
    """``text`` with every place term of ``knowledge`` (sides, zones, lobes) removed."""
    return _without(text, knowledge, _is_place)


def without_counts(text: str, knowledge: KnowledgeBase) -> str:
    """``text`` with every count term of ``knowledge`` removed ("two infected areas" -> "infected areas")."""
    return _without(text, knowledge, _is_count)


def without_laterality_words(text: str, knowledge: KnowledgeBase) -> str:
    """``text`` without its laterality terms ("unilateral", "bilateral", "both lungs") where the places it states
    stay the same without them; otherwise ``text`` itself (in "Bilateral opacities." the word is the place)."""
    out = _without(text, knowledge, _is_laterality)
    if out == text or place_vector(read_places(out, knowledge)) != place_vector(read_places(text, knowledge)):
        return text
    return out


def _check_rate(name: str, rate: float) -> None:
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{name} must be in [0, 1) (a share of the training samples), got {rate}")


def withhold_batch(texts: Sequence[str], unplaced_rate: float, uncounted_rate: float, knowledge: KnowledgeBase,
                   rng: np.random.Generator, no_laterality_word_rate: float = 0.0) -> List[str]:
    """Each (non-empty) text loses its places with probability ``unplaced_rate`` and, independently, its
    counts with probability ``uncounted_rate`` and its laterality words with probability
    ``no_laterality_word_rate`` (the trainer's ``tgc_unplaced_rate``, ``tgc_uncounted_rate`` and
    ``tgc_no_laterality_word_rate``)."""
    _check_rate("tgc_unplaced_rate", unplaced_rate)
    _check_rate("tgc_uncounted_rate", uncounted_rate)
    _check_rate("tgc_no_laterality_word_rate", no_laterality_word_rate)
    out = []
    for text in texts:
        if text and unplaced_rate and rng.random() < unplaced_rate:
            text = without_places(text, knowledge)
        if text and uncounted_rate and rng.random() < uncounted_rate:
            text = without_counts(text, knowledge)
        if text and no_laterality_word_rate and rng.random() < no_laterality_word_rate:
            text = without_laterality_words(text, knowledge)
        out.append(text)
    return out


def withheld_versions(unplaced_rate: float, uncounted_rate: float
                      ) -> List[Tuple[Callable[[str, KnowledgeBase], str], float]]:
    """The versions of a report that :func:`withhold_batch` draws, each with the share of draws it gets:
    (transform, share) pairs whose shares sum to 1 (the place map's fit weights its targets by them). Laterality
    words are not among them: a report loses them only where its places stay the same."""
    _check_rate("tgc_unplaced_rate", unplaced_rate)
    _check_rate("tgc_uncounted_rate", uncounted_rate)

    def unchanged(text, knowledge):
        return text

    def neither(text, knowledge):
        return without_counts(without_places(text, knowledge), knowledge)

    versions = [(unchanged, (1 - unplaced_rate) * (1 - uncounted_rate)),
                (without_places, unplaced_rate * (1 - uncounted_rate)),
                (without_counts, (1 - unplaced_rate) * uncounted_rate),
                (neither, unplaced_rate * uncounted_rate)]
    return [(f, share) for f, share in versions if share > 0]
