"""``nnunet-tgc evaluate PRED_FOLDER GT_FOLDER``: per-image and pooled Dice/IoU, plus nnU-Net's summary.

Writes ``metrics_tgc.json`` and ``metrics_tgc_nnunet_summary.json`` (or where ``-o`` /
``--nnunet-summary`` say) and never replaces a file it did not write, such as nnU-Net's own
``summary.json`` in a ``fold_X/validation`` folder."""
import json
import os
import sys
from pathlib import Path

from .metrics import EMPTY_GT_RULE, EvaluationError, ensure_ours, evaluate_folders


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="Dice/IoU of predictions against ground truth",
                                   description=__doc__)
    parser.add_argument("pred_folder", type=Path, help="predicted segmentations (nnU-Net output)")
    parser.add_argument("gt_folder", type=Path, help="ground truth, e.g. nnUNet_raw/DatasetXXX/labelsTs")
    parser.add_argument("-o", "--output", type=Path,
                        help="metrics JSON (default PRED_FOLDER/metrics_tgc.json)")
    parser.add_argument("--labels", type=int, nargs="+", default=[1], help="labels to evaluate (default 1)")
    parser.add_argument("--file-ending", help="segmentation file ending (default: detected from GT)")
    parser.add_argument("--nnunet-summary", type=Path,
                        help="where nnU-Net's compute_metrics_on_folder result goes (default: beside the metrics "
                             "JSON as <name>_nnunet_summary.json; never nnU-Net's own summary.json)")
    parser.add_argument("--no-nnunet-summary", action="store_true",
                        help="skip nnU-Net's compute_metrics_on_folder")
    parser.add_argument("-np", "--num-processes", type=int, default=2,
                        help="processes for nnU-Net's summary (default 2)")
    parser.set_defaults(func=run)


def run(args) -> int:
    output = args.output or args.pred_folder / "metrics_tgc.json"
    summary = None if args.no_nnunet_summary else (
        args.nnunet_summary or output.with_name(output.stem + "_nnunet_summary.json"))
    try:
        # files this tool did not write (nnU-Net's summary.json in a validation folder) are never replaced
        ensure_ours(output, "-o")
        if summary is not None and Path(os.path.abspath(summary)) == Path(os.path.abspath(output)):
            raise EvaluationError(f"-o and --nnunet-summary both name {output}; give them different files")
        result = evaluate_folders(args.pred_folder, args.gt_folder, args.labels, args.file_ending,
                                  summary, args.num_processes)
    except (EvaluationError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(format_table(result))
    print(f"empty ground truth: {EMPTY_GT_RULE}")
    print(f"metrics written to {output}" + (f"; nnU-Net summary to {summary}" if summary else ""))
    return 0


def format_table(result: dict) -> str:
    """Short fixed-width table, in percent as papers report."""
    header = f"{'label':>5} {'cases':>6} {'emptyGT':>7} {'Dice':>7} {'mIoU':>7} {'pooledDice':>10} {'pooledIoU':>9}"
    lines = [header]
    for label, s in result["per_label"].items():
        lines.append(f"{label:>5} {s['n_cases']:>6} {s['n_empty_gt']:>7} {100 * s['mean_dice']:>7.2f} "
                     f"{100 * s['mean_iou']:>7.2f} {100 * s['pooled_dice']:>10.2f} "
                     f"{100 * s['pooled_iou']:>9.2f}")
    lines.append("(Dice, mIoU: per image, averaged over images; pooled: over all pixels; in %)")
    return "\n".join(lines)
