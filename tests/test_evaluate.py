"""Evaluation: metrics against hand-computed values, the empty-ground-truth rule, folders and CLI."""
import json

import numpy as np
import pytest

from _convert_helpers import load_json, run_cli, save_image
from nnunet_tgc.evaluation.metrics import (EvaluationError, dice_iou, evaluate_folders,
                                           summarize)


def _mask(cells, shape=(4, 4), value=1):
    mask = np.zeros(shape, dtype=np.uint8)
    for row, col in cells:
        mask[row, col] = value
    return mask


# case "overlap": prediction 4 pixels, ground truth 6, 3 shared -> Dice 6/10, IoU 3/7
PRED_OVERLAP = _mask([(0, 0), (0, 1), (0, 2), (3, 3)])
GT_OVERLAP = _mask([(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)])
EMPTY = _mask([])
PRED_FALSE_ALARM = _mask([(2, 2), (2, 3)])


def test_dice_iou_hand_computed():
    assert dice_iou(PRED_OVERLAP, GT_OVERLAP) == pytest.approx((0.6, 3 / 7))
    assert dice_iou(GT_OVERLAP, GT_OVERLAP) == (1.0, 1.0)
    assert dice_iou(PRED_OVERLAP * 255, GT_OVERLAP.astype(bool)) == pytest.approx((0.6, 3 / 7))


def test_empty_ground_truth_rule():
    assert dice_iou(EMPTY, EMPTY) == (1.0, 1.0)  # both empty: correct
    assert dice_iou(PRED_FALSE_ALARM, EMPTY) == (0.0, 0.0)  # false alarm on an empty image
    assert dice_iou(EMPTY, GT_OVERLAP) == (0.0, 0.0)  # missed lesion


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        dice_iou(np.zeros((4, 4)), np.zeros((4, 5)))


def _records():
    records = []
    for case, (pred, gt) in {"overlap": (PRED_OVERLAP, GT_OVERLAP), "both_empty": (EMPTY, EMPTY),
                             "false_alarm": (PRED_FALSE_ALARM, EMPTY)}.items():
        inter = int(np.count_nonzero(pred & gt))
        dice, iou = dice_iou(pred, gt)
        records.append({"case": case, "dice": dice, "iou": iou, "intersection": inter,
                        "n_pred": int(pred.sum()), "n_gt": int(gt.sum())})
    return records


def test_per_image_mean_and_pooled_hand_computed():
    summary = summarize(_records())
    assert summary["mean_dice"] == pytest.approx((0.6 + 1 + 0) / 3)
    assert summary["mean_iou"] == pytest.approx((3 / 7 + 1 + 0) / 3)
    # pooled: intersection 3, |P| = 4 + 0 + 2, |G| = 6 + 0 + 0
    assert summary["pooled_dice"] == pytest.approx(2 * 3 / 12)
    assert summary["pooled_iou"] == pytest.approx(3 / 9)
    assert (summary["n_empty_gt"], summary["n_empty_gt_and_pred"]) == (2, 1)
    assert summary["mean_dice_nonempty_gt"] == pytest.approx(0.6)


@pytest.fixture
def folders(tmp_path):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    for case, (p, g) in {"overlap": (PRED_OVERLAP, GT_OVERLAP), "both_empty": (EMPTY, EMPTY),
                         "false_alarm": (PRED_FALSE_ALARM, EMPTY)}.items():
        save_image(pred / f"{case}.png", p)
        save_image(gt / f"{case}.png", g)
    save_image(pred / "extra_case.png", GT_OVERLAP)  # a prediction without ground truth: ignored
    return pred, gt


def test_evaluate_folders_with_nnunet_summary(folders, tmp_path):
    pred, gt = folders
    result = evaluate_folders(pred, gt, labels=[1], nnunet_summary=tmp_path / "summary.json")
    assert result["n_cases"] == 3 and result["n_empty_gt"] == 2
    assert result["mean_dice"] == pytest.approx(1.6 / 3)
    assert result["pooled_iou"] == pytest.approx(1 / 3)
    assert {r["case"] for r in result["per_case"]} == {"overlap", "both_empty", "false_alarm"}
    summary = load_json(tmp_path / "summary.json")
    per_case = {c["reference_file"].rsplit("/", 1)[-1][:-len(".png")]: c["metrics"]["1"]["Dice"]
                for c in summary["metric_per_case"]}
    assert per_case["overlap"] == pytest.approx(0.6)
    assert np.isnan(per_case["both_empty"])  # nnU-Net's convention differs: NaN, left out
    assert summary["foreground_mean"]["Dice"] == pytest.approx(0.3)
    assert all(str(pred) in c["prediction_file"] for c in summary["metric_per_case"])


def test_missing_prediction_names_the_case(folders):
    pred, gt = folders
    (pred / "overlap.png").unlink()
    with pytest.raises(EvaluationError, match="overlap"):
        evaluate_folders(pred, gt)


def test_multi_label_and_nifti(tmp_path):
    import SimpleITK as sitk
    gt = np.zeros((2, 4, 4), dtype=np.uint8)
    gt[0, :2] = 1
    gt[1, :2] = 2
    pred = gt.copy()
    pred[1, 0] = 0  # label 2 loses 4 of 8 pixels -> Dice 8/12
    for folder, array in (("gt", gt), ("pred", pred)):
        (tmp_path / folder).mkdir()
        sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / folder / "v.nii.gz"))
    result = evaluate_folders(tmp_path / "pred", tmp_path / "gt", labels=[1, 2])
    assert result["file_ending"] == ".nii.gz"
    assert result["per_label"]["1"]["mean_dice"] == 1.0
    assert result["per_label"]["2"]["mean_dice"] == pytest.approx(8 / 12)
    assert result["mean_dice"] == pytest.approx((1 + 8 / 12) / 2)


def test_cli_writes_json_and_prints_table(folders, tmp_path, capsys):
    pred, gt = folders
    out = tmp_path / "results" / "metrics.json"
    assert run_cli(["evaluate", pred, gt, "-o", out, "--labels", "1"]) == 0
    printed = capsys.readouterr().out
    assert "53.33" in printed and "emptyGT" in printed and "both empty -> Dice 1" in printed
    result = json.loads(out.read_text())
    assert result["mean_iou"] == pytest.approx((3 / 7 + 1) / 3)
    assert load_json(out.parent / "metrics_nnunet_summary.json")["foreground_mean"]["Dice"] == pytest.approx(0.3)
    assert not (out.parent / "summary.json").exists()


def test_never_overwrites_a_file_it_did_not_write(folders, capsys):
    """Run on a model's fold_X/validation folder, nnU-Net's own summary.json there stays as it was."""
    pred, gt = folders
    theirs = pred / "summary.json"
    theirs.write_text('{"foreground_mean": {"Dice": 0.123}, "written_by": "nnU-Net"}\n')
    before = theirs.read_bytes()
    assert run_cli(["evaluate", pred, gt, "-np", "1"]) == 0
    assert theirs.read_bytes() == before
    ours = load_json(pred / "metrics_tgc_nnunet_summary.json")
    assert ours["created_by"] == "nnunet-tgc evaluate" and ours["foreground_mean"]["Dice"] == pytest.approx(0.3)
    assert load_json(pred / "metrics_tgc.json")["mean_dice"] == pytest.approx(1.6 / 3)
    assert run_cli(["evaluate", pred, gt, "-np", "1"]) == 0  # its own files may be replaced by a rerun
    capsys.readouterr()
    for option in (["-o", theirs], ["--nnunet-summary", theirs]):
        assert run_cli(["evaluate", pred, gt, "-np", "1", *option]) == 1
        err = capsys.readouterr().err
        assert f"{theirs} exists and was not written by nnunet-tgc evaluate" in err and option[0] in err
        assert theirs.read_bytes() == before


def test_cli_missing_prediction(folders, capsys):
    pred, gt = folders
    (pred / "both_empty.png").unlink()
    assert run_cli(["evaluate", pred, gt, "--no-nnunet-summary"]) == 1
    err = capsys.readouterr().err
    assert "both_empty" in err and "no prediction" in err
    assert not (pred / "metrics_tgc.json").exists()


def test_prediction_saved_as_0_255_is_refused(folders):
    pred, gt = folders
    save_image(pred / "overlap.png", PRED_OVERLAP * 255)
    with pytest.raises(EvaluationError, match=r"overlap.png: prediction value\(s\) \[255\]"):
        evaluate_folders(pred, gt)


def test_registered_in_the_nnunet_tgc_command():
    from nnunet_tgc.cli import build_parser
    parser = build_parser()
    args = parser.parse_args(["evaluate", "p", "g", "--labels", "1", "2"])
    assert args.labels == [1, 2] and callable(args.func)
    args = parser.parse_args(["convert", "qata", "src", "-d", "5", "--official-split", "--skip-bad"])
    assert (args.dataset_id, args.official_split, args.skip_bad, args.name) == (5, True, True, "QaTaCOV19")
