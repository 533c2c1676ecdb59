"""One way into the model for every report: normalised, and in the internal laterality convention.

Whose left is "left"? QaTa-COV19's annotations mean the *image's* left; clinical reports mean the
*patient's* left, which a PA chest radiograph or an axial CT slice in radiological display shows on
the image's right. A model trained on one convention reads the other backwards, so every report is
mapped to one internal convention before it is encoded:

* **internal convention: "image"** ("left" = the image's left half). The network sees pixels, and a
  side of the image is what both the image and the mask show, whatever the source wrote.
* every source declares its convention: the training dataset in dataset.json's ``"tgc_laterality"``,
  the reports given for prediction in their file's own ``"tgc_laterality"`` key or through
  ``TGCPredictor.set_reports(..., laterality=...)``; at prediction the default is the training
  dataset's convention.
* ``"patient"`` reports are converted by swapping left and right (whole words, case kept);
  ``"image"`` reports stay as written; ``"unknown"`` reports are used as written, and such a source
  can only be mixed with another ``"unknown"`` one (a known convention cannot be mapped onto an
  unknown one).

:func:`prepare_report` is the single entry point: the trainer (training and final validation), the
predictor (files and arrays) and ``nnunet-tgc check`` all call it, so a user's spelling of a report
gives the same tokens as the converter's (issue 8: the same text everywhere).
"""
from __future__ import annotations

from typing import Mapping, Optional

from .brixia import brixia_in_words
from .laterality import swap_left_right
from .middle_lobe import middle_lobe_sided
from .normalize import normalize_report

INTERNAL = "image"
CONVENTIONS = ("image", "patient", "unknown")
DATASET_KEY = "tgc_laterality"  # the key in dataset.json and in a reports file
# the text of a case predicted (or, with report dropout, trained) without a report; a real report
# is never empty after normalisation (require_reports refuses empty reports)
NO_REPORT = ""


class LateralityConventionError(ValueError):
    """A convention is invalid, or two conventions cannot be reconciled; the message says what to do."""


def check_convention(value, source) -> str:
    """``value`` if it is a valid convention, else an error naming ``source`` (a file or an option)."""
    if value not in CONVENTIONS:
        raise LateralityConventionError(
            f"{source}: {DATASET_KEY} must be one of {', '.join(map(repr, CONVENTIONS))} (whose left/right the "
            f"reports mean: 'image' = the image's left as in QaTa-COV19, 'patient' = the patient's left as in "
            f"clinical reports), got {value!r}.")
    return value


def dataset_convention(dataset_json: Mapping, source="dataset.json") -> str:
    """The convention a dataset declares; a dataset.json without the key counts as "unknown"."""
    return check_convention(dataset_json.get(DATASET_KEY, "unknown"), source)


def to_internal(text: str, convention: str) -> str:
    """``text`` (written in ``convention``) in the internal, image-side convention."""
    check_convention(convention, "to_internal")
    return swap_left_right(text) if convention == "patient" else text


def from_internal(text: str, convention: str) -> str:
    """The inverse of :func:`to_internal` (the swap is its own inverse)."""
    return to_internal(text, convention)


def prepare_report(text: Optional[str], convention: str) -> str:
    """The one normalisation of a report before the model reads it: layout (whitespace, doubled
    periods, Unicode NFC), a middle lobe without a side word given the right lung's (:mod:`.middle_lobe`),
    Brixia zone letters written out in ``convention``'s side words (the letters fix the patient's side, the
    words do not: :mod:`.brixia`), then the mapping from ``convention`` to the internal one.

    Idempotent for internal text: ``prepare_report(prepare_report(t, c), "image") == prepare_report(t, c)``.
    None and empty text become :data:`NO_REPORT`; whether that is allowed is the caller's decision.
    """
    if text is None:
        return NO_REPORT
    return to_internal(brixia_in_words(middle_lobe_sided(normalize_report(text)), convention), convention)


def prepare_reports(reports: Mapping[str, Optional[str]], convention: str) -> dict:
    """:func:`prepare_report` of every value of ``{case_id: text}``."""
    check_convention(convention, "prepare_reports")
    return {case: prepare_report(text, convention) for case, text in reports.items()}


def reconcile(declared: str, trained: str, source) -> str:
    """The convention to read reports of ``declared`` convention with, for a model trained on
    ``trained`` reports. Known conventions both map to the internal one; "unknown" cannot be mapped,
    so it only goes with "unknown" (reports used as written on both sides)."""
    check_convention(declared, source)
    check_convention(trained, "the training dataset's dataset.json")
    if (declared == "unknown") != (trained == "unknown"):
        raise LateralityConventionError(
            f"{source}: the reports are declared {declared!r} but the model was trained on reports of "
            f"{trained!r} laterality convention; one of them is unknown, so left/right cannot be mapped. "
            f"Declare the convention of both (dataset.json's {DATASET_KEY} before training, and "
            f"{DATASET_KEY} in reports.json or set_reports(..., laterality=...) for prediction).")
    return declared
