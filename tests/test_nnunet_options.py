"""nnU-Net's own options with TGC-Net, through the stock commands on a tiny synthetic dataset.

* residual-encoder presets (``-pl nnUNetPlannerResEncM`` / ``-p nnUNetResEncUNetMPlans``): the CNN
  branch and decoder are the planned ResidualEncoderUNet's blocks, training, validation and prediction run;
* ``-pretrained_weights``: a model pretrained on one dataset initialises training on another one with
  another number of classes (nnU-Net's own loader: everything but the class-specific heads is transferred);
* prediction under CPU autocast (bfloat16), the stand-in for nnU-Net's CUDA autocast;
* ``-num_gpus``: every trainer variant trains under DDP, two gloo processes on the CPU
  (``_ddp_worker.py``; nnU-Net's own ``-num_gpus`` path insists on CUDA and NCCL).
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from _commands import run
from nnunet_tgc.nnunet.env import ext_trainer_dir
from nnunet_tgc.synthetic import make_text_decides_dataset
from nnunet_tgc.text.reports import load_reports

PRETRAIN_ID, PRETRAIN = 971, "Dataset971_TextDecides"
FINETUNE_ID, FINETUNE = 972, "Dataset972_TextDecides"
TRAINER = "nnUNetTrainerTGC_tiny_options"
RESENC = "nnUNetResEncUNetMPlans"
SHAPE = (32, 40)  # 4 stages: small enough for seconds per epoch on a shared CPU

USER_TRAINER = '''
import os

import torch
from nnunet_tgc import nnUNetTrainerTGC_tiny


class nnUNetTrainerTGC_tiny_options(nnUNetTrainerTGC_tiny):
    def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = int(os.environ.get("OPTIONS_EPOCHS", "1"))
        self.initial_lr = float(os.environ.get("OPTIONS_LR", "1e-2"))
        self.num_iterations_per_epoch = 3
        self.num_val_iterations_per_epoch = 1
        # the place map is fitted (and, fine-tuning, fitted anew), but these tests do not need a good fit
        self.tgc_place_fit_steps = 5
'''


def plan(dataset_id, env):
    """Default plans and preprocessing, plus the ResEnc-M plans (same data identifier, nnUNetPlans_2d)."""
    run(["nnUNetv2_plan_and_preprocess", "-d", dataset_id, "-c", "2d", "-np", "1", "-npfp", "1"], env)
    run(["nnUNetv2_plan_experiment", "-d", dataset_id, "-pl", "nnUNetPlannerResEncM"], env)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("options")
    user = root / "my_trainers"
    user.mkdir()
    (user / "my_tgc_option_trainers.py").write_text(USER_TRAINER)
    env = {**os.environ, "nnUNet_raw": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
           "nnUNet_results": str(root / "res"),
           "nnUNet_extTrainer": os.pathsep.join([str(ext_trainer_dir()), str(user)]),
           "nnUNet_compile": "f", "nnUNet_def_n_proc": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("nnUNet_TGC_clip_weights", None)
    raw = make_text_decides_dataset(root / "raw", dataset_id=PRETRAIN_ID, n_train=10, n_test=2, shape=SHAPE, seed=5)
    plan(PRETRAIN_ID, env)
    env = {**env, "nnUNet_n_proc_DA": "0"}  # single-threaded augmentation (planning needs it unset)
    run(["nnUNetv2_train", PRETRAIN_ID, "2d", 0, "-tr", TRAINER, "-p", RESENC, "-device", "cpu"], env)
    return {"root": root, "env": env, "raw": raw, "user": user,
            "resenc_model": root / "res" / PRETRAIN / f"{TRAINER}__{RESENC}__2d"}


def test_resenc_plans_train_validate_and_predict(workspace):
    ws = workspace
    plans = json.loads((ws["root"] / "pre" / PRETRAIN / f"{RESENC}.json").read_text())
    arch = plans["configurations"]["2d"]["architecture"]
    assert arch["network_class_name"].endswith("ResidualEncoderUNet")
    fold = ws["resenc_model"] / "fold_0"
    assert (fold / "validation" / "summary.json").is_file()
    weights = torch.load(fold / "checkpoint_final.pth", map_location="cpu", weights_only=False)["network_weights"]
    # the CNN branch is the planned residual encoder: a stem, then n_blocks_per_stage residual blocks per stage
    assert "sse.encoder.stem.convs.0.conv.weight" in weights
    for stage, n_blocks in enumerate(arch["arch_kwargs"]["n_blocks_per_stage"]):
        blocks = {k.split(".")[5] for k in weights if k.startswith(f"sse.encoder.stages.{stage}.blocks.")}
        assert len(blocks) == n_blocks, (stage, sorted(blocks))
    # at half width, and the decoder with the plans' one conv per stage and nnU-Net's head names
    assert weights["sse.encoder.stages.0.blocks.0.conv1.conv.weight"].shape[0] == 16
    assert not any(k.startswith("decoder.stages.0.convs.1.") for k in weights)
    assert "decoder.seg_layers.0.weight" in weights

    out = ws["root"] / "pred_resenc"
    run(["nnUNetv2_predict", "-i", ws["raw"] / "imagesTs", "-o", out, "-d", PRETRAIN_ID, "-c", "2d", "-tr", TRAINER,
         "-p", RESENC, "-f", 0, "-device", "cpu", "-npp", 1, "-nps", 1], ws["env"])
    assert sorted(p.name for p in out.glob("*.png")) == \
        sorted(f"{c}.png" for c in load_reports(ws["raw"] / "imagesTs" / "reports.json"))


def test_pretrained_weights_fine_tune_another_dataset(workspace):
    """Pretrain on 971 (2 classes), fine-tune on 972 (3 classes) with the stock -pretrained_weights: nnU-Net's own
    loader, which transfers every entry but those named '.seg_layers.' (tests/test_pretrained_weights.py).
    At learning rate 0 the fine-tuning run's checkpoint holds exactly what was transferred."""
    ws = workspace
    raw = make_text_decides_dataset(ws["root"] / "raw", dataset_id=FINETUNE_ID, n_train=10, n_test=2, shape=SHAPE,
                                    seed=6)
    dataset_json = json.loads((raw / "dataset.json").read_text())
    dataset_json["labels"]["second lesion"] = 2  # another label set: the heads cannot be transferred
    (raw / "dataset.json").write_text(json.dumps(dataset_json))
    plan(FINETUNE_ID, {k: v for k, v in ws["env"].items() if k != "nnUNet_n_proc_DA"})
    source = ws["resenc_model"] / "fold_0" / "checkpoint_final.pth"
    proc = run(["nnUNetv2_train", FINETUNE_ID, "2d", 0, "-tr", TRAINER, "-p", RESENC, "-device", "cpu",
                "-pretrained_weights", source], {**ws["env"], "OPTIONS_LR": "0"})
    assert f"Loading pretrained weights from file  {source}" in proc.stdout  # nnU-Net's loader
    pre = torch.load(source, map_location="cpu", weights_only=False)["network_weights"]
    tuned = torch.load(ws["root"] / "res" / FINETUNE / f"{TRAINER}__{RESENC}__2d" / "fold_0" / "checkpoint_final.pth",
                       map_location="cpu", weights_only=False)["network_weights"]
    assert tuned.keys() == pre.keys()
    # the class-specific layers are this run's own: the decoder's heads, the similarity map's offsets and the
    # place evidence's weights
    heads = {k for k in tuned if ".seg_layers." in k and torch.is_tensor(tuned[k])}
    assert {k.split(".")[0] for k in heads} == {"decoder", "similarity_to_logits", "place_evidence"}
    assert all(tuned[k].shape[0] == 3 and pre[k].shape[0] == 2 for k in heads)
    # the place map is fitted anew to this dataset's training masks before epoch 0, like the
    # heads it describes this dataset's labels; everything else is transferred unchanged
    refitted = {k for k in tuned if k.startswith("place_map.")}
    assert refitted and "place map fitted" in proc.stdout
    assert any(not torch.equal(tuned[k], pre[k]) for k in refitted)
    # the mapping of the intensities to the ViT's statistics is derived from each run's plans, never in a
    # checkpoint, so never transferred
    assert not any(k.startswith("tower_input.") for k in tuned)
    transferred = [k for k in tuned if k not in heads | refitted and torch.is_tensor(tuned[k])]
    assert len(transferred) > 100
    for k in transferred:
        assert torch.equal(tuned[k], pre[k]), k
    # a checkpoint of another architecture (ResEnc into the default plans) is refused by nnU-Net's loader
    proc = run(["nnUNetv2_train", FINETUNE_ID, "2d", 1, "-tr", TRAINER, "-device", "cpu",
                "-pretrained_weights", source], ws["env"], check=False)
    assert proc.returncode != 0 and "is missing in the pretrained model weights" in proc.stderr, proc.stderr[-2000:]


def test_prediction_under_cpu_autocast_bfloat16(workspace, monkeypatch):
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO
    from nnunet_tgc.nnunet.predictor import TGCPredictor

    ws = workspace
    for key in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results", "nnUNet_extTrainer"):
        monkeypatch.setenv(key, ws["env"][key])
    images = ws["raw"] / "imagesTs"
    case, report = sorted(load_reports(images / "reports.json").items())[0]
    predictor = TGCPredictor(device=torch.device("cpu"), allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(str(ws["resenc_model"]), use_folds=(0,))
    image, props = NaturalImage2DIO().read_images([str(images / f"{case}_0000.png")])
    _, full = predictor.predict_single_npy_array(image, props, text=report, save_or_return_probabilities=True)
    dtypes = []
    hook = predictor.network.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, half = predictor.predict_single_npy_array(image, props, text=report, save_or_return_probabilities=True)
    hook.remove()
    assert dtypes and set(dtypes) == {torch.bfloat16}  # the network really ran in bfloat16
    assert np.isfinite(half).all()
    assert np.abs(half - full).max() < 0.05  # bfloat16 has ~3 significant digits


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_variant_trains_under_ddp_with_two_gloo_ranks(workspace, tmp_path):
    ws = workspace
    env = {**ws["env"], "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "OMP_NUM_THREADS": "1",
           "nnUNet_results": str(tmp_path / "res")}
    worker = Path(__file__).with_name("_ddp_worker.py")
    procs = [subprocess.Popen([sys.executable, str(worker), str(rank), "2", str(PRETRAIN_ID), str(tmp_path)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in range(2)]
    logs = [p.communicate(timeout=900)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n----\n".join(log[-4000:] for log in logs)
    result = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]

    variants = result[0]["variants"]
    assert {"nnUNetTrainerTGC_noVLCM", "nnUNetTrainerTGC_noCNN", "nnUNetTrainerTGC_noKnowledge"} <= set(variants)
    for r in range(2):  # every variant completed its steps on both ranks, with finite losses
        assert result[r]["variants"] == variants
        assert all(np.isfinite(v["train_loss"]) for v in result[r]["trained"].values())
    # the mirroring stream: different per rank, different per epoch, and --c continues it
    draws = [r["uninterrupted"] for r in result]
    assert draws[0]["0"] != draws[1]["0"] and draws[0]["0"] != draws[0]["1"]
    for r in range(2):
        assert result[r]["continued"]["1"] == draws[r]["1"]
    # only rank 0 writes TGC-Net's files (rank 1 wrote into a results folder of its own)
    rank1_files = {p.name for p in (tmp_path / "res_rank1").rglob("*") if p.is_file()}
    assert rank1_files <= {"plans.json", "dataset.json", "dataset_fingerprint.json"}, rank1_files  # nnU-Net's
    rank0 = tmp_path / "res" / PRETRAIN / "nnUNetTrainerTGC_tiny_ddp__nnUNetPlans__2d"
    assert (rank0 / "reports.json").is_file() and (rank0 / "fold_0" / "checkpoint_final.pth").is_file()
