"""End to end through nnU-Net's stock commands, on a synthetic dataset in which the report decides.

Every image holds two identical-looking lesions; the report says which one is meant. Plan and
preprocess, train a user's short subclass of nnUNetTrainerTGC_tiny (in the user's own folder on
nnUNet_extTrainer), run the final validation, predict with reports, and check that the prediction
follows the report.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nnunet_tgc.nnunet.env import ext_trainer_dir
from nnunet_tgc.synthetic import load_cases, make_text_decides_dataset, opposite_report
from nnunet_tgc.text.reports import load_reports, save_reports

BIN = Path(sys.executable).parent
DATASET_ID, NAME = 961, "Dataset961_TextDecides"
TRAINER = "nnUNetTrainerTGC_tiny_e2e"

USER_TRAINER = '''
import os

import torch
from nnunet_tgc import nnUNetTrainerTGC_tiny


class nnUNetTrainerTGC_tiny_e2e(nnUNetTrainerTGC_tiny):
    def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = int(os.environ.get("E2E_EPOCHS", "16"))
        self.num_iterations_per_epoch = 25
        self.num_val_iterations_per_epoch = 2
'''


def run(cmd, env, check=True):
    proc = subprocess.run([str(BIN / cmd[0]), *map(str, cmd[1:])], env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    user = root / "my_trainers"
    user.mkdir()
    (user / "my_tgc_trainers.py").write_text(USER_TRAINER)
    env = {**os.environ,
           "nnUNet_raw": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
           "nnUNet_results": str(root / "res"), "nnUNet_extTrainer": os.pathsep.join([str(ext_trainer_dir()), str(user)]),
           "nnUNet_compile": "f", "nnUNet_def_n_proc": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("nnUNet_TGC_clip_weights", None)
    folder = make_text_decides_dataset(root / "raw", dataset_id=DATASET_ID, n_train=32, n_test=8, seed=3)
    run(["nnUNetv2_plan_and_preprocess", "-d", DATASET_ID, "-c", "2d", "-np", "1", "--verify_dataset_integrity"], env)
    train_env = {**env, "nnUNet_n_proc_DA": "0"}
    run(["nnUNetv2_train", DATASET_ID, "2d", 0, "-tr", TRAINER, "-device", "cpu"], train_env)
    return {"root": root, "env": env, "train_env": train_env, "raw": folder,
            "model": root / "res" / NAME / f"{TRAINER}__nnUNetPlans__2d"}


def predict(ws, inp, out, *extra, check=True):
    return run(["nnUNetv2_predict", "-i", inp, "-o", out, "-d", DATASET_ID, "-c", "2d", "-tr", TRAINER,
                "-device", "cpu", *extra], ws["env"], check=check)


def read_png(path):
    return np.asarray(Image.open(path))


def test_training_writes_checkpoint_validation_and_reports(workspace):
    fold = workspace["model"] / "fold_0"
    summary = json.loads((fold / "validation" / "summary.json").read_text())
    assert summary["foreground_mean"]["Dice"] > 0.6  # the report decides: an image-only model gets ~0.5
    assert (workspace["model"] / "reports.json").is_file()
    log = next(fold.glob("training_log_*.txt")).read_text()
    assert "distinct reports once" in log and "Reports: 32 cases" in log


def test_checkpoint_holds_no_frozen_clip_weights(workspace):
    ckpt = torch.load(workspace["model"] / "fold_0" / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    weights = ckpt["network_weights"]
    assert not any(k.startswith("towers.clip") for k in weights)
    assert len(weights["towers._extra_state"]["fingerprint"]) == 32
    assert ckpt["inference_allowed_mirroring_axes"] == (0, 1)


def test_predict_follows_the_report(workspace, tmp_path):
    ws = workspace
    images = ws["raw"] / "imagesTs"
    out = tmp_path / "pred"
    predict(ws, images, out, "-f", 0)
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
    predict(ws, swapped, out_swapped, "-f", 0)
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
    # a second model (fold 'all', one epoch suffices here) to exercise the fold ensemble
    run(["nnUNetv2_train", DATASET_ID, "2d", "all", "-tr", TRAINER, "-device", "cpu"],
        {**ws["train_env"], "E2E_EPOCHS": "1"})
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
