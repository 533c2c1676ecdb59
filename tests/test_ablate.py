"""The text ablation's pieces: report variants, side share and breakdown (hand-computed), bad input.

The command end to end (on a trained model) is in test_e2e_nnunet.py, which reuses its trained model.
"""
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from nnunet_tgc.cli import main as cli_main
from nnunet_tgc.evaluation.ablate import MANIFEST, lateral_array_axis
from nnunet_tgc.evaluation.ablation_metrics import (case_record, half_counts, image_side_of, side_share,
                                                    summarize_variant)
from nnunet_tgc.text.report_variants import (laterality_words, make_variant, shuffle_reports, side_category,
                                             words_category)

LEFT = "Unilateral pulmonary infection, one infected area, lower left lung."
RIGHT = "Unilateral pulmonary infection, one infected area, upper right lung."
BOTH = "Bilateral pulmonary infection, two infected areas, upper left lung and lower right lung."


# ---------------------------------------------------------------- report variants

def test_variants_of_one_report():
    reports = {"a": LEFT, "b": RIGHT}
    assert make_variant("swap_lr", reports) == {"a": LEFT.replace("left", "right"), "b": RIGHT.replace("right", "left")}
    assert make_variant("swap_ul", reports)["a"] == LEFT.replace("lower", "upper")
    assert make_variant("generic", reports, generic_report="Lesion.") == {"a": "Lesion.", "b": "Lesion."}
    assert make_variant("none", reports) == {"a": None, "b": None}
    assert make_variant("correct", reports) == reports
    with pytest.raises(ValueError, match="unknown report variant"):
        make_variant("reversed", reports)


def test_shuffle_avoids_own_text_even_with_duplicates():
    # 6 cases, 3 of which share one text: a plain permutation would often give a case its own text
    reports = {f"c{i}": t for i, t in enumerate([LEFT, LEFT, LEFT, RIGHT, BOTH, "Pulmonary infection."])}
    for seed in range(20):
        shuffled = shuffle_reports(reports, seed)
        assert Counter(shuffled.values()) == Counter(reports.values())  # a permutation of the texts
        assert all(shuffled[c] != reports[c] for c in reports), seed
    assert shuffle_reports(reports, 3) == shuffle_reports(reports, 3)
    assert shuffle_reports(reports, 3) != shuffle_reports(reports, 4)


def test_shuffle_keeps_own_text_only_where_unavoidable():
    reports = {"a": LEFT, "b": LEFT, "c": LEFT, "d": RIGHT}  # 3 of 4 equal: at most 2 can get another text
    shuffled = shuffle_reports(reports, 0)
    assert sum(shuffled[c] != reports[c] for c in reports) == 2


def test_categories_and_laterality_words():
    assert side_category(LEFT) == "unilateral left"
    assert side_category(RIGHT) == "unilateral right"
    assert side_category(BOTH) == "bilateral"
    assert side_category("Bilateral pulmonary infection, two infected areas, all lung.") == "bilateral"
    assert side_category("Pulmonary infection.") == "no side named"
    assert side_category(None) == "no side named"
    assert laterality_words("Left lung, LEFT side; leftover bright") == ("left",)
    assert words_category(LEFT) == "left+unilateral"
    assert words_category("Pulmonary infection.") == "none"


def test_image_side_follows_the_laterality_convention():
    assert image_side_of(LEFT, "image") == "left"
    assert image_side_of(LEFT, "patient") == "right"  # a patient's left is shown on the image's right
    assert image_side_of(LEFT, "unknown") == "left"
    assert image_side_of(BOTH, "image") is None and image_side_of(None) is None


def test_variants_on_real_qata_reports(shared_data):
    from nnunet_tgc.convert.tables import read_table
    rows = read_table(shared_data("QaTa-COV19-subset") / "Val_Folder" / "Val_text.xlsx", ["Image"], ["Description", "text"], "val")
    reports = {r.name: r.text for r in rows}
    assert len(reports) > 50
    swapped = make_variant("swap_lr", reports)
    categories = Counter(side_category(t) for t in reports.values())
    assert categories["unilateral left"] and categories["unilateral right"] and categories["bilateral"]
    for case, text in reports.items():
        flip = {"unilateral left": "unilateral right", "unilateral right": "unilateral left"}
        assert side_category(swapped[case]) == flip.get(side_category(text), side_category(text))
        assert make_variant("swap_lr", {case: swapped[case]})[case] == text  # an involution
    shuffled = make_variant("shuffled", reports, seed=0)
    kept = sum(shuffled[c] == reports[c] for c in reports)
    assert Counter(shuffled.values()) == Counter(reports.values()) and kept == 0


# ---------------------------------------------------------------- side share and breakdown

def _pred():
    """1 x 2 x 5 (z, y, x); x = 2 is the middle column of an odd width and belongs to neither half."""
    pred = np.zeros((1, 2, 5), dtype=np.uint8)
    pred[0, 0, 0] = pred[0, 1, 1] = 1   # left half: 2 voxels
    pred[0, 0, 2] = 1                   # middle column: ignored
    pred[0, 1, 4] = 1                   # right half: 1 voxel
    return pred


def test_half_counts_and_side_share_by_hand():
    assert half_counts(_pred(), 2) == (2, 1)
    assert half_counts(np.ones((1, 3, 4)), 2) == (6, 6)          # even width: 2 columns a side
    assert half_counts(_pred(), 1) == (2, 2)                     # rows as the lateral axis: y=0 | y=1
    assert side_share(2, 1, "left") == pytest.approx(2 / 3)
    assert side_share(2, 1, "right") == pytest.approx(1 / 3)
    assert side_share(0, 0, "left") is None


def test_case_record_by_hand():
    pred = _pred()
    gt = np.zeros_like(pred)
    gt[0, :, :2] = 1  # 4 voxels, 2 of them predicted
    r = case_record("x", pred, gt, LEFT, LEFT.replace("left", "right"), 2)
    # |P| = 4, |G| = 4, |P & G| = 2: Dice 2*2/8, IoU 2/6
    assert (r["n_pred"], r["n_gt"], r["intersection"]) == (4, 4, 2)
    assert r["dice"] == pytest.approx(0.5) and r["iou"] == pytest.approx(1 / 3)
    assert r["category"] == "unilateral left" and r["correct_side"] == "left" and r["given_side"] == "right"
    assert r["share_correct"] == pytest.approx(2 / 3) and r["share_given"] == pytest.approx(1 / 3)
    # patient convention: the report's left is the image's right half
    rp = case_record("x", pred, gt, LEFT, LEFT, 2, laterality="patient")
    assert rp["share_correct"] == pytest.approx(1 / 3)


def test_summarize_variant_by_hand():
    shape = (1, 2, 4)
    left_blob = np.zeros(shape, np.uint8)
    left_blob[0, :, 0] = 1               # 2 voxels on the left
    right_blob = np.zeros(shape, np.uint8)
    right_blob[0, :, 3] = 1              # 2 voxels on the right
    empty = np.zeros(shape, np.uint8)
    records = [
        case_record("a", left_blob, left_blob, LEFT, LEFT, 2),           # perfect: Dice 1, share 1
        case_record("b", left_blob, right_blob, RIGHT, RIGHT, 2),        # wrong side: Dice 0, share 0
        case_record("c", left_blob + right_blob, right_blob, BOTH, BOTH, 2),  # Dice 2*2/(4+2) = 2/3
        case_record("d", empty, left_blob, LEFT, LEFT, 2),               # empty prediction: Dice 0, no share
    ]
    s = summarize_variant(records)
    assert s["mean_dice"] == pytest.approx((1 + 0 + 2 / 3 + 0) / 4)
    # pooled: intersection 2 + 0 + 2 + 0 = 4, |P| 2 + 2 + 4 + 0 = 8, |G| 2 + 2 + 2 + 2 = 8
    assert s["pooled_dice"] == pytest.approx(2 * 4 / 16)
    assert s["by_category"]["unilateral left"]["mean_dice"] == pytest.approx(0.5)  # a and d
    assert s["by_category"]["unilateral left"]["n_cases"] == 2
    assert s["by_category"]["unilateral right"]["mean_dice"] == 0
    assert s["by_category"]["bilateral"]["mean_dice"] == pytest.approx(2 / 3)
    assert "no side named" not in s["by_category"]
    assert set(s["by_words"]) == {"left+unilateral", "right+unilateral", "bilateral+left+right"}
    assert (s["n_side_cases"], s["n_side_empty_prediction"], s["n_side_share"]) == (3, 1, 2)
    assert s["side_share"] == pytest.approx(0.5) and s["side_share_vs_correct"] == pytest.approx(0.5)


def test_lateral_axis_of_read_arrays():
    png = {"file_ending": ".png"}
    assert lateral_array_axis(png, {"patch_size": [64, 80]}) == 2          # (z=1, rows, columns)
    assert lateral_array_axis({"file_ending": ".nii.gz"}, {"patch_size": [64, 80]}) is None
    assert lateral_array_axis({"file_ending": ".nii.gz", "tgc_lateral_axis": 2},
                              {"patch_size": [32, 64, 80]}) == 2


# ---------------------------------------------------------------- bad input, before anything is written

@pytest.fixture
def fake_inputs(tmp_path):
    """A model folder that passes the checks made before loading, and a labelled image folder."""
    from PIL import Image
    model = tmp_path / "Dataset1_X" / "nnUNetTrainerTGC_tiny__nnUNetPlans__2d"
    (model / "fold_0").mkdir(parents=True)
    (model / "fold_0" / "checkpoint_final.pth").write_bytes(b"")
    (model / "dataset.json").write_text(json.dumps({"file_ending": ".png", "tgc_laterality": "image"}))
    (model / "plans.json").write_text(json.dumps({"configurations": {"2d": {"patch_size": [8, 8]}}}))
    images, labels = tmp_path / "imgs", tmp_path / "labs"
    images.mkdir()
    labels.mkdir()
    for case in ("a", "b"):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(images / f"{case}_0000.png")
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(labels / f"{case}.png")
    (images / "reports.json").write_text(json.dumps({"a": LEFT, "b": RIGHT}))
    return model, images, labels, tmp_path / "out"


def _ablate(model, images, labels, out, *extra):
    return cli_main(["ablate", str(model), "-i", str(images), "-l", str(labels), "-o", str(out), *extra])


@pytest.mark.parametrize("break_it, message", [
    (lambda m, i, l: (i / "reports.json").unlink(), "reports.json not found"),
    (lambda m, i, l: (l / "b.png").unlink(), "have no label"),
    (lambda m, i, l: (i / "a_0000.png").unlink(), "have no image"),
    (lambda m, i, l: (i / "reports.json").write_text(json.dumps({"a": LEFT})), "b"),
    (lambda m, i, l: (m / "plans.json").unlink(), "not a trained nnU-Net model folder"),
    (lambda m, i, l: (m / "fold_0" / "checkpoint_final.pth").unlink(), "fold 0 has no checkpoint_final.pth"),
])
def test_bad_input_fails_before_anything_is_written(fake_inputs, capsys, break_it, message):
    model, images, labels, out = fake_inputs
    break_it(model, images, labels)
    assert _ablate(model, images, labels, out, "-f", "0") == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_fold_names_the_folds_there(fake_inputs, capsys):
    model, images, labels, out = fake_inputs
    assert _ablate(model, images, labels, out, "-f", "3") == 1
    err = capsys.readouterr().err
    assert "fold_3" in err and "fold_0" in err
    assert not out.exists()


def test_files_it_did_not_write_are_never_overwritten(fake_inputs, capsys):
    model, images, labels, out = fake_inputs
    (out / "correct").mkdir(parents=True)
    (out / "correct" / "a.png").write_bytes(b"mine")
    assert _ablate(model, images, labels, out, "-f", "0") == 1
    assert "was not written by nnunet-tgc ablate" in capsys.readouterr().err
    assert (out / "correct" / "a.png").read_bytes() == b"mine" and not (out / MANIFEST).exists()


# ---------------------------------------------------------------- scripts/benchmark_qata.py --ablate helpers

def _benchmark_module():
    import importlib.util
    path = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_qata.py"
    spec = importlib.util.spec_from_file_location("_script_benchmark_qata_ablate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_val_images_links_validation_cases_with_reports(tmp_path):
    bench = _benchmark_module()
    raw = tmp_path / "nnUNet_raw" / "Dataset501_Q"
    (raw / "imagesTr").mkdir(parents=True)
    (raw / "dataset.json").write_text(json.dumps({"file_ending": ".png", "channel_names": {"0": "xray"},
                                                  "reports_file": "reports.json"}))
    (raw / "reports.json").write_text(json.dumps({"t1": LEFT, "v1": RIGHT, "v10": BOTH}))
    for case in ("t1", "v1", "v10"):
        (raw / "imagesTr" / f"{case}_0000.png").write_bytes(case.encode())
    out = bench.val_images(tmp_path, "Dataset501_Q", ["v1", "v10"])
    assert sorted(p.name for p in out.glob("*.png")) == ["v10_0000.png", "v1_0000.png"]
    assert (out / "v1_0000.png").resolve() == (raw / "imagesTr" / "v1_0000.png").resolve()
    assert json.loads((out / "reports.json").read_text()) == {"v1": RIGHT, "v10": BOTH}
    with pytest.raises(SystemExit, match="v2_0000.png"):
        bench.val_images(tmp_path, "Dataset501_Q", ["v2"])


def test_benchmark_ablation_rows_and_table():
    bench = _benchmark_module()
    summary = {"mean_dice": 0.7, "mean_iou": 0.6, "pooled_dice": 0.8, "side_share": 0.9,
               "side_share_vs_correct": 0.9, "n_side_cases": 5,
               "by_category": {"bilateral": {"mean_dice": 0.75}, "unilateral left": {"mean_dice": 0.5}}}
    ablation = {"variants": {"correct": {"status": "done", "summary": summary},
                             "none": {"status": "not supported by this model"}}}
    rows = bench.ablation_rows(ablation)
    assert rows[0] == {"variant": "correct", "status": "done", "mean_dice": 0.7, "mean_iou": 0.6, "pooled_dice": 0.8,
                       "side_share": 0.9, "side_share_vs_correct": 0.9, "n_side_cases": 5,
                       "dice_by_category": {"bilateral": 0.75, "unilateral left": 0.5}}
    assert rows[1] == {"variant": "none", "status": "not supported by this model"}
    report = {"results": [{"trainer": "T", "ablation": {"rows": rows}}, {"trainer": "U"}]}
    lines = bench.ablation_markdown(report)
    assert "| `T` | correct | 70.00 | 60.00 | 80.00 | 0.900 | 0.900 |" in lines
    assert any("none | not supported by this model" in line for line in lines)
    assert not any("`U`" in line for line in lines)
    assert bench.ablation_markdown({"results": [{"trainer": "U"}]}) == []
