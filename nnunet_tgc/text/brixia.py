"""Brixia zone letters written out as the zones they name, in the report's own laterality convention.

The Brixia score (Borghesi and Maroldi, 2020), made for COVID-19 chest radiographs, scores six zones 0 to 3 and
names them by letter: A, B, C the patient's right lung (upper, middle, lower: above the inferior wall of the
aortic arch, down to the inferior wall of the right inferior pulmonary vein, below it), D, E, F the left. A
letter fixes the patient's side whatever the report's convention, unlike the words "left" and "right", which mean
the image's side in a report declared "image" (QaTa-COV19). So the letters are written out before the convention
is mapped (:func:`nnunet_tgc.text.convention.prepare_report`): in the patient's words for "patient" reports, in
the image's words (the patient's right is the image's left) for "image" reports, and left as written for
"unknown" reports, whose side words cannot be told from the patient's. Every route to the network (training,
prediction, ablation, ``nnunet-tgc places``) then reads "right upper zone opacity (Brixia A2)" where the report
wrote "A2".

A letter counts as a Brixia zone only in a run of at least three zone scores with different letters, joined by
nothing but separators ("A1 B0 C2 | D1 E0 F3", "A=1, B=2, C=0"), so an article or a section label ("A 2 cm
nodule", "B: impression") is never read as a zone.
"""
from __future__ import annotations

import re

# the patient's side and the zone of each letter
ZONES = {"A": ("right", "upper"), "B": ("right", "middle"), "C": ("right", "lower"),
         "D": ("left", "upper"), "E": ("left", "middle"), "F": ("left", "lower")}
_OTHER_SIDE = {"right": "left", "left": "right"}
_MIN_RUN = 3  # zone scores in a run; a lone "A2" or "B: 1" is too common in prose to be a zone

_SCORE = r"(?<![\w/.-])([A-F])\s?[:=]?\s?([0-3])(?![\w%/.,]\d|[\w%/])"
_SEPARATOR = r"(?:\s*[,;|/]\s*|\s+(?:and\s+)?)"
_RUN = re.compile(rf"{_SCORE}(?:{_SEPARATOR}{_SCORE})+")
_ONE = re.compile(_SCORE)


def brixia_in_words(text: str, convention: str) -> str:
    """``text`` with every run of Brixia zone scores written out as zones in ``convention``'s side words
    ("image": the patient's right is "left"); "unknown" text is returned as written."""
    if convention == "unknown":
        return text
    return _RUN.sub(lambda run: _written_out(run.group(0), convention), text)


def _written_out(run: str, convention: str) -> str:
    scores = _ONE.findall(run)
    letters = {letter for letter, _ in scores}
    if len(letters) < _MIN_RUN or len(letters) != len(scores):  # too short, or a letter twice: no Brixia run
        return run
    return "; ".join(_zone_words(letter, int(score), convention) for letter, score in scores) + ";"


def _zone_words(letter: str, score: int, convention: str) -> str:
    side, zone = ZONES[letter]
    side = side if convention == "patient" else _OTHER_SIDE[side]
    return f"{side} {zone} zone {'opacity' if score else 'clear'} (Brixia {letter}{score})"
