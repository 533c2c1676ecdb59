"""Report variants for the text ablation (``nnunet-tgc ablate``), and report categories by side.

Every variant is a pure function of the correct reports ``{case: text}``: the ablation predicts
the same images with each and measures how much the segmentation depends on the words.

* ``correct``: each case's own report;
* ``swap_lr``: left <-> right swapped (a model that reads sides must move its prediction);
* ``swap_ul``: upper <-> lower (and superior/inferior, apical/basal ...) swapped;
* ``shuffled``: the reports permuted between cases with a fixed seed, so that no case keeps a text
  identical to its own where the texts allow it;
* ``generic``: one report (default "Pulmonary infection.") for every case;
* ``reworded_<style>``: each case's own report in other words with the same facts, one variant per
  style of :mod:`nnunet_tgc.text.rewording` (clinical, lobes, abbreviations, reordered, terse,
  negation, patient); ``reworded_patient`` is in the other laterality convention, which the caller
  declares (:func:`declared_convention`);
* ``none``: no report at all (value None); only for models trained to work without one.
"""
from __future__ import annotations

import re
from typing import Mapping, Optional

import numpy as np

from .laterality import swap_left_right, swap_upper_lower
from .places import named_sides
from .rewording import STYLE_DESCRIPTIONS, STYLES, Reworded, reword_reports

REWORDED_PREFIX = "reworded_"
REWORDED = tuple(REWORDED_PREFIX + style for style in STYLES)
REWORDED_AGGREGATE = "reworded"  # not a variant: the mean of the reworded_<style> rows
# "none" stays last: it is the only variant without a text
VARIANTS = ("correct", "swap_lr", "swap_ul", "shuffled", "generic", *REWORDED, "none")
DEFAULT_GENERIC_REPORT = "Pulmonary infection."
VARIANT_DESCRIPTIONS = {
    "correct": "each case's own report",
    "swap_lr": "own report with left and right swapped",
    "swap_ul": "own report with upper and lower swapped",
    "shuffled": "reports permuted between cases (fixed seed)",
    "generic": "one generic report for every case",
    **{REWORDED_PREFIX + s: f"own report reworded, same facts: {d}" for s, d in STYLE_DESCRIPTIONS.items()},
    REWORDED_PREFIX + "patient": "own report in the other side convention (left/right swapped), declared as such "
                                 "in its reports.json (tgc_laterality)",
    "none": "no report",
    "image_only": "plain nnU-Net: the image only",
    REWORDED_AGGREGATE: "mean over the reworded_<style> variants",
}

# words that say which side(s) of the body a report is about
_LATERALITY_WORDS = ("left", "right", "bilateral", "unilateral", "both")
_LATERALITY_RE = re.compile(r"\b(" + "|".join(_LATERALITY_WORDS) + r")\b", re.IGNORECASE)

SIDE_CATEGORIES = ("unilateral left", "unilateral right", "bilateral", "no side named")


def make_variant(name: str, reports: Mapping[str, str], seed: int = 0,
                 generic_report: str = DEFAULT_GENERIC_REPORT) -> dict:
    """The reports ``{case: text or None}`` of variant ``name`` (one of :data:`VARIANTS`)."""
    if name == "correct":
        return dict(reports)
    if name == "swap_lr":
        return {case: swap_left_right(text) for case, text in reports.items()}
    if name == "swap_ul":
        return {case: swap_upper_lower(text) for case, text in reports.items()}
    if name == "shuffled":
        return shuffle_reports(reports, seed)
    if name == "generic":
        if not generic_report or not generic_report.strip():
            raise ValueError("the generic report must not be empty (--generic-report)")
        return {case: generic_report for case in reports}
    if name == "none":
        return {case: None for case in reports}
    if name in REWORDED:
        return reworded(name, reports, seed).reports
    raise ValueError(f"unknown report variant {name!r}; choose from {', '.join(VARIANTS)}")


def reworded(name: str, reports: Mapping[str, str], seed: int = 0) -> Reworded:
    """Variant ``reworded_<style>``: the reports and the cases the generator left unchanged."""
    return reword_reports(reports, name[len(REWORDED_PREFIX):], seed)


def declared_convention(name: str, source_convention: str) -> Optional[str]:
    """The laterality convention a variant's reports.json declares (None: as the source's reports).

    ``reworded_patient`` swaps left and right, so it declares the other convention ("patient" for the
    image-side QaTa reports); reports of unknown convention cannot be declared as the other one, so the
    variant cannot be made (ValueError)."""
    if name != REWORDED_PREFIX + "patient":
        return None
    if source_convention not in ("image", "patient"):
        raise ValueError(f"the reports' laterality convention is {source_convention!r}, so their left/right cannot "
                         f"be declared as the other convention; declare tgc_laterality in the model's dataset.json "
                         f"or in the reports file")
    return "patient" if source_convention == "image" else "image"


def shuffle_reports(reports: Mapping[str, str], seed: int = 0) -> dict:
    """Reports permuted between cases (seeded); no case keeps a text equal to its own where avoidable.

    A random permutation is repaired by swaps: a case that drew a text equal to its own trades with
    another case when both then hold a text different from their own. Identical reports are common
    (QaTa: 301 distinct texts for 7,145 cases), so "not its own case" alone would not be enough.
    """
    cases = sorted(reports)
    texts = [reports[c] for c in cases]
    rng = np.random.default_rng(seed)
    perm = list(rng.permutation(len(cases)))
    for i in range(len(cases)):
        if texts[perm[i]] != texts[i]:
            continue
        for j in rng.permutation(len(cases)):
            if texts[perm[j]] != texts[i] and texts[perm[i]] != texts[j]:
                perm[i], perm[j] = perm[j], perm[i]
                break
    return {case: texts[perm[i]] for i, case in enumerate(cases)}


def laterality_words(text: Optional[str]) -> tuple:
    """The laterality words a report uses, lower case, sorted ("left", "right", "bilateral", ...): a breakdown
    by wording only; which sides a report names is :func:`nnunet_tgc.text.places.named_sides`."""
    if not text:
        return ()
    return tuple(sorted({m.lower() for m in _LATERALITY_RE.findall(text)}))


def side_category(text: Optional[str]) -> str:
    """QaTa-style category of a report: unilateral left / unilateral right / bilateral / no side named, by
    the sides it names as involved (:func:`nnunet_tgc.text.places.named_sides`, the project's one rule:
    lobes, abbreviations, negation and "bilateral" read; in the report's own convention)."""
    sides = named_sides(text)
    if len(sides) == 2:
        return "bilateral"
    if len(sides) == 1:
        return f"unilateral {next(iter(sides))}"
    return "no side named"


def words_category(text: Optional[str]) -> str:
    """Generic category: the set of laterality words the report uses ("left+unilateral"), or "none"."""
    return "+".join(laterality_words(text)) or "none"
