"""End to end through nnU-Net's stock commands, on a synthetic dataset in which the report decides.

Every image holds two identical-looking lesions; the report says which one is meant. Plan and
preprocess, train a user's short subclass of nnUNetTrainerTGC_tiny (in the user's own folder on
nnUNet_extTrainer), run the final validation, predict with reports, and check that the prediction
follows the report.

Under pytest-xdist (scripts/install_and_test.sh) these tests run in two halves, one per worker, each on its
worker's copy of the one trained model: the second half is named in conftest.py (XDIST_SECOND_HALF), a test
not named there runs in the first.
"""
import json
import re
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from _commands import run
from conftest import TINY_DATASET as NAME, TINY_DATASET_ID as DATASET_ID, TINY_TRAINER as TRAINER
from nnunet_tgc.model import TOWER_RECORD_KEY
from nnunet_tgc.synthetic import load_cases, opposite_report
from nnunet_tgc.text.reports import load_reports, save_reports

DROPOUT_TRAINER = "nnUNetTrainerTGC_tiny_e2e_dropout"
TEXT_ONLY_TRAINER = "nnUNetTrainerTGC_tiny_e2e_textOnly"


@pytest.fixture(scope="module")
def workspace(tiny_tgc_model):
    """The suite's trained tiny TGC-Net (conftest.py): planned, preprocessed and trained by the stock commands."""
    return tiny_tgc_model


def predict(ws, inp, out, *extra, check=True, trainer=TRAINER):
    return run(["nnUNetv2_predict", "-i", inp, "-o", out, "-d", DATASET_ID, "-c", "2d", "-tr", trainer,
                "-device", "cpu", *extra], ws["env"], check=check)


def read_png(path):
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def own_report_predictions(workspace, tmp_path_factory):
    """The test images predicted with their own reports by the stock command with parallel workers (two
    preprocessing, so cases may arrive out of order, and two export workers; nnU-Net's default is three
    each, which costs only more process starts here), once for the tests that compare with it."""
    out = tmp_path_factory.mktemp("pred_own_reports")
    predict(workspace, workspace["raw"] / "imagesTs", out, "-f", 0, "-npp", 2, "-nps", 2)
    return out


def test_training_writes_checkpoint_validation_and_reports(workspace):
    fold = workspace["model"] / "fold_0"
    summary = json.loads((fold / "validation" / "summary.json").read_text())
    assert summary["foreground_mean"]["Dice"] > 0.6  # the report decides: an image-only model gets ~0.5
    assert (workspace["model"] / "reports.json").is_file()
    log = next(fold.glob("training_log_*.txt")).read_text()
    assert "distinct reports once" in log and "Reports: 32 cases" in log
    # the place map was fitted to the fold's training masks before the first epoch
    fitted = re.search(r"place map fitted to the masks of (\d+) training cases .*loss ([\d.]+) -> ([\d.]+)", log)
    splits = json.loads((workspace["root"] / "pre" / NAME / "splits_final.json").read_text())
    assert fitted and int(fitted.group(1)) == len(splits[0]["train"])
    assert float(fitted.group(3)) < float(fitted.group(2))


def test_checkpoint_holds_no_frozen_clip_weights(workspace):
    ckpt = torch.load(workspace["model"] / "fold_0" / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    weights = ckpt["network_weights"]
    assert not any(k.startswith("towers.clip") for k in weights)
    assert len(weights[TOWER_RECORD_KEY]["fingerprint"]) == 32
    # test-time mirroring: left-right only by default (the PNG's columns, axis 1), never upside down
    assert ckpt["inference_allowed_mirroring_axes"] == (1,)


def test_predict_follows_the_report(workspace, own_report_predictions, tmp_path):
    ws = workspace
    images = ws["raw"] / "imagesTs"
    out = own_report_predictions
    cases = load_cases(ws["raw"])
    test_ids = sorted(load_reports(images / "reports.json"))
    for case in test_ids:
        pred = read_png(out / f"{case}.png")
        assert pred.shape == read_png(images / f"{case}_0000.png").shape
        assert set(np.unique(pred)) <= {0, 1}

    # the same images with the other side's report: the prediction moves to the other lesion
    swapped = tmp_path / "swapped_in"
    shutil.copytree(images, swapped)
    unilateral = [c for c in test_ids if cases[c]["target"] in ("left", "right")]
    assert unilateral
    save_reports({c: opposite_report(ws["raw"], c) if c in unilateral else r
                  for c, r in load_reports(images / "reports.json").items()}, swapped / "reports.json")
    out_swapped = tmp_path / "pred_swapped"
    predict(ws, swapped, out_swapped, "-f", 0, "-npp", 1, "-nps", 1)
    changed, named_share = 0, []
    for case in unilateral:
        a, b = read_png(out / f"{case}.png"), read_png(out_swapped / f"{case}.png")
        changed += not np.array_equal(a, b)
        w = a.shape[1]
        halves = {"left": slice(0, w // 2), "right": slice(w // 2, w)}
        target = cases[case]["target"]
        other = "right" if target == "left" else "left"
        # share of the predicted foreground on the side the report names, for either report
        for pred, side in ((a, target), (b, other)):
            named_share.append(pred[:, halves[side]].sum() / max(1, pred.sum()))
    assert changed == len(unilateral)
    # a prediction that ignored the text would be the same for both reports: its shares sum to one per
    # case and average exactly 0.5; the report must pull the segmentation to the side it names
    assert np.mean(named_share) >= 0.6, f"predictions do not follow the reports: {np.round(named_share, 2)}"


def test_sequential_path_and_fold_ensemble(workspace, tmp_path):
    ws = workspace
    images = ws["raw"] / "imagesTs"
    # a second model (fold 'all', one short epoch suffices here) to exercise the fold ensemble; its final
    # validation (all 32 training cases) is skipped: fold 0's validation is tested with the shared model
    run(["nnUNetv2_train", DATASET_ID, "2d", "all", "-tr", TRAINER, "-device", "cpu"],
        {**ws["train_env"], "E2E_EPOCHS": "1", "E2E_ITERATIONS": "5", "E2E_FIT_STEPS": "5",
         "E2E_SKIP_FINAL_VALIDATION": "1"})
    parallel, sequential = tmp_path / "par", tmp_path / "seq"
    predict(ws, images, parallel, "-f", 0, "all", "-npp", 2, "-nps", 1)
    predict(ws, images, sequential, "-f", 0, "all", "-npp", 0, "-nps", 0)
    for case in load_reports(images / "reports.json"):
        assert np.array_equal(read_png(parallel / f"{case}.png"), read_png(sequential / f"{case}.png"))


@pytest.mark.parametrize("sequential", [False, True])
def test_missing_report_fails_before_any_output(workspace, tmp_path, sequential):
    ws = workspace
    inp = tmp_path / "in"
    shutil.copytree(ws["raw"] / "imagesTs", inp)
    reports = load_reports(inp / "reports.json")
    dropped = sorted(reports)[:2]
    save_reports({k: v for k, v in reports.items() if k not in dropped}, inp / "reports.json")
    out = tmp_path / "out"
    proc = predict(ws, inp, out, "-f", 0, *(["-npp", 0, "-nps", 0] if sequential else []), check=False)
    assert proc.returncode != 0
    assert all(case in proc.stderr for case in dropped), proc.stderr[-2000:]
    assert not list(out.glob("*.png")) and not (out / "predict_from_raw_data_args.json").exists()


def test_continue_and_rerun_validation(workspace):
    ws = workspace
    summary = ws["model"] / "fold_0" / "validation" / "summary.json"
    summary.unlink()
    run(["nnUNetv2_train", DATASET_ID, "2d", 0, "-tr", TRAINER, "-device", "cpu", "--val"], ws["train_env"])
    assert summary.is_file()
    proc = run(["nnUNetv2_train", DATASET_ID, "2d", 0, "-tr", TRAINER, "-device", "cpu", "--c"], ws["train_env"])
    assert "Mean Validation Dice" in proc.stdout
    assert "place map fitted" not in proc.stdout  # a continued run keeps the map it had


def test_missing_training_reports_stop_before_the_first_epoch(workspace):
    ws = workspace
    reports_file = ws["raw"] / "reports.json"
    original = reports_file.read_text(encoding="utf-8")
    reports = json.loads(original)
    dropped = sorted(reports)[3:6]
    try:
        save_reports({k: v for k, v in reports.items() if k not in dropped}, reports_file)
        proc = run(["nnUNetv2_train", DATASET_ID, "2d", 1, "-tr", TRAINER, "-device", "cpu"], ws["train_env"],
                   check=False)
    finally:
        reports_file.write_text(original, encoding="utf-8")
    assert proc.returncode != 0
    assert all(case in proc.stderr for case in dropped), proc.stderr[-2000:]
    assert "Epoch 0" not in proc.stdout


def test_python_api_with_explicit_texts(workspace, tmp_path, monkeypatch):
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO
    from nnunet_tgc.nnunet.predictor import TGCPredictor

    ws = workspace
    for key in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results", "nnUNet_extTrainer"):
        monkeypatch.setenv(key, ws["env"][key])
    images = ws["raw"] / "imagesTs"
    reports = load_reports(images / "reports.json")
    case = sorted(reports)[0]
    predictor = TGCPredictor(device=torch.device("cpu"), allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(str(ws["model"]), use_folds=(0,))
    predictor.set_reports({case: reports[case]})
    predictor.predict_from_files([[str(images / f"{case}_0000.png")]], str(tmp_path / "api"),
                                 num_processes_preprocessing=1, num_processes_segmentation_export=1)
    from_files = read_png(tmp_path / "api" / f"{case}.png")
    assert predictor.current_report is None  # no report stays current after a file-based run


    image, props = NaturalImage2DIO().read_images([str(images / f"{case}_0000.png")])
    single = predictor.predict_single_npy_array(image, props, text=reports[case])
    assert np.array_equal(np.asarray(single)[0], from_files)
    with pytest.raises(ValueError, match="text="):
        predictor.predict_single_npy_array(image, props)
    with pytest.raises(NotImplementedError, match="report"):
        predictor.predict_from_list_of_npy_arrays([image], None, [props], None)


def _copy_inputs(ws, tmp_path, name, reports):
    folder = tmp_path / name
    shutil.copytree(ws["raw"] / "imagesTs", folder)
    save_reports(reports, folder / "reports.json")
    return folder


def test_patient_side_reports_declared_so_predict_the_same_mask(workspace, own_report_predictions, tmp_path):
    """A model trained on image-side reports, given each report as a clinician writes it (the patient's
    side, and the clinician's own spacing) and declared so, predicts exactly what the image-side report gives."""
    from nnunet_tgc.text.laterality import image_to_patient_side
    ws = workspace
    reports = load_reports(ws["raw"] / "imagesTs" / "reports.json")
    clinical = {c: "  " + image_to_patient_side(r).replace(", ", ",  ") + "." for c, r in reports.items()}
    assert any("left" in r and "right" not in r for r in clinical.values())
    inp = _copy_inputs(ws, tmp_path, "patient_in", {**clinical, "tgc_laterality": "patient"})
    proc = predict(ws, inp, tmp_path / "patient", "-f", 0, "-npp", 1, "-nps", 1)
    assert "read with laterality convention 'patient' (declared by tgc_laterality there)" in proc.stdout
    for case in reports:
        assert np.array_equal(read_png(tmp_path / "patient" / f"{case}.png"),
                              read_png(own_report_predictions / f"{case}.png"))


def _short_model(workspace, trainer):
    run(["nnUNetv2_train", DATASET_ID, "2d", 0, "-tr", trainer, "-device", "cpu"], workspace["train_env"])
    return workspace["root"] / "res" / NAME / f"{trainer}__nnUNetPlans__2d"


@pytest.fixture(scope="module")
def dropout_model(workspace):
    return _short_model(workspace, DROPOUT_TRAINER)


@pytest.fixture(scope="module")
def text_only_model(workspace):
    return _short_model(workspace, TEXT_ONLY_TRAINER)


def test_no_report_prediction_only_for_a_model_trained_for_it(workspace, dropout_model, text_only_model, tmp_path):
    ws = workspace
    log = next((dropout_model / "fold_0").glob("training_log_*.txt")).read_text()
    assert "laterality convention 'image' mapped to the image side" in log
    reports = load_reports(ws["raw"] / "imagesTs" / "reports.json")
    without = sorted(reports)[:2]
    allowed = _copy_inputs(ws, tmp_path, "allowed", {**reports, **{c: None for c in without},
                                                       "tgc_allow_no_report": True})
    # a model trained without report dropout and without the image route refuses, before anything is written
    proc = predict(ws, allowed, tmp_path / "refused", "-f", 0, check=False, trainer=TEXT_ONLY_TRAINER)
    assert proc.returncode != 0 and "trained without report dropout and without the image route" in proc.stderr
    assert not (tmp_path / "refused").exists() or not list((tmp_path / "refused").iterdir())
    # the dropout model predicts every case, the two without a report included
    proc = predict(ws, allowed, tmp_path / "dropout", "-f", 0, "-npp", 1, "-nps", 1, trainer=DROPOUT_TRAINER)
    assert "2 case(s) without a report" in proc.stdout
    for case in reports:
        assert set(np.unique(read_png(tmp_path / "dropout" / f"{case}.png"))) <= {0, 1}
    # the default model (image route) segments a case without a report as one whose report places nothing
    predict(ws, allowed, tmp_path / "route", "-f", 0, "-npp", 1, "-nps", 1)
    placeless = _copy_inputs(ws, tmp_path, "placeless", {**reports, **{c: "Pulmonary infection." for c in without}})
    predict(ws, placeless, tmp_path / "route_placeless", "-f", 0, "-npp", 1, "-nps", 1)
    for case in reports:
        assert np.array_equal(read_png(tmp_path / "route" / f"{case}.png"),
                              read_png(tmp_path / "route_placeless" / f"{case}.png"))
    # without the explicit option an empty report stays an error, also for the dropout model
    empty = _copy_inputs(ws, tmp_path, "empty", {**reports, without[0]: ""})
    proc = predict(ws, empty, tmp_path / "empty_out", "-f", 0, trainer=DROPOUT_TRAINER, check=False)
    assert proc.returncode != 0 and without[0] in proc.stderr
    assert not (tmp_path / "empty_out").exists() or not list((tmp_path / "empty_out").iterdir())


def test_no_report_python_api(workspace, dropout_model, text_only_model, monkeypatch):
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO
    from nnunet_tgc.nnunet.predictor import TGCPredictor

    ws = workspace
    for key in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results", "nnUNet_extTrainer"):
        monkeypatch.setenv(key, ws["env"][key])
    case = sorted(load_reports(ws["raw"] / "imagesTs" / "reports.json"))[0]
    image, props = NaturalImage2DIO().read_images([str(ws["raw"] / "imagesTs" / f"{case}_0000.png")])
    text_only = TGCPredictor(device=torch.device("cpu"), allow_tqdm=False)
    text_only.initialize_from_trained_model_folder(str(text_only_model), use_folds=(0,))
    assert not text_only.supports_no_report
    with pytest.raises(ValueError, match="without report dropout"):
        text_only.set_reports({case: None}, allow_no_report=True)
    for model in (ws["model"], dropout_model):  # the image route, and the learned "no report" input
        predictor = TGCPredictor(device=torch.device("cpu"), allow_tqdm=False)
        predictor.initialize_from_trained_model_folder(str(model), use_folds=(0,))
        assert predictor.supports_no_report
        with pytest.raises(ValueError, match="text="):
            predictor.predict_single_npy_array(image, props, text=None)
        seg = np.asarray(predictor.predict_single_npy_array(image, props, text=None, allow_no_report=True))
        assert seg.shape[-2:] == image.shape[-2:] and set(np.unique(seg)) <= {0, 1}


# ---------------------------------------------------------------- nnunet-tgc ablate on the trained model

def ablate(ws, model, out, *extra):
    return run(["nnunet-tgc", "ablate", model, "-i", ws["raw"] / "imagesTs", "-l", ws["raw"] / "labelsTs", "-f", 0,
                "-o", out, *extra], ws["env"])


def test_ablate_measures_what_the_report_does_and_resumes(workspace, tmp_path):
    from nnunet_tgc.text.report_variants import VARIANTS
    ws = workspace
    out = tmp_path / "ablation"
    proc = ablate(ws, ws["model"], out, "--panels", 2)
    report = json.loads((out / "ablation.json").read_text())
    variants = report["variants"]
    assert list(variants) == list(VARIANTS) and report["n_cases"] == 8
    # no report and a report that places nothing both take the image route: the same segmentation
    assert variants["none"]["summary"]["mean_dice"] == variants["generic"]["summary"]["mean_dice"]
    correct, swapped = variants["correct"]["summary"], variants["swap_lr"]["summary"]
    # only the report tells the two blobs apart: the other side's report must cost Dice and move the mask
    assert swapped["mean_dice"] < correct["mean_dice"] - 0.1, (correct["mean_dice"], swapped["mean_dice"])
    assert correct["side_share"] > 0.6 and correct["side_share"] == correct["side_share_vs_correct"]
    # the pooled share: swap_lr keeps the zone, and in 5 of the 8 cases the other side's blob lies in
    # another zone, where a model that reads zones predicts nothing or a few stray pixels; the mean of
    # per-case shares counts those as much as a moved lesion (six trainings: mean 0.00 to 0.40, one other
    # machine 0.52; pooled 0.00 to 0.04)
    assert swapped["side_share_pooled_vs_correct"] < 0.5
    assert correct["n_side_cases"] == sum(r["correct_side"] is not None for r in variants["correct"]["per_case"]) > 0
    table = (out / "ablation.md").read_text()
    assert all(f"`{name}`" in table for name in VARIANTS)
    assert (out / "ablation.png").stat().st_size > 20_000
    for name in VARIANTS:
        assert len(list((out / name).glob("*.png"))) == 8
    # every variant with a text in one pass over the cases; "none" after it, on its own
    assert f"predicting 8 case(s) with {len(VARIANTS) - 1} variant(s)" in proc.stdout
    # a rerun predicts nothing and leaves every prediction untouched
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/*.png")}
    proc = ablate(ws, ws["model"], out, "--panels", 2)
    assert "predicting" not in proc.stdout and "model:" not in proc.stdout
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*.png")} == stamps
    # a lost prediction is predicted again, alone, and its variant measured again
    lost = sorted((out / "swap_ul").glob("*.png"))[0]
    lost.unlink()
    proc = ablate(ws, ws["model"], out, "--panels", 2)
    assert "predicting 1 case(s) with 1 variant(s): swap_ul" in proc.stdout and lost.is_file()
    assert json.loads((out / "ablation.json").read_text())["variants"]["correct"]["summary"] == correct


def test_ablate_plain_nnunet_model_predicts_once_with_the_same_metrics(workspace, tmp_path):
    ws = workspace
    run(["nnUNetv2_train", DATASET_ID, "2d", 0, "-tr", "nnUNetTrainer_e2e_plain", "-device", "cpu"], ws["train_env"])
    model = ws["root"] / "res" / NAME / "nnUNetTrainer_e2e_plain__nnUNetPlans__2d"
    out = tmp_path / "plain"
    ablate(ws, model, out, "--disable-tta")
    report = json.loads((out / "ablation.json").read_text())
    assert report["model_kind"] == "plain" and list(report["variants"]) == ["image_only"]
    summary = report["variants"]["image_only"]["summary"]
    assert summary["n_cases"] == 8 and summary["n_side_cases"] > 0
    assert "`image_only`" in (out / "ablation.md").read_text() and (out / "ablation.png").is_file()
