"""Segmentation metrics as text-guided segmentation papers report them, plus pooled totals.

Per-image protocol (LViT and most papers after it): Dice and IoU are computed for every image and
averaged over the images ("mean Dice", "mIoU").  Pooled metrics add up true/false positives and
negatives over all pixels of all images first, so large lesions weigh more.

Empty ground truth (MosMedData+ has such slices) follows LViT's smoothed formula
``(2|P∩G| + eps) / (|P| + |G| + eps)``: if ground truth *and* prediction are empty the image
scores Dice = IoU = 1; if the ground truth is empty but the prediction is not, 0.  (nnU-Net's own
summary.json instead gives NaN to the first case and leaves it out of its mean; both are written,
under this tool's own names: it never replaces a file it did not write, such as nnU-Net's summary.json.)
"""
import json
import os
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

EMPTY_GT_RULE = ("both empty -> Dice 1, IoU 1; ground truth empty but prediction not -> Dice 0, "
                 "IoU 0 (LViT's smoothed Dice); nnU-Net's summary.json counts both-empty as NaN")
PROTOCOL = ("mean_dice/mean_iou: per image, averaged over images (LViT protocol); "
            "pooled_dice/pooled_iou: over all pixels of all images")
SEGMENTATION_ENDINGS = (".nii.gz", ".png", ".nii", ".tif", ".tiff", ".bmp", ".mha", ".nrrd")
# every JSON this module writes carries this mark; a file without it is someone else's and never overwritten
CREATED_BY = "nnunet-tgc evaluate"


class EvaluationError(ValueError):
    """Prediction and ground-truth folders do not match; the message names the case."""


def ensure_ours(path: Path, option: str) -> None:
    """Refuse to replace ``path`` unless an earlier run of this tool wrote it: a prediction folder
    holds files the user owns (nnU-Net's own ``summary.json`` in ``fold_X/validation``, for one)."""
    path = Path(path)
    if not path.exists():
        return
    try:
        ours = json.loads(path.read_text(encoding="utf-8")).get("created_by") == CREATED_BY
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise EvaluationError(f"{path} exists and was not written by {CREATED_BY} (e.g. nnU-Net's own "
                              f"summary.json); it is left untouched. Choose another file with {option}, or "
                              f"move it away first.")


# ---------------------------------------------------------------- pure metrics

def confusion(pred: np.ndarray, gt: np.ndarray) -> tuple:
    """(intersection, |pred|, |gt|) of two masks; any non-zero value is foreground."""
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
    pred, gt = pred != 0, gt != 0
    return int(np.count_nonzero(pred & gt)), int(np.count_nonzero(pred)), int(np.count_nonzero(gt))


def dice_iou_from_counts(intersection: int, n_pred: int, n_gt: int) -> tuple:
    if n_pred + n_gt == 0:
        return 1.0, 1.0  # both empty: a correct "nothing here" (see module docstring)
    union = n_pred + n_gt - intersection
    return 2.0 * intersection / (n_pred + n_gt), intersection / union


def dice_iou(pred: np.ndarray, gt: np.ndarray) -> tuple:
    """Dice and IoU of two binary masks (non-zero = foreground); both empty gives (1, 1)."""
    return dice_iou_from_counts(*confusion(pred, gt))


def summarize(per_case: list) -> dict:
    """Aggregates of one label's per-case records (keys intersection, n_pred, n_gt, dice, iou)."""
    if not per_case:
        raise ValueError("no cases to summarise")
    dice = np.array([r["dice"] for r in per_case])
    iou = np.array([r["iou"] for r in per_case])
    empty_gt = np.array([r["n_gt"] == 0 for r in per_case])
    both_empty = np.array([r["n_gt"] == 0 and r["n_pred"] == 0 for r in per_case])
    pooled = dice_iou_from_counts(sum(r["intersection"] for r in per_case),
                                  sum(r["n_pred"] for r in per_case), sum(r["n_gt"] for r in per_case))
    return {
        "n_cases": len(per_case),
        "mean_dice": float(dice.mean()),
        "mean_iou": float(iou.mean()),
        "pooled_dice": pooled[0],
        "pooled_iou": pooled[1],
        "n_empty_gt": int(empty_gt.sum()),
        "n_empty_gt_and_pred": int(both_empty.sum()),
        # the same means without empty-GT images, for comparison with NaN-skipping protocols
        "mean_dice_nonempty_gt": float(dice[~empty_gt].mean()) if (~empty_gt).any() else None,
        "mean_iou_nonempty_gt": float(iou[~empty_gt].mean()) if (~empty_gt).any() else None,
    }


# ---------------------------------------------------------------- folders

def evaluate_folders(pred_dir, gt_dir, labels: Sequence[int] = (1,), file_ending: Optional[str] = None,
                     nnunet_summary: Optional[Path] = None, num_processes: int = 2) -> dict:
    """Metrics of every ground-truth case in ``gt_dir`` against the same-named file in ``pred_dir``.

    ``nnunet_summary``: where to write nnU-Net's own summary (None: not computed); an existing file
    there that this tool did not write is an error, before anything is computed.
    """
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    if nnunet_summary is not None:
        ensure_ours(nnunet_summary, "--nnunet-summary")
    file_ending = file_ending or detect_file_ending(gt_dir)
    cases = _matched_cases(pred_dir, gt_dir, file_ending)
    reader = label_reader(file_ending, gt_dir / (cases[0] + file_ending))
    per_label = {label: [] for label in labels}
    gt_values, pred_values = set(), {}
    for case in cases:
        gt = read_label_map(reader, gt_dir / (case + file_ending))
        pred = read_label_map(reader, pred_dir / (case + file_ending))
        if gt.shape != pred.shape:
            raise EvaluationError(f"case {case}: prediction shape {pred.shape} differs from ground "
                                  f"truth shape {gt.shape} ({pred_dir / (case + file_ending)})")
        gt_values.update(np.unique(gt).tolist())
        for value in np.unique(pred).tolist():
            pred_values.setdefault(value, case)
        for label in labels:
            intersection, n_pred, n_gt = confusion(pred == label, gt == label)
            dice, iou = dice_iou_from_counts(intersection, n_pred, n_gt)
            per_label[label].append({"case": case, "label": label, "dice": dice, "iou": iou,
                                     "intersection": intersection, "n_pred": n_pred, "n_gt": n_gt})
    _check_label_values(pred_values, gt_values | {0, *labels}, pred_dir, file_ending)
    result = _assemble(per_label, pred_dir, gt_dir, file_ending)
    if nnunet_summary is not None:
        result["nnunet_summary"] = _nnunet_summary(pred_dir, gt_dir, cases, file_ending, labels,
                                                   Path(nnunet_summary), num_processes)
    return result


def detect_file_ending(folder: Path) -> str:
    """The segmentation file ending most files in ``folder`` have."""
    if not folder.is_dir():
        raise EvaluationError(f"{folder}: folder not found")
    counts = {e: sum(1 for p in folder.iterdir() if p.name.endswith(e)) for e in SEGMENTATION_ENDINGS}
    best = max(counts, key=counts.get)
    if counts[best] == 0:
        raise EvaluationError(f"{folder}: no segmentation files ({', '.join(SEGMENTATION_ENDINGS)})")
    return best


def _matched_cases(pred_dir: Path, gt_dir: Path, file_ending: str) -> list:
    if not pred_dir.is_dir():
        raise EvaluationError(f"{pred_dir}: prediction folder not found")
    cases = sorted(p.name[: -len(file_ending)] for p in gt_dir.iterdir()
                   if p.is_file() and p.name.endswith(file_ending))
    if not cases:
        raise EvaluationError(f"{gt_dir}: no ground-truth files ending in {file_ending}")
    missing = [c for c in cases if not (pred_dir / (c + file_ending)).is_file()]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise EvaluationError(f"{len(missing)} ground-truth case(s) have no prediction in {pred_dir}: "
                              f"{shown} (expected e.g. {pred_dir / (missing[0] + file_ending)})")
    return cases


def _check_label_values(pred_values: dict, known: set, pred_dir: Path, file_ending: str) -> None:
    """A prediction saved as a 0/255 picture would silently score 0: refuse values the ground
    truth never uses."""
    unknown = sorted(v for v in pred_values if v not in known)
    if unknown:
        case = pred_values[unknown[0]]
        raise EvaluationError(f"{pred_dir / (case + file_ending)}: prediction value(s) {unknown} occur in "
                              f"no ground truth (values {sorted(known)}); predictions must be label "
                              f"maps (0/1, ...), not 0/255 pictures")


def label_reader(file_ending: str, example: Path):
    """nnU-Net's reader for label maps ending in ``file_ending`` (``example``: one of them)."""
    from nnunetv2.imageio.reader_writer_registry import determine_reader_writer_from_file_ending
    return determine_reader_writer_from_file_ending(file_ending, str(example), verbose=False)()


def read_label_map(reader, path: Path) -> np.ndarray:
    """Label map as nnU-Net reads it (so our numbers and summary.json see the same pixels)."""
    seg, _ = reader.read_seg(str(path))
    return np.asarray(seg[0]).round().astype(np.int64)


def _assemble(per_label: dict, pred_dir: Path, gt_dir: Path, file_ending: str) -> dict:
    summaries = {str(label): summarize(records) for label, records in per_label.items()}
    labels = list(summaries)
    cases = [r["case"] for r in next(iter(per_label.values()))]
    any_gt = {case: False for case in cases}
    for records in per_label.values():
        for record in records:
            any_gt[record["case"]] |= record["n_gt"] > 0
    result = {
        "created_by": CREATED_BY,
        "protocol": PROTOCOL,
        "empty_gt_rule": EMPTY_GT_RULE,
        "pred_folder": str(pred_dir),
        "gt_folder": str(gt_dir),
        "file_ending": file_ending,
        "labels": [int(label) for label in labels],
        "n_cases": len(cases),
        "n_empty_gt": sum(not v for v in any_gt.values()),
        "per_label": summaries,
        "per_case": [r for records in per_label.values() for r in records],
    }
    for key in ("mean_dice", "mean_iou", "pooled_dice", "pooled_iou"):
        result[key] = float(np.mean([summaries[label][key] for label in labels]))
    return result


def _nnunet_summary(pred_dir: Path, gt_dir: Path, cases: list, file_ending: str, labels, output: Path,
                    num_processes: int) -> dict:
    """nnU-Net's compute_metrics_on_folder on exactly the matched cases, written to ``output``.

    nnU-Net evaluates every file of the prediction folder, so extra predictions (cases without
    ground truth) are hidden behind a folder of links to the matched ones; nnU-Net writes its JSON
    into that temporary folder, and only the marked copy reaches ``output``.
    """
    from nnunetv2.evaluation.evaluate_predictions import compute_metrics_on_folder
    reader = label_reader(file_ending, gt_dir / (cases[0] + file_ending))
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tgc_eval_") as tmp:
        links = Path(tmp) / "predictions"
        links.mkdir()
        for case in cases:
            os.symlink((pred_dir / (case + file_ending)).resolve(), links / (case + file_ending))
        raw = Path(tmp) / "summary.json"
        summary = compute_metrics_on_folder(str(gt_dir), str(links), str(raw), reader, file_ending,
                                            [int(label) for label in labels],
                                            num_processes=num_processes)
        # the summary names the linked files; point it at the real predictions instead
        text = raw.read_text().replace(json.dumps(str(links))[1:-1], json.dumps(str(pred_dir))[1:-1])
    marked = {"created_by": CREATED_BY, **json.loads(text)}
    output.write_text(json.dumps(marked, indent=2) + "\n", encoding="utf-8")
    return {"file": str(output), "foreground_mean": summary["foreground_mean"]}
