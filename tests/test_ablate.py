"""The text ablation's pieces: report variants, side share and breakdown (hand-computed), bad input.

The command end to end (on a trained model) is in test_e2e_nnunet.py, which reuses its trained model.
"""
import json
import re
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


def test_sides_are_read_by_the_projects_one_rule():
    """Categories and side share read sides with text.places.named_sides (lobes, abbreviations, negation)."""
    from nnunet_tgc.evaluation import ablation_metrics
    from nnunet_tgc.text import places, report_variants
    assert ablation_metrics.named_sides is places.named_sides is report_variants.named_sides
    assert image_side_of("LLL consolidation. No right-sided opacity.") == "left"
    assert image_side_of("LLL consolidation. No right-sided opacity.", "patient") == "right"
    assert side_category("Right lower lobe opacity.") == "unilateral right"


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


def test_pooled_side_share_weighs_each_pixel_once():
    # a lesion of 6 pixels on the named side and a speck of 1 pixel on the other: the mean of per-case
    # shares is (1 + 0) / 2, the pooled share 6 / 7
    shape = (1, 3, 4)
    lesion = np.zeros(shape, np.uint8)
    lesion[0, :, :2] = 1                 # 6 voxels in the left half
    speck = np.zeros(shape, np.uint8)
    speck[0, 0, 3] = 1                   # 1 voxel in the right half
    both = np.zeros(shape, np.uint8)
    both[0, :, 2:] = 1                   # a bilateral case: no side, left out of both shares
    records = [case_record("a", lesion, lesion, LEFT, LEFT, 2), case_record("b", speck, lesion, LEFT, LEFT, 2),
               case_record("c", both, both, BOTH, BOTH, 2)]
    s = summarize_variant(records)
    assert s["side_share"] == pytest.approx(0.5) and s["side_share_pooled"] == pytest.approx(6 / 7)
    # the other side's report given: the shares against the given side mirror those against the correct one
    swapped = [case_record(r["case"], p, lesion, LEFT, RIGHT, 2) for r, p in zip(records, (lesion, speck))]
    t = summarize_variant(swapped)
    assert t["side_share_pooled"] == pytest.approx(1 / 7) and t["side_share_pooled_vs_correct"] == pytest.approx(6 / 7)
    # no foreground on either side: no pooled share
    empty = summarize_variant([case_record("d", np.zeros(shape, np.uint8), lesion, LEFT, LEFT, 2)])
    assert empty["side_share_pooled"] is None and empty["side_share_pooled_vs_correct"] is None


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
    # your own reports: a complete file under a new name
    (lambda m, i, l: i.joinpath("own.json").write_text(json.dumps({"a": LEFT})), "have no report in"),
    (lambda m, i, l: None, "own.json not found"),
])
def test_bad_input_fails_before_anything_is_written(fake_inputs, capsys, break_it, message):
    model, images, labels, out = fake_inputs
    break_it(model, images, labels)
    assert _ablate(model, images, labels, out, "-f", "0", "--reports", f"mine={images / 'own.json'}") == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("spec, message", [
    ("mine", "expected NAME=FILE"),
    ("correct={own}", "the name must be new"),
    ("Mine={own}", "lower case letters"),
])
def test_own_reports_need_a_new_name_and_a_file(fake_inputs, capsys, spec, message):
    model, images, labels, out = fake_inputs
    (images / "own.json").write_text(json.dumps({"a": LEFT, "b": RIGHT}))
    assert _ablate(model, images, labels, out, "-f", "0", "--reports", spec.format(own=images / "own.json")) == 1
    assert message in capsys.readouterr().err and not out.exists()


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


def test_benchmark_seen_unseen_split_of_the_final_validation(tmp_path, monkeypatch):
    """The final validation's per-image Dice split by whether a case's report occurs among the fold's training
    reports, and its table row (the same cases for every trainer)."""
    bench = _benchmark_module()
    ds = "Dataset501_Q"
    raw, pre, res = tmp_path / "nnUNet_raw" / ds, tmp_path / "nnUNet_preprocessed" / ds, tmp_path / "nnUNet_results"
    model = res / ds / "T__nnUNetPlans__2d"
    for folder in (raw, pre, model / "fold_0" / "validation"):
        folder.mkdir(parents=True)
    dataset_json = {"file_ending": ".png", "channel_names": {"0": "xray"}, "labels": {"background": 0, "lesion": 1},
                    "reports_file": "reports.json", "tgc_laterality": "image"}
    for folder in (raw, model):
        (folder / "dataset.json").write_text(json.dumps(dataset_json))
    (raw / "reports.json").write_text(json.dumps({"t1": LEFT, "t2": RIGHT, "v1": RIGHT, "v2": BOTH, "v3": LEFT}))
    (pre / "splits_final.json").write_text(json.dumps([{"train": ["t1", "t2"], "val": ["v1", "v2", "v3"]}]))
    env = {"nnUNet_raw": str(tmp_path / "nnUNet_raw"), "nnUNet_preprocessed": str(tmp_path / "nnUNet_preprocessed"),
           "nnUNet_results": str(res)}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    per_case = [{"case": "v1", "dice": 0.8, "n_pred": 5, "n_gt": 5}, {"case": "v2", "dice": 0.2, "n_pred": 0, "n_gt": 5},
                {"case": "v3", "dice": 0.6, "n_pred": 5, "n_gt": 5}]
    split = bench.seen_unseen(env, tmp_path, {"validation_folder": str(model / "fold_0" / "validation")}, per_case)
    assert split["status"] == "ok" and split["n_training_texts"] == 2
    assert split["seen"]["n"] == 2 and split["seen"]["mean_dice"] == pytest.approx(0.7)
    assert split["unseen"] == {"n": 1, "mean_dice": pytest.approx(0.2)}
    report = {"schedule": {"epochs": 1, "iterations": 1, "val_iterations": 1, "batch_size": 1}, "n_train": 2, "n_val": 3,
              "machine": {"cpu_model": "cpu", "logical_cpus": 2}, "date": "d",
              "results": [{"trainer": "T", "evaluation": {"seen_unseen": split, "empty_predictions": 1}}]}
    assert "| `T` | 70.00 (2) | 20.00 (1) | 50.00 | 1 |" in bench.markdown(report)


# ------------------------------------------- reworded variants: the same facts in other words, read the same

def test_reworded_variants_keep_the_cases_and_count_the_unchanged():
    from nnunet_tgc.text.report_variants import REWORDED, VARIANTS, declared_convention, reworded
    assert VARIANTS[-1] == "none" and set(REWORDED) <= set(VARIANTS) and "reworded_patient" in REWORDED
    reports = {"a": LEFT, "b": RIGHT, "c": BOTH, "d": "Pulmonary infection."}
    for name in REWORDED:
        texts = make_variant(name, reports, seed=1)
        assert set(texts) == set(reports) and texts == make_variant(name, reports, seed=1)
        assert all(texts[c] != reports[c] for c in "abc"), name
        result = reworded(name, reports, seed=1)
        assert result.reports == texts and result.unchanged == ["d"]  # nothing to read (nor to swap) in "d"
    assert make_variant("reworded_patient", reports)["a"] == LEFT.replace("left", "right")
    assert declared_convention("reworded_patient", "image") == "patient"
    assert declared_convention("reworded_patient", "patient") == "image"
    assert declared_convention("reworded_clinical", "image") is None and declared_convention("correct", "unknown") is None
    with pytest.raises(ValueError, match="cannot be declared"):
        declared_convention("reworded_patient", "unknown")


def test_requested_variants_expand_reworded():
    from nnunet_tgc.evaluation.ablate import requested_variants
    from nnunet_tgc.text.report_variants import REWORDED
    assert requested_variants(["swap_lr", "correct"]) == ["correct", "swap_lr"]
    assert requested_variants(["reworded", "correct"]) == ["correct", *REWORDED]


# ---------------------------------------------------------------- seen / unseen in training

def _record(case, seen, pred, gt, report=LEFT, places_seen=None):
    r = case_record(case, pred, gt, report, report, 2)
    r["seen"] = seen
    if places_seen is not None:  # records of an older version have no places_seen
        r["places_seen"] = places_seen
    return r


def test_training_groups_by_hand():
    from nnunet_tgc.evaluation.ablation_metrics import mean_of_summaries, training_groups
    shape = (1, 2, 4)
    left = np.zeros(shape, np.uint8)
    left[0, :, 0] = 1                     # 2 voxels in the left half
    right = np.zeros(shape, np.uint8)
    right[0, :, 3] = 1                    # 2 voxels in the right half
    empty = np.zeros(shape, np.uint8)
    records = [_record("a", True, left, left),             # Dice 1, side share 1
               _record("b", True, right, left),            # Dice 0, side share 0
               _record("c", False, empty, left),           # Dice 0, empty prediction
               _record("d", False, left + right, right, BOTH)]  # Dice 2*2/(4+2), no side share (bilateral)
    g = training_groups(records)
    assert g["seen"]["n_cases"] == 2 and g["unseen"]["n_cases"] == 2
    assert g["seen"]["mean_dice"] == pytest.approx(0.5) and g["seen"]["pooled_dice"] == pytest.approx(2 * 2 / 8)
    assert g["seen"]["n_empty_prediction"] == 0 and g["seen"]["side_share_vs_correct"] == pytest.approx(0.5)
    assert g["unseen"]["mean_dice"] == pytest.approx((0 + 2 / 3) / 2)
    assert g["unseen"]["pooled_dice"] == pytest.approx(2 * 2 / (4 + 4))  # intersection 2, |P| 0 + 4, |G| 2 + 2
    assert g["unseen"]["n_empty_prediction"] == 1 and g["unseen"]["side_share_vs_correct"] is None
    assert g["unseen"]["n_side_cases"] == 1 and g["unseen"]["n_side_empty_prediction"] == 1
    # the whole summary carries the groups and the empty predictions of all cases
    s = summarize_variant(records)
    assert s["by_training"] == g and s["n_empty_prediction"] == 1
    # a flag unknown for any case: no groups; a group without cases: n_cases 0
    assert training_groups([{**records[0], "seen": None}, *records[1:]]) is None
    assert training_groups(records[:2])["unseen"] == {"n_cases": 0}
    # the reworded row: the mean over the styles' summaries
    other = summarize_variant([_record("a", True, left, left), _record("b", True, left, left),
                               _record("c", False, left, left), _record("d", False, right, right, BOTH)])
    m = mean_of_summaries([s, other])
    assert m["n_variants"] == 2 and m["mean_dice"] == pytest.approx((s["mean_dice"] + 1.0) / 2)
    assert m["n_empty_prediction"] == pytest.approx(0.5)
    assert m["by_training"]["seen"]["mean_dice"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["by_training"]["unseen"]["side_share_vs_correct"] == pytest.approx(1.0)  # None in s: the other's


def test_unseen_groups_split_by_known_or_new_places():
    from nnunet_tgc.evaluation.ablation_metrics import GROUP_KEYS, mean_of_summaries, training_groups
    shape = (1, 2, 4)
    left = np.zeros(shape, np.uint8)
    left[0, :, 0] = 1
    right = np.zeros(shape, np.uint8)
    right[0, :, 3] = 1
    records = [_record("a", True, left, left, places_seen=True),              # Dice 1
               _record("b", False, right, left, places_seen=True),            # Dice 0
               _record("c", False, left, left, places_seen=True),             # Dice 1
               _record("d", False, left + right, right, BOTH, places_seen=False)]  # Dice 2*2/(4+2)
    g = training_groups(records)
    assert list(g) == ["seen", "unseen", "unseen_known_places", "unseen_new_places"]
    assert [g[k]["n_cases"] for k in g] == [1, 3, 2, 1]
    assert g["seen"]["mean_dice"] == pytest.approx(1.0)
    assert g["unseen"]["mean_dice"] == pytest.approx((0 + 1 + 2 / 3) / 3)
    assert g["unseen_known_places"]["mean_dice"] == pytest.approx((0 + 1) / 2)
    assert g["unseen_new_places"]["mean_dice"] == pytest.approx(2 / 3)
    assert set(g["unseen_known_places"]) == set(GROUP_KEYS)
    # seen and unseen are what they were without the places flag
    old = [{k: v for k, v in r.items() if k != "places_seen"} for r in records]
    assert training_groups(old) == {"seen": g["seen"], "unseen": g["unseen"]}
    # one record of an older version: only the two old groups; no unseen case with new places: n_cases 0
    assert list(training_groups([old[0], *records[1:]])) == ["seen", "unseen"]
    assert training_groups(records[:3])["unseen_new_places"] == {"n_cases": 0}
    # the reworded row averages the groups every summary has
    s, s_old = summarize_variant(records), summarize_variant(old)
    other = summarize_variant([{**r, "dice": 1.0} for r in records])
    m = mean_of_summaries([s, other])["by_training"]
    assert list(m) == list(g) and m["unseen_new_places"]["n_cases"] == 1
    assert m["unseen_known_places"]["mean_dice"] == pytest.approx((0.5 + 1.0) / 2)
    assert list(mean_of_summaries([s, s_old])["by_training"]) == ["seen", "unseen"]


def test_seen_cases_compare_reports_as_the_model_reads_them():
    from nnunet_tgc.evaluation.training_split import seen_cases
    training = {"t1": LEFT, "t2": "Unilateral  pulmonary infection, one infected area,  upper right lung.."}
    cases = {"a": LEFT, "b": RIGHT, "c": LEFT.replace("left", "right"), "d": BOTH}
    # normalisation: t2's spacing and doubled period do not make "b" unseen
    assert seen_cases(cases, "image", training, "image") == {"a": True, "b": True, "c": False, "d": False}
    # the cases' reports in the patient's convention: "c" says right (patient) = left (image) = t1
    assert seen_cases(cases, "patient", training, "image") == {"a": False, "b": False, "c": True, "d": False}


@pytest.fixture
def split_dataset(tmp_path, monkeypatch):
    """A model folder of Dataset1_X and its preprocessed folder with splits_final.json and reports.json."""
    model = tmp_path / "res" / "Dataset1_X" / "nnUNetTrainerTGC_tiny__nnUNetPlans__2d"
    model.mkdir(parents=True)
    (model / "plans.json").write_text(json.dumps({"dataset_name": "Dataset1_X", "configurations": {}}))
    pre = tmp_path / "pre" / "Dataset1_X"
    pre.mkdir(parents=True)
    (pre / "splits_final.json").write_text(json.dumps([{"train": ["t1", "t2"], "val": ["v1"]},
                                                       {"train": ["t1", "v1"], "val": ["t2"]}]))
    middle = "Unilateral pulmonary infection, one infected area, middle left lung."
    (pre / "reports.json").write_text(json.dumps({"t1": LEFT, "t2": RIGHT, "v1": middle}))
    monkeypatch.setenv("nnUNet_preprocessed", str(tmp_path / "pre"))
    monkeypatch.delenv("nnUNet_raw", raising=False)
    return model, pre, middle


def test_training_split_from_the_fold_and_the_reports_file(split_dataset, monkeypatch):
    from nnunet_tgc.evaluation.training_split import training_split
    model, pre, middle = split_dataset
    cases = {"a": LEFT, "b": middle, "c": RIGHT}
    dj = {"tgc_laterality": "image"}
    s = training_split(model, "0", dj, cases, None)
    # fold 0 trains on t1 and t2; v1 (the middle-left report) is its validation case: not seen in training
    assert s["status"] == "ok" and s["seen"] == {"a": True, "b": False, "c": True}
    assert (s["n_seen"], s["n_unseen"], s["n_training_cases"], s["n_training_texts"]) == (2, 1, 2, 2)
    assert s["splits_file"] == str(pre / "splits_final.json") and s["reports_file"] == str(pre / "reports.json")
    assert training_split(model, "1", dj, cases, None)["seen"] == {"a": True, "b": True, "c": False}
    assert training_split(model, "all", dj, cases, None)["seen"] == {"a": True, "b": True, "c": True}
    # declared in the patient's convention: every side reads the other way (lower right, upper left: not trained)
    assert training_split(model, "0", dj, cases, "patient")["seen"] == {"a": False, "b": False, "c": False}
    assert training_split(model, "0", dj, {"x": LEFT.replace("left", "right")}, "patient")["seen"] == {"x": True}
    # every reason it cannot be computed is said
    bad = training_split(model, "3", dj, cases, None)
    assert bad["status"] == "unavailable" and "fold 3" in bad["reason"] and bad["seen"] is None
    assert "unknown" in training_split(model, "0", {}, cases, "patient")["reason"]  # unknown vs declared patient
    (pre / "reports.json").write_text(json.dumps({"t1": LEFT}))
    assert "have no report" in training_split(model, "0", dj, cases, None)["reason"]
    (pre / "reports.json").unlink()
    assert "No reports file" in training_split(model, "0", dj, cases, None)["reason"]
    (pre / "splits_final.json").unlink()
    assert "splits_final.json not found" in training_split(model, "0", dj, cases, None)["reason"]
    monkeypatch.delenv("nnUNet_preprocessed")
    assert "nnUNet_preprocessed is not set" in training_split(model, "0", dj, cases, None)["reason"]


def test_unseen_cases_state_known_or_new_places(split_dataset):
    """An unseen text may only reword a set of places that training reports state, or state a new set;
    both read with the knowledge the dataset declares, as the trainer reads its reports."""
    from nnunet_tgc.evaluation.training_split import training_split
    from nnunet_tgc.text.knowledge import dataset_knowledge
    from nnunet_tgc.text.places import place_vector, read_places
    model, pre, _ = split_dataset
    lower_both = "Bilateral pulmonary infection, two infected areas, lower left lung and lower right lung."
    (pre / "reports.json").write_text(json.dumps({"t1": lower_both, "t2": RIGHT, "v1": LEFT}))
    cases = {"a": lower_both, "b": "Infection in both lower zones.", "c": "Opacity in the right upper zone.",
             "d": BOTH}
    chest = {"tgc_laterality": "image", "tgc_knowledge_domain": "chest"}

    def cells(text, dataset_json):
        return place_vector(read_places(text, dataset_knowledge(dataset_json)))
    # what the reader makes of them: b and c reword t1's and t2's cells, d (upper left, lower right) is new
    assert cells(cases["b"], chest) == cells(lower_both, chest) and cells(cases["c"], chest) == cells(RIGHT, chest)
    assert cells(BOTH, chest) not in (cells(lower_both, chest), cells(RIGHT, chest))
    s = training_split(model, "0", chest, cases, None)
    assert s["seen"] == {"a": True, "b": False, "c": False, "d": False}
    assert s["places_seen"] == {"a": True, "b": True, "c": True, "d": False}
    assert (s["n_unseen"], s["n_unseen_known_places"], s["n_unseen_new_places"]) == (3, 2, 1)
    # without the chest knowledge no zone is read: d and t1 both state "both sides, every zone"; b places
    # nothing (it names no side word the general knowledge has)
    plain = {"tgc_laterality": "image"}
    assert cells(BOTH, plain) == cells(lower_both, plain) != cells(cases["b"], plain)
    assert training_split(model, "0", plain, cases, None)["places_seen"] == {"a": True, "b": False, "c": True,
                                                                           "d": True}
    # knowledge the dataset cannot declare, or no split: no flags, with the reason
    bad = training_split(model, "0", {**chest, "tgc_knowledge_domain": "bone"}, cases, None)
    assert bad["status"] == "unavailable" and "tgc_knowledge_domain" in bad["reason"]
    assert bad["seen"] is None and bad["places_seen"] is None
    assert training_split(model, "3", chest, cases, None)["places_seen"] is None


# ---------------------------------------------------------------- the command with a stand-in model

def _reading_predictor(dataset_json):
    """A stand-in for a text-reading TGC model (no network): it predicts the image half(s) whose side
    word ("left"/"right") occurs in the report it is given, i.e. in the internal convention."""
    from types import SimpleNamespace

    import torch
    from PIL import Image
    from nnunet_tgc.nnunet.predictor import TGCPredictor

    class Preprocessor:
        def __init__(self, verbose=False):
            pass

        def run_case(self, files, seg, plans_manager, configuration_manager, dataset_json):
            return np.asarray(Image.open(files[0]), np.float32)[None, None], None, {}

    class Reader(TGCPredictor):
        supports_no_report = False

        def __init__(self):  # nnU-Net's predictor is not built: only what ablate uses
            self.dataset_json = dataset_json
            self.configuration_manager = SimpleNamespace(preprocessor_class=Preprocessor)
            self.plans_manager = None
            self.texts = []

        def predict_logits_with_report(self, data, report):
            self.texts.append(report)
            h, w = data.shape[-2:]
            logits = torch.zeros((2, 1, h, w))
            if re.search(r"\bleft\b", report, re.IGNORECASE):
                logits[1, 0, :, : w // 2] = 1
            if re.search(r"\bright\b", report, re.IGNORECASE):
                logits[1, 0, :, w // 2:] = 1
            return logits
    return Reader()


@pytest.fixture
def stand_in(tmp_path, monkeypatch, split_dataset):
    """Labelled images whose masks are the half their report names, and ablate's model replaced by the
    stand-in reader (every other step, the predictor's prepared_reports included, is the real one)."""
    from PIL import Image
    import nnunet_tgc.evaluation.ablate as ablate_module
    model, pre, middle = split_dataset
    (model / "fold_0").mkdir()
    (model / "fold_0" / "checkpoint_final.pth").write_bytes(b"")
    dataset_json = {"file_ending": ".png", "tgc_laterality": "image"}
    (model / "dataset.json").write_text(json.dumps(dataset_json))
    (model / "plans.json").write_text(json.dumps({"dataset_name": "Dataset1_X",
                                                  "configurations": {"2d": {"patch_size": [6, 8]}}}))
    images, labels = tmp_path / "imgs", tmp_path / "labs"
    images.mkdir()
    labels.mkdir()
    reports = {"a": LEFT, "b": middle, "c": RIGHT, "d": BOTH}
    for case, text in reports.items():
        mask = np.zeros((6, 8), np.uint8)
        mask[:, :4] = "left" in text
        mask[:, 4:] = "right" in text
        Image.fromarray(np.full((6, 8), 100, np.uint8)).save(images / f"{case}_0000.png")
        Image.fromarray(mask).save(labels / f"{case}.png")
    (images / "reports.json").write_text(json.dumps(reports))
    predictor = _reading_predictor(dataset_json)

    def export(predictor, job, variant, case, logits, properties, outputs):
        final = ablate_module.prediction_path(job, variant, case)
        final.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(logits.argmax(0)[0].numpy().astype(np.uint8)).save(final)
        outputs.claim(final)
    monkeypatch.setattr(ablate_module, "load_predictor", lambda job, args: predictor)
    monkeypatch.setattr(ablate_module, "_export", export)
    return model, images, labels, tmp_path / "out", predictor


def test_ablate_variants_through_the_predictors_route_with_the_seen_split(stand_in, capsys):
    from nnunet_tgc.text.report_variants import REWORDED, VARIANTS
    model, images, labels, out, predictor = stand_in
    assert _ablate(model, images, labels, out, "-f", "0", "--panels", "1") == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "ablation.json").read_text())
    v = report["variants"]
    assert list(v) == list(VARIANTS) and v["none"]["status"] == "not supported by this model"
    dice = {name: v[name]["summary"]["mean_dice"] for name in VARIANTS[:-1]}
    assert dice["correct"] == 1.0 and dice["swap_lr"] == pytest.approx(0.25)  # only the bilateral case survives
    # the patient variant: left/right swapped and declared in its reports.json, mapped back by the predictor's
    # prepared_reports: exactly the correct variant's predictions
    stored = json.loads((out / "reworded_patient" / "reports.json").read_text())
    assert stored["tgc_laterality"] == "patient" and stored["a"] == LEFT.replace("left", "right")
    assert v["reworded_patient"]["declared_laterality"] == "patient"
    for case in "abcd":
        assert (out / "reworded_patient" / f"{case}.png").read_bytes() == (out / "correct" / f"{case}.png").read_bytes()
    assert v["reworded_patient"]["summary"]["side_share"] == v["correct"]["summary"]["side_share"] == 1.0
    assert "read with laterality convention 'patient'" in printed
    # the stand-in reads only the words "left"/"right": the abbreviations (LLL, R lung ...) leave it empty
    assert v["reworded_abbreviations"]["summary"]["n_empty_prediction"] == 4
    assert all(v[n]["n_unchanged"] == 0 for n in REWORDED)
    agg = report["aggregates"]["reworded"]
    assert agg["variants"] == list(REWORDED) and agg["summary"]["n_variants"] == len(REWORDED)
    assert agg["summary"]["mean_dice"] == pytest.approx(np.mean([dice[n] for n in REWORDED]))
    # seen / unseen: fold 0 trains on LEFT and RIGHT; "b" (the validation case's report) and "d" are unseen
    split = report["training_split"]
    assert split["status"] == "ok" and (split["n_seen"], split["n_unseen"]) == (2, 2)
    assert {r["case"]: r["seen"] for r in v["swap_lr"]["per_case"]} == {"a": True, "b": False, "c": True, "d": False}
    groups = v["swap_lr"]["summary"]["by_training"]
    assert groups["seen"]["mean_dice"] == 0 and groups["unseen"]["mean_dice"] == pytest.approx(0.5)
    assert groups["seen"]["n_cases"] == groups["unseen"]["n_cases"] == 2
    # without the chest knowledge (the dataset declares none) b's "middle left lung" reads as the left lung:
    # LEFT's places; d's bilateral report states places no training report states
    assert {r["case"]: r["places_seen"] for r in v["swap_lr"]["per_case"]} == {"a": True, "b": True, "c": True,
                                                                               "d": False}
    assert (split["n_unseen_known_places"], split["n_unseen_new_places"]) == (1, 1)
    assert "seen" not in split and "places_seen" not in split  # per case only in the records
    # swap_lr: b's mask on the other half (Dice 0), d's bilateral report unchanged (Dice 1)
    assert groups["unseen_known_places"]["mean_dice"] == 0 and groups["unseen_new_places"]["mean_dice"] == 1
    assert agg["summary"]["by_training"]["unseen_new_places"]["n_cases"] == 1
    md = (out / "ablation.md").read_text()
    assert "| `swap_lr` | unseen | 2 | 50.00 |" in md and "**reworded** (mean of 7)" in md
    assert "| `swap_lr` | unseen: known places | 1 | 0.00 |" in md
    assert "| `swap_lr` | unseen: new places | 1 | 100.00 |" in md
    assert "*known places* (1)" in md and "*new places* (1)" in md
    # a report of an older version (no places groups, no counts) keeps its two rows
    from nnunet_tgc.evaluation.ablation_report import markdown_table
    for name in v:
        if "summary" in v[name]:
            v[name]["summary"]["by_training"] = {g: v[name]["summary"]["by_training"][g] for g in ("seen", "unseen")}
    for key in ("n_unseen_known_places", "n_unseen_new_places"):
        del split[key]
    report["aggregates"] = {}
    old_md = markdown_table(report)
    assert "| `swap_lr` | unseen | 2 | 50.00 |" in old_md and "known places" not in old_md
    assert "Reports the rewording could not read" in md
    # a rerun predicts nothing; a variant whose reports changed is predicted again, alone
    n_texts = len(predictor.texts)
    assert _ablate(model, images, labels, out, "-f", "0", "--panels", "1") == 0
    assert len(predictor.texts) == n_texts
    import nnunet_tgc.evaluation.ablate as ablate_module
    original = ablate_module.reworded

    def changed(name, reports, seed=0):
        result = original(name, reports, seed)
        if name == "reworded_terse":
            result.reports = {c: t + " Changed." for c, t in result.reports.items()}
        return result
    ablate_module.reworded = changed
    try:
        assert _ablate(model, images, labels, out, "-f", "0", "--panels", "0") == 0
    finally:
        ablate_module.reworded = original
    assert "reworded_terse: its reports differ" in capsys.readouterr().out
    assert len(predictor.texts) == n_texts + 4 and all(t.endswith("Changed.") for t in predictor.texts[-4:])


def test_own_reports_are_a_variant_measured_like_the_others(stand_in, tmp_path):
    """``--reports NAME=FILE``: a user's reports (here a second reader's in the patient's convention, declared in
    the file) go the route of every variant: OUT/NAME/reports.json, the predictor's prepared_reports, the same
    metrics, side share and seen/unseen split, and the table's legend names the file."""
    model, images, labels, out, predictor = stand_in
    reports = json.loads((images / "reports.json").read_text())
    mirrored = {c: t.replace("left", "RIGHT").replace("right", "left").replace("RIGHT", "right") for c, t in reports.items()}
    own = tmp_path / "second_reader.json"
    own.write_text(json.dumps({"tgc_laterality": "patient", **mirrored}))
    assert _ablate(model, images, labels, out, "-f", "0", "--panels", "0", "--variants", "correct", "swap_lr",
                   "--reports", f"second_reader={own}", "--reports", f"as_swapped={images / 'reports.json'}") == 0
    v = json.loads((out / "ablation.json").read_text())["variants"]
    assert list(v) == ["correct", "swap_lr", "second_reader", "as_swapped"]
    assert json.loads((out / "second_reader" / "reports.json").read_text())["tgc_laterality"] == "patient"
    assert v["second_reader"]["declared_laterality"] == "patient"
    assert v["second_reader"]["summary"] == v["correct"]["summary"]  # the patient's side mapped back: the same
    assert v["as_swapped"]["summary"]["mean_dice"] == v["correct"]["summary"]["mean_dice"] == 1.0
    assert v["second_reader"]["summary"]["by_training"]["seen"]["n_cases"] == 2
    assert "`second_reader`: your reports, second_reader.json" in (out / "ablation.md").read_text()


def test_ablate_says_when_the_seen_split_cannot_be_computed(stand_in, monkeypatch):
    model, images, labels, out, _ = stand_in
    monkeypatch.delenv("nnUNet_preprocessed")
    assert _ablate(model, images, labels, out, "-f", "0", "--panels", "0", "--variants", "correct",
                   "reworded_patient") == 0
    report = json.loads((out / "ablation.json").read_text())
    assert report["training_split"]["status"] == "unavailable"
    assert "nnUNet_preprocessed is not set" in report["training_split"]["reason"]
    assert report["variants"]["correct"]["summary"]["by_training"] is None
    assert "**Seen/unseen in training: not computed** (nnUNet_preprocessed is not set" in (out / "ablation.md").read_text()


def test_patient_variant_needs_a_known_convention(stand_in):
    model, images, labels, out, _ = stand_in
    (model / "dataset.json").write_text(json.dumps({"file_ending": ".png"}))  # convention unknown
    assert _ablate(model, images, labels, out, "-f", "0", "--panels", "0", "--variants", "correct",
                   "reworded_patient") == 0
    v = json.loads((out / "ablation.json").read_text())["variants"]
    assert v["correct"]["status"] == "done" and v["reworded_patient"]["status"].startswith("not possible")
    assert "tgc_laterality" in v["reworded_patient"]["status"]


def test_plain_model_gets_the_same_seen_split(stand_in, monkeypatch):
    """A plain nnU-Net model reads no report, but its dataset has them: image_only is split the same way."""
    from types import SimpleNamespace

    import torch
    import nnunet_tgc.evaluation.ablate as ablate_module
    model, images, labels, out, reader = stand_in

    class Plain:  # predicts the image's left half whatever the report
        dataset_json = reader.dataset_json
        configuration_manager = SimpleNamespace(preprocessor_class=reader.configuration_manager.preprocessor_class)
        plans_manager = None

        def predict_logits_from_preprocessed_data(self, data):
            h, w = data.shape[-2:]
            logits = torch.zeros((2, 1, h, w))
            logits[1, 0, :, : w // 2] = 1
            return logits
    monkeypatch.setattr(ablate_module, "load_predictor", lambda job, args: Plain())
    assert _ablate(model, images, labels, out, "-f", "0", "--panels", "0") == 0
    report = json.loads((out / "ablation.json").read_text())
    assert report["model_kind"] == "plain" and list(report["variants"]) == ["image_only"]
    records = report["variants"]["image_only"]["per_case"]
    assert {r["case"]: r["seen"] for r in records} == {"a": True, "b": False, "c": True, "d": False}
    groups = report["variants"]["image_only"]["summary"]["by_training"]
    # seen: a (left, Dice 1) and c (right, Dice 0); unseen: b (left, 1) and d (both halves, 2*24/(24+48))
    assert groups["seen"]["mean_dice"] == pytest.approx(0.5)
    assert groups["unseen"]["mean_dice"] == pytest.approx((1 + 2 / 3) / 2)
    assert report["aggregates"] == {}


# ---------------------------------------------------------------- which predictor

def test_the_predictor_follows_the_trainer_in_the_model_folders_name(tmp_path, monkeypatch):
    """ablate builds a TGCPredictor itself for a TGC model (no predictor is adopted while it loads) and
    nnU-Net's own for any other; an unknown trainer is an error naming the folder."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunet_tgc.evaluation.ablate import AblationError, predictor_class
    from nnunet_tgc.nnunet.env import ext_trainer_dir
    from nnunet_tgc.nnunet.predictor import TGCPredictor
    monkeypatch.setenv("nnUNet_extTrainer", str(ext_trainer_dir()))
    assert predictor_class(tmp_path / "nnUNetTrainerTGC_tiny__nnUNetPlans__2d") is TGCPredictor
    assert predictor_class(tmp_path / "nnUNetTrainerNoMirroring__nnUNetPlans__2d") is nnUNetPredictor
    unknown = tmp_path / "nnUNetTrainerNobodyWrote__nnUNetPlans__2d"
    with pytest.raises(AblationError, match="nnUNetTrainerNobodyWrote__nnUNetPlans__2d.*nnUNet_extTrainer"):
        predictor_class(unknown)
