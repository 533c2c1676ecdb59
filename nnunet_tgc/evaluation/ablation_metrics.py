"""Metrics of the text ablation: Dice/IoU by report category, and the side share.

Side share of one case: the share of its predicted foreground that lies in the image half its
report names. Over cases whose report names exactly one side its mean is 0.5 for a model that
ignores the text (a prediction cannot depend on which side is named) and 1.0 for one that reads it
perfectly. Halves are split along the lateral axis; with an odd number of columns the middle column
belongs to neither half. A case with no predicted foreground in either half has no side share and
is counted separately (``n_side_empty_prediction``).

The mean of per-case shares counts a prediction of a few stray pixels as much as a whole lesion, so the
summaries also give the pooled share: the foreground in the named halves over all foreground of the
same cases (``side_share_pooled``, ``side_share_pooled_vs_correct``).

Foreground is any non-zero label (the union of all foreground labels). Dice and IoU follow
:mod:`nnunet_tgc.evaluation.metrics` (LViT's per-image protocol and its empty-ground-truth rule).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..text.convention import to_internal
from ..text.places import named_sides
from ..text.report_variants import SIDE_CATEGORIES, side_category, words_category
from .metrics import confusion, dice_iou_from_counts, summarize

def half_counts(pred: np.ndarray, lateral_axis: int) -> tuple:
    """(foreground voxels in the image's left half, in its right half); left = low index."""
    fg = np.moveaxis(np.asarray(pred) != 0, lateral_axis, 0)
    width = fg.shape[0]
    return int(fg[: width // 2].sum()), int(fg[(width + 1) // 2:].sum())


def side_share(left: int, right: int, side: str) -> Optional[float]:
    """Share of the foreground of both halves in the half ``side``; None without foreground."""
    if left + right == 0:
        return None
    return (left if side == "left" else right) / (left + right)


def image_side_of(report: Optional[str], laterality: str = "image") -> Optional[str]:
    """The image half ("left"/"right") a report names when it names exactly one side, else None.

    ``laterality`` is whose left the report means (dataset.json's ``tgc_laterality``): "image"
    (QaTa: "left" = image left), "patient" (a radiologist's left, shown on the image's right) or
    "unknown" (taken as written, i.e. as image sides).
    """
    sides = named_sides(to_image_convention(report, laterality))
    return next(iter(sides)) if len(sides) == 1 else None


def to_image_convention(report: Optional[str], laterality: str) -> Optional[str]:
    """``report`` with "left"/"right" meaning the image's halves ("unknown": as written)."""
    return None if report is None else to_internal(report, laterality)


def case_record(case: str, pred: np.ndarray, gt: np.ndarray, correct_report: str, given_report: Optional[str],
                lateral_axis: Optional[int], laterality: str = "image", given_laterality: Optional[str] = None) -> dict:
    """Everything the ablation keeps about one case predicted with one report.

    ``laterality``: the convention of the correct report; ``given_laterality``: that of the given one
    (default the same; the ``reworded_patient`` variant declares the other)."""
    intersection, n_pred, n_gt = confusion(pred, gt)
    dice, iou = dice_iou_from_counts(intersection, n_pred, n_gt)
    record = {"case": case, "dice": dice, "iou": iou, "intersection": intersection, "n_pred": n_pred,
              "n_gt": n_gt, "category": side_category(correct_report), "words": words_category(correct_report),
              "correct_side": image_side_of(correct_report, laterality),
              "given_side": image_side_of(given_report, given_laterality or laterality),
              "left_fg": None, "right_fg": None, "share_given": None, "share_correct": None}
    if lateral_axis is not None:
        left, right = half_counts(pred, lateral_axis)
        record.update(left_fg=left, right_fg=right)
        if record["correct_side"]:
            record["share_correct"] = side_share(left, right, record["correct_side"])
        if record["correct_side"] and record["given_side"]:
            record["share_given"] = side_share(left, right, record["given_side"])
    return record


def pooled_side_share(records: Sequence[dict], side_key: str) -> Optional[float]:
    """Foreground in the halves ``record[side_key]`` names over all foreground of the records that name one."""
    named = [r for r in records if r[side_key]]
    inside = sum(r[f"{r[side_key]}_fg"] for r in named)
    total = sum(r["left_fg"] + r["right_fg"] for r in named)
    return inside / total if total else None


def side_share_summary(records: Sequence[dict]) -> dict:
    """Mean and pooled side shares over the cases whose correct report names exactly one side."""
    one_side = [r for r in records if r["correct_side"] and r["left_fg"] is not None]
    given = [r["share_given"] for r in one_side if r["share_given"] is not None]
    correct = [r["share_correct"] for r in one_side if r["share_correct"] is not None]
    return {
        "n_side_cases": len(one_side),
        "n_side_empty_prediction": sum(r["left_fg"] + r["right_fg"] == 0 for r in one_side),
        # against the side the variant's own report names (undefined where it names none or both)
        "side_share": float(np.mean(given)) if given else None,
        "n_side_share": len(given),
        # against the side the correct report names: a text-reading model drops below 0.5 for swap_lr
        "side_share_vs_correct": float(np.mean(correct)) if correct else None,
        "n_side_share_vs_correct": len(correct),
        "side_share_pooled": pooled_side_share(one_side, "given_side"),
        "side_share_pooled_vs_correct": pooled_side_share(one_side, "correct_side"),
    }


def summarize_variant(records: Sequence[dict]) -> dict:
    """Overall Dice/IoU/pooled, empty predictions, the same per report category, the side shares, and
    the same split by whether the case's report was seen in training (records' ``seen``, where known)."""
    by_category = _grouped(records, "category", SIDE_CATEGORIES)
    by_words = _grouped(records, "words", sorted({r["words"] for r in records}))
    return {**summarize(records), "n_empty_prediction": sum(r["n_pred"] == 0 for r in records),
            "by_category": by_category, "by_words": by_words, **side_share_summary(records),
            "by_training": training_groups(records)}


GROUP_KEYS = ("n_cases", "mean_dice", "mean_iou", "pooled_dice", "n_empty_prediction", "side_share",
              "side_share_vs_correct", "side_share_pooled", "side_share_pooled_vs_correct", "n_side_cases",
              "n_side_empty_prediction")


def training_groups(records: Sequence[dict]) -> Optional[dict]:
    """{"seen": ..., "unseen": ...}: Dice per image, pooled Dice, cases, empty predictions and side
    shares of the cases whose correct report occurs (does not occur) in the training reports; the unseen
    ones again split into "unseen_known_places" (their places, as the model reads them, are those of some
    training report: only the wording is new) and "unseen_new_places" (no training report states them).
    None when ``seen`` is unknown; without ``places_seen`` (records of an older version) only the first two.
    A group without cases has ``n_cases`` 0."""
    if not records or any(r.get("seen") is None for r in records):
        return None
    unseen = [r for r in records if not r["seen"]]
    members = {"seen": [r for r in records if r["seen"]], "unseen": unseen}
    if all(r.get("places_seen") is not None for r in records):
        members["unseen_known_places"] = [r for r in unseen if r["places_seen"]]
        members["unseen_new_places"] = [r for r in unseen if not r["places_seen"]]
    return {name: _group_summary(group) for name, group in members.items()}


def _group_summary(members: Sequence[dict]) -> dict:
    if not members:
        return {"n_cases": 0}
    s = {**summarize(members), "n_empty_prediction": sum(r["n_pred"] == 0 for r in members),
         **side_share_summary(members)}
    return {k: s[k] for k in GROUP_KEYS}


MEAN_KEYS = ("mean_dice", "mean_iou", "pooled_dice", "n_empty_prediction", "side_share", "side_share_vs_correct",
             "side_share_pooled", "side_share_pooled_vs_correct")


def mean_of_summaries(summaries: Sequence[dict]) -> dict:
    """The mean over several variants' summaries (the ``reworded`` row: the mean over the styles) of the
    headline numbers, overall and per training group (those all summaries have); a number missing in
    some summaries is the mean of the others, missing in all: None."""
    def mean(values):
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else None
    out = {k: mean([s.get(k) for s in summaries]) for k in MEAN_KEYS}
    out["n_variants"] = len(summaries)
    out["n_cases"] = summaries[0]["n_cases"] if summaries else 0
    groups = [s.get("by_training") for s in summaries]
    if summaries and all(groups):
        shared = [g for g in groups[0] if all(g in x for x in groups)]  # older summaries lack the places groups
        out["by_training"] = {g: {"n_cases": groups[0][g]["n_cases"],
                                  **{k: mean([x[g].get(k) for x in groups]) for k in MEAN_KEYS}}
                              for g in shared}
    else:
        out["by_training"] = None
    return out


def _grouped(records: Sequence[dict], key: str, order: Sequence[str]) -> dict:
    groups = {}
    for name in order:
        members = [r for r in records if r[key] == name]
        if members:
            s = summarize(members)
            groups[name] = {k: s[k] for k in ("n_cases", "mean_dice", "mean_iou", "pooled_dice", "pooled_iou")}
    return groups
