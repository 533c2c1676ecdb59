#!/usr/bin/env python
"""End-to-end benchmark on the real QaTa-COV19 subset: plain nnU-Net vs TGC-Net, same split, same schedule.

Steps (each skipped when its output already exists in ``--work``, unless ``--redo``):

1. convert the LViT-layout subset with the plugin's converter and the official split
   (``nnunet-tgc convert qata SRC --official-split``: Train_Folder -> train, Val_Folder -> fold 0's validation);
   with ``--upsample N``, every raw image (bicubic) and label (nearest) is then resized by N in place, once
   (``scripts/upsample_cases.py``'s ``upsample_raw_dataset``; ``upsampled.json`` in the raw dataset records it);
2. ``nnUNetv2_plan_and_preprocess -c 2d``; with ``--patch-size H W``, ``nnunet-tgc add-configuration``
   adds a configuration with that patch (``2d_pH`` or ``2d_pHxW``), which the trainers then train and
   validate (images larger than the patch: sliding-window prediction);
3. train fold 0 with every selected trainer (short variants from
   ``scripts/benchmark_trainers/nnunet_tgc_bench_trainers.py``; identical epochs, iterations and batch size);
4. evaluate each fold-0 validation folder with ``nnunet-tgc evaluate`` (per-image Dice/mIoU as LViT
   reports them, and pooled) against the ground truth of exactly the validation cases;
5. write ``benchmark_qata.json`` and ``benchmark_qata.md`` in ``--work`` (or ``--json``/``--md``); the
   JSON names this machine's folders by placeholders (``bench_common.portable``: ``python``,
   ``$TMPDIR``, ``$NNUNET_TGC_SHARED_DATA``), so that it can be copied into documentation/measurements/.

Example::

    nice -n 10 python scripts/benchmark_qata.py --work ../tgc_bench_qata --epochs 2 --iterations 100
    # images twice the 224 patch (448x448), trained on 224 patches, predicted with sliding windows
    nice -n 10 python scripts/benchmark_qata.py --work ../tgc_bench_qata_2x --dataset-id 502 --upsample 2 \
        --patch-size 224 224

The QaTa subset defaults to ``$NNUNET_TGC_SHARED_DATA/QaTa-COV19-subset`` (the variable defaults to
``shared/data`` beside the repository); the work folder to ``tgc_bench_qata`` in the system's temporary
folder.

Seconds per iteration come from the ``bench:`` lines the trainers write to nnU-Net's training log
(training iterations only, data loading included; the per-epoch pseudo-Dice validation excluded).

``--device`` (default ``auto``: CUDA when available) is passed to ``nnUNetv2_train -device``, so the same
command benchmarks a GPU machine unchanged (e.g. ``--device cuda --batch-size 62 --n-proc-da 8``). A
trainer whose training or evaluation fails is recorded under ``not_run`` (with the last lines of its
log) in the JSON and the markdown, and the remaining trainers still run.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (DeviceUnavailable, default_work_dir, machine, portable, resolve_device,  # noqa: E402
                          shared_data_dir)

REPO = Path(__file__).resolve().parents[1]
BENCH_TRAINER_DIR = Path(__file__).resolve().parent / "benchmark_trainers"
DEFAULT_QATA = shared_data_dir() / "QaTa-COV19-subset"
DEFAULT_WORK = default_work_dir("tgc_bench_qata")

# key -> (trainer class, description, extra environment)
TRAINERS = {
    "nnunet": ("nnUNetTrainerBench", "plain nnU-Net (nnUNetTrainer), mirroring in training and 4-pass TTA", {}),
    "nnunet_nomirror": ("nnUNetTrainerBench_NoMirroring", "plain nnU-Net without mirroring (nnUNetTrainerNoMirroring)",
                        {}),
    "tgc_tiny": ("nnUNetTrainerTGC_tiny_Bench",
                 "TGC-Net on the tiny random-weight CLIP (4 layers, width 64), text-consistent mirroring", {}),
    "tgc_vitb_random": ("nnUNetTrainerTGC_Bench",
                        "TGC-Net on CLIP ViT-B/16 with RANDOM weights (timing only; not the paper's setting)",
                        {"nnUNet_TGC_clip_weights": "random"}),
}
DEFAULT_TRAINERS = ["nnunet", "nnunet_nomirror", "tgc_tiny"]


def trainer_entry(key: str):
    """A key of TRAINERS, or the class name of any trainer on nnUNet_extTrainer (e.g. a bench variant)."""
    if key in TRAINERS:
        return TRAINERS[key]
    if key.startswith("nnUNetTrainer"):
        removed = removed_bench_trainers().get(key)
        if removed:
            sys.exit(f"error: {key} is no longer a bench trainer: it measured {removed}")
        return key, key, {}
    sys.exit(f"error: unknown trainer {key!r}: use one of {sorted(TRAINERS)} or a trainer class name")


def removed_bench_trainers() -> dict:
    """Bench trainer names that the documentation cites for networks the code no longer builds -> why."""
    sys.path.insert(0, str(BENCH_TRAINER_DIR))
    try:
        import nnunet_tgc_bench_trainers
    finally:
        sys.path.remove(str(BENCH_TRAINER_DIR))
    return nnunet_tgc_bench_trainers.REMOVED


def log(msg: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", flush=True)


def bin_path(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        sys.exit(f"error: {name} not found next to {sys.executable} or on PATH (is nnU-Net installed?)")
    return found


def run_logged(cmd, env, logfile: Path, echo=None) -> float:
    """Run ``cmd``, writing all output to ``logfile``; echo lines matching ``echo``. Returns wall seconds."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    log(f"$ {' '.join(str(c) for c in cmd)}   (log: {logfile})")
    t0 = time.perf_counter()
    with open(logfile, "w") as fh:
        proc = subprocess.Popen([str(c) for c in cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        for line in proc.stdout:
            fh.write(line)
            fh.flush()
            if echo is not None and re.search(echo, line):
                print("    " + line.rstrip(), flush=True)
        rc = proc.wait()
    elapsed = time.perf_counter() - t0
    if rc != 0:
        tail = "".join(logfile.read_text().splitlines(keepends=True)[-30:])
        sys.exit(f"error: command failed with exit code {rc} after {elapsed:.0f} s: {' '.join(map(str, cmd))}\n"
                 f"last lines of {logfile}:\n{tail}")
    return elapsed


def base_env(work: Path) -> dict:
    env = dict(os.environ)
    env.update({
        "nnUNet_raw": str(work / "nnUNet_raw"),
        "nnUNet_preprocessed": str(work / "nnUNet_preprocessed"),
        "nnUNet_results": str(work / "nnUNet_results"),
        "nnUNet_compile": "f",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    })
    # nnU-Net's final validation exports with nnUNet_def_n_proc workers (default 8): too many for 2 cores
    env.setdefault("nnUNet_def_n_proc", "2")
    # nnunetv2_plan_and_preprocess breaks with nnUNet_n_proc_DA=0: only the training runs get it
    env.pop("nnUNet_n_proc_DA", None)
    from nnunet_tgc.nnunet.env import ext_trainer_dir
    parts = [p for p in env.get("nnUNet_extTrainer", "").split(os.pathsep) if p]
    for folder in (str(ext_trainer_dir()), str(BENCH_TRAINER_DIR)):
        if folder not in parts:
            parts.append(folder)
    env["nnUNet_extTrainer"] = os.pathsep.join(parts)
    return env


def dataset_name(dataset_id: int, name: str) -> str:
    return f"Dataset{dataset_id:03d}_{name}"


def convert(args, env, work: Path, ds: str) -> dict:
    raw = work / "nnUNet_raw" / ds
    splits = work / "nnUNet_preprocessed" / ds / "splits_final.json"
    if raw.is_dir() and (raw / "dataset.json").is_file() and splits.is_file() and not args.redo:
        log(f"convert: {raw} exists, kept (use --redo to convert again)")
        return {"seconds": None, "skipped": True}
    cmd = [sys.executable, "-m", "nnunet_tgc.cli", "convert", "qata", args.qata, "-d", args.dataset_id,
           "-n", args.dataset_name, "--nnunet-raw", work / "nnUNet_raw",
           "--nnunet-preprocessed", work / "nnUNet_preprocessed", "--official-split"]
    if args.redo and raw.is_dir():
        cmd.append("--overwrite")
    seconds = run_logged(cmd, env, work / "logs" / "convert.log", echo=r"^(?!.*%\|).+")  # not the progress bar
    return {"seconds": round(seconds, 1), "skipped": False, "command": " ".join(map(str, cmd))}


def upsample(args, work: Path, ds: str) -> dict:
    """``--upsample N``: the converted raw dataset resized N times in place, once (a marker file records it)."""
    from upsample_cases import MARKER, upsample_raw_dataset
    raw = work / "nnUNet_raw" / ds
    marker = raw / MARKER
    if args.upsample == 1:
        if marker.is_file():
            sys.exit(f"error: {raw} was upsampled ({marker}) but --upsample is 1: use --redo to convert it again, "
                     f"or another --work")
        return {"factor": 1}
    if not marker.is_file() and not args.redo:
        stale = [p for p in (work / "nnUNet_preprocessed" / ds / "nnUNetPlans.json", work / "nnUNet_results" / ds)
                 if p.exists()]
        if stale:
            sys.exit(f"error: {stale[0]} was made from the dataset before upsampling; use --redo, or another --work")
    t0 = time.perf_counter()
    done = upsample_raw_dataset(raw, args.upsample)
    if done["skipped"]:
        log(f"upsample: {raw} already upsampled {args.upsample}x ({marker}), kept")
    else:
        log(f"upsample: {done['files']} files of {raw} resized {args.upsample}x in place")
        done["seconds"] = round(time.perf_counter() - t0, 1)
    return done


def add_configuration(args, env, work: Path, ds: str) -> dict:
    """``--patch-size H W``: ``nnunet-tgc add-configuration`` (replacing an earlier one of the same name: the
    name holds the patch, so its content is the same)."""
    cmd = [sys.executable, "-m", "nnunet_tgc.cli", "add-configuration", args.dataset_id, "--from", "2d",
           "--patch-size", *args.patch_size, "--name", args.configuration, "--overwrite"]
    seconds = run_logged(cmd, env, work / "logs" / "add_configuration.log", echo=r".")
    return {"seconds": round(seconds, 1), "command": " ".join(map(str, cmd))}


def configuration_name(patch_size) -> str:
    """The configuration the trainers use: ``2d``, or with ``--patch-size`` the one add-configuration names."""
    if not patch_size:
        return "2d"
    from nnunet_tgc.nnunet.plans_configuration import default_configuration_name
    return default_configuration_name("2d", patch_size)


def plan_and_preprocess(args, env, work: Path, ds: str) -> dict:
    pre = work / "nnUNet_preprocessed" / ds
    if (pre / "nnUNetPlans.json").is_file() and (pre / "nnUNetPlans_2d").is_dir() and not args.redo:
        log(f"plan+preprocess: {pre / 'nnUNetPlans.json'} exists, kept")
        return {"seconds": None, "skipped": True}
    cmd = [bin_path("nnUNetv2_plan_and_preprocess"), "-d", args.dataset_id, "-c", "2d", "-np", args.num_processes,
           "--verify_dataset_integrity"]
    seconds = run_logged(cmd, env, work / "logs" / "plan_and_preprocess.log", echo=r"(?i)error|dataset is most likely OK|^Configuration")
    return {"seconds": round(seconds, 1), "skipped": False, "command": " ".join(map(str, cmd))}


def configuration_summary(work: Path, ds: str, name: str) -> dict:
    """Patch, batch size and network of a configuration of the plans, inheritance resolved as nnU-Net does."""
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
    plans_file = work / "nnUNet_preprocessed" / ds / "nnUNetPlans.json"
    c = PlansManager(json.loads(plans_file.read_text()))._internal_resolve_configuration_inheritance(name)
    return {"patch_size": c["patch_size"], "planned_batch_size": c["batch_size"],
            "network_class": c["architecture"]["network_class_name"],
            "arch_kwargs": {k: v for k, v in c["architecture"]["arch_kwargs"].items()
                            if k in ("n_stages", "features_per_stage", "strides", "kernel_sizes",
                                     "n_conv_per_stage", "n_conv_per_stage_decoder")}}


def fold0_split(work: Path, ds: str, qata: Path) -> dict:
    splits = json.loads((work / "nnUNet_preprocessed" / ds / "splits_final.json").read_text())
    fold0 = splits[0]
    n_train_src = len(list((qata / "Train_Folder" / "img").glob("*.png")))
    n_val_src = len(list((qata / "Val_Folder" / "img").glob("*.png")))
    if (len(fold0["train"]), len(fold0["val"])) != (n_train_src, n_val_src):
        sys.exit(f"error: fold 0 of splits_final.json has {len(fold0['train'])} train / {len(fold0['val'])} val "
                 f"cases, but the source has {n_train_src} / {n_val_src}: not the official split")
    return fold0


def val_ground_truth(work: Path, ds: str, val_cases) -> Path:
    """A folder holding exactly the validation cases' ground truth (links into gt_segmentations)."""
    src = work / "nnUNet_preprocessed" / ds / "gt_segmentations"
    plans = json.loads((work / "nnUNet_raw" / ds / "dataset.json").read_text())
    ending = plans["file_ending"]
    out = work / "gt_val_fold0"
    if out.is_dir():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for case in val_cases:
        f = src / f"{case}{ending}"
        if not f.is_file():
            sys.exit(f"error: ground truth {f} missing")
        (out / f.name).symlink_to(f)
    return out


def trainer_output(work: Path, ds: str, trainer: str, configuration: str = "2d") -> Path:
    return work / "nnUNet_results" / ds / f"{trainer}__nnUNetPlans__{configuration}" / "fold_0"


def parse_training_log(fold_dir: Path) -> dict:
    logs = sorted(fold_dir.glob("training_log_*.txt"))
    if not logs:
        return {}
    text = logs[-1].read_text()
    per_it = [float(m.group(2)) for m in re.finditer(r"bench: epoch (\d+) train_iterations \d+ seconds [\d.]+ "
                                                      r"per_iteration ([\d.]+)", text)]
    epoch_times = [float(x) for x in re.findall(r"Epoch time: ([\d.]+) s", text)]
    pseudo = re.findall(r"Pseudo dice \[([^\]]*)\]", text)
    train_loss = re.findall(r"train_loss (-?[\d.]+)", text)
    val_loss = re.findall(r"val_loss (-?[\d.]+)", text)
    mean_val = re.findall(r"Mean Validation Dice:\s*(-?[\d.]+)", text)
    out = {
        "training_log": str(logs[-1]),
        "seconds_per_iteration_by_epoch": per_it,
        "seconds_per_iteration_mean": round(statistics.mean(per_it), 3) if per_it else None,
        "seconds_per_iteration_after_first_epoch": round(statistics.mean(per_it[1:]), 3) if len(per_it) > 1 else None,
        "epoch_seconds": epoch_times,
        "final_train_loss": float(train_loss[-1]) if train_loss else None,
        "final_val_loss": float(val_loss[-1]) if val_loss else None,
        "final_pseudo_dice": pseudo[-1] if pseudo else None,
        "nnunet_mean_validation_dice": float(mean_val[-1]) if mean_val else None,
    }
    sched = re.search(r"bench: schedule (\{.*?\}) \(batch size in use: (\d+)\)", text)
    if sched:
        out["schedule_logged"] = sched.group(1)
        out["batch_size_in_use"] = int(sched.group(2))
    params = re.search(r"TGC-Net trainable parameters: (\{.*?\}); per module: (\{.*?\})\s*$", text, re.M)
    if params:
        out["tgc_parameters_logged"] = params.group(1)
    return out


def train(args, env, work: Path, ds: str, key: str) -> dict:
    trainer, description, extra = trainer_entry(key)
    fold_dir = trainer_output(work, ds, trainer, args.configuration)
    done = (fold_dir / "checkpoint_final.pth").is_file() and (fold_dir / "validation" / "summary.json").is_file()
    result = {"key": key, "trainer": trainer, "description": description}
    if done and not args.redo:
        log(f"train {key}: {fold_dir} has checkpoint_final.pth and validation/summary.json, kept")
        result["train_wall_seconds"] = None
    else:
        if fold_dir.is_dir():
            shutil.rmtree(fold_dir)  # a half-finished or outdated run: start over, same schedule for everyone
        tenv = dict(env)
        tenv.update(extra)
        tenv["nnUNet_n_proc_DA"] = str(args.n_proc_da)
        tenv.update({"TGC_BENCH_EPOCHS": str(args.epochs), "TGC_BENCH_ITERS": str(args.iterations),
                     "TGC_BENCH_VAL_ITERS": str(args.val_iterations), "TGC_BENCH_BATCH": str(args.batch_size)})
        cmd = [bin_path("nnUNetv2_train"), args.dataset_id, args.configuration, "0", "-tr", trainer, "-device", args.device.type]
        result["command"] = " ".join(f"{k}={tenv[k]}" for k in ("TGC_BENCH_EPOCHS", "TGC_BENCH_ITERS",
                                                              "TGC_BENCH_VAL_ITERS", "TGC_BENCH_BATCH",
                                                              "nnUNet_n_proc_DA")) + " " + " ".join(map(str, cmd))
        if extra:
            result["command"] = " ".join(f"{k}={v}" for k, v in extra.items()) + " " + result["command"]
        result["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
        seconds = run_logged(cmd, tenv, work / "logs" / f"train_{key}.log",
                             echo=r"Epoch \d+|bench:|Pseudo dice|Mean Validation Dice|TGC-Net|Reports:|Encoded")
        result["train_wall_seconds"] = round(seconds, 1)
        # the CPUs are shared: a 15-minute load average well above the core count means slowed iterations
        result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result.update(parse_training_log(fold_dir))
    result["validation_folder"] = str(fold_dir / "validation")
    return result


def evaluate(env, work: Path, key: str, result: dict, gt_dir: Path) -> None:
    pred = Path(result["validation_folder"])
    out = work / "eval" / key / "metrics_tgc.json"  # nnU-Net's metrics go beside it (metrics_tgc_nnunet_summary.json)
    cmd = [sys.executable, "-m", "nnunet_tgc.cli", "evaluate", pred, gt_dir, "-o", out, "-np", "1"]
    run_logged(cmd, env, work / "logs" / f"evaluate_{key}.log", echo=r".")
    metrics = json.loads(out.read_text())
    s = metrics["per_label"]["1"] if "1" in metrics["per_label"] else next(iter(metrics["per_label"].values()))
    result["evaluation"] = {
        "metrics_file": str(out),
        "n_cases": s["n_cases"], "n_empty_gt": s["n_empty_gt"],
        "mean_dice": s["mean_dice"], "mean_iou": s["mean_iou"],
        "pooled_dice": s["pooled_dice"], "pooled_iou": s["pooled_iou"],
        "nnunet_summary_foreground_mean_dice": (metrics.get("nnunet_summary") or {}).get("foreground_mean", {}).get("Dice"),
        "seen_unseen": seen_unseen(env, work, result, metrics["per_case"]),
        "empty_predictions": sum(1 for c in metrics["per_case"] if c["n_pred"] == 0),  # as ablate counts them
    }


def seen_unseen(env, work: Path, result: dict, per_case) -> dict:
    """Per-image Dice of the validation cases whose report text occurs among the fold's training reports
    (seen) and of the others (unseen), as ``nnunet-tgc ablate`` splits them; the same cases for every
    trainer (plain nnU-Net reads no report, but its dataset has them)."""
    from nnunet_tgc.evaluation.training_split import OK, training_split
    from nnunet_tgc.text.reports import ReportsFileError, load_reports_with_options, reports_file_for_dataset
    # the fold's training cases are found as nnU-Net finds them, through its folder variables
    os.environ.update({k: env[k] for k in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")})
    model_folder = Path(result["validation_folder"]).parent.parent
    dataset_json = json.loads((model_folder / "dataset.json").read_text())
    raw = work / "nnUNet_raw" / _dataset_name_of(model_folder)
    try:
        reports, _ = load_reports_with_options(reports_file_for_dataset(raw, dataset_json))
    except (ReportsFileError, OSError) as err:  # a measurement that cannot be made is said, not fatal
        return {"status": "unavailable", "reason": str(err)}
    cases = {c["case"] for c in per_case}
    if not cases <= set(reports):
        missing = sorted(cases - set(reports))
        return {"status": "unavailable", "reason": f"validation cases without a report: {missing[:5]}"}
    split = training_split(model_folder, "0", dataset_json, {c: reports[c] for c in cases}, None)
    if split["status"] != OK:
        return {"status": split["status"], "reason": split["reason"]}
    out = {"status": OK, "n_training_texts": split["n_training_texts"]}
    for group, flag in (("seen", True), ("unseen", False)):
        dice = [c["dice"] for c in per_case if split["seen"][c["case"]] is flag]
        out[group] = {"n": len(dice), "mean_dice": sum(dice) / len(dice) if dice else None}
    return out


def _dataset_name_of(model_folder: Path) -> str:
    return model_folder.parent.name


def val_images(work: Path, ds: str, val_cases) -> Path:
    """WORK/val_images: links to fold 0's validation images in imagesTr, with their reports.json,
    the input folder of ``nnunet-tgc ablate``."""
    from nnunet_tgc.text.reports import load_reports, reports_file_for_dataset, save_reports
    raw = work / "nnUNet_raw" / ds
    dataset_json = json.loads((raw / "dataset.json").read_text())
    ending, channels = dataset_json["file_ending"], sorted(int(c) for c in dataset_json["channel_names"])
    reports = load_reports(reports_file_for_dataset(raw, dataset_json))
    out = work / "val_images"
    if out.is_dir():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for case in val_cases:
        for channel in channels:
            f = raw / "imagesTr" / f"{case}_{channel:04d}{ending}"
            if not f.is_file():
                sys.exit(f"error: validation image {f} missing")
            (out / f.name).symlink_to(f)
        if case not in reports:
            sys.exit(f"error: validation case {case} has no report in {reports_file_for_dataset(raw, dataset_json)}")
    save_reports({case: reports[case] for case in val_cases}, out / "reports.json")
    return out


def ablate(env, work: Path, key: str, result: dict, images: Path, gt_dir: Path) -> None:
    """``nnunet-tgc ablate`` on fold 0's validation cases; its table rows go into the result."""
    model = Path(result["validation_folder"]).parents[1]  # .../TRAINER__PLANS__CONFIGURATION/fold_0/validation
    out = work / "ablation" / key
    cmd = [sys.executable, "-m", "nnunet_tgc.cli", "ablate", model, "-i", images, "-l", gt_dir, "-f", "0", "-o", out]
    run_logged(cmd, env, work / "logs" / f"ablate_{key}.log", echo=r"ablate:")
    result["ablation"] = {"folder": str(out), "command": " ".join(map(str, cmd)),
                          "rows": ablation_rows(json.loads((out / "ablation.json").read_text()))}


def ablation_rows(ablation: dict) -> list:
    """One row per variant of an ablation.json: status, Dice, IoU, pooled Dice, per category Dice, side shares."""
    rows = []
    for name, v in ablation["variants"].items():
        s = v.get("summary")
        row = {"variant": name, "status": v["status"]}
        if s is not None:
            row.update({k: s[k] for k in ("mean_dice", "mean_iou", "pooled_dice", "side_share",
                                          "side_share_vs_correct", "n_side_cases")})
            row["dice_by_category"] = {c: g["mean_dice"] for c, g in s["by_category"].items()}
        rows.append(row)
    return rows


def ablation_markdown(report: dict) -> list:
    """Lines of the ablation table of every trainer that has one (none without --ablate)."""
    ablated = [r for r in report["results"] if r.get("ablation")]
    if not ablated:
        return []
    lines = ["", "Text ablation on the validation cases (`nnunet-tgc ablate`; side share over one-side reports, "
                 "0.5 = text-blind):", "",
             "| trainer | variant | Dice | mIoU | pooled Dice | side share | side share vs correct side |",
             "|---|---|---|---|---|---|---|"]
    for r in ablated:
        for row in r["ablation"]["rows"]:
            if row["status"] != "done":
                lines.append(f"| `{r['trainer']}` | {row['variant']} | {row['status']} | | | | |")
                continue
            lines.append(f"| `{r['trainer']}` | {row['variant']} | {fmt(row['mean_dice'])} | {fmt(row['mean_iou'])} "
                         f"| {fmt(row['pooled_dice'])} | {fmt(row['side_share'], pct=False, digits=3)} "
                         f"| {fmt(row['side_share_vs_correct'], pct=False, digits=3)} |")
    return lines


def fmt(x, pct=True, digits=2):
    if x is None:
        return "n/a"
    return f"{100 * x:.{digits}f}" if pct else f"{x:.{digits}f}"


def configuration_markdown(report: dict) -> str:
    c = report.get("configuration") or {"name": "2d", "patch_size": report.get("plans_2d", {}).get("patch_size")}
    text = f"configuration `{c['name']}` (patch {'x'.join(map(str, c['patch_size'] or []))})"
    if report.get("upsample", {}).get("factor", 1) > 1:
        text += f", images upsampled {report['upsample']['factor']}x (bicubic; labels nearest)"
    return text


def markdown(report: dict) -> str:
    s = report["schedule"]
    lines = [
        f"QaTa-COV19 subset ({report['n_train']} train / {report['n_val']} val = official Train_Folder / Val_Folder), "
        f"{configuration_markdown(report)}, fold 0; {s['epochs']} epochs x {s['iterations']} iterations, batch {s['batch_size']}, "
        f"{s['val_iterations']} pseudo-Dice validation iterations per epoch; CPU ({report['machine']['cpu_model']}, "
        f"{report['machine']['logical_cpus']} logical CPUs), {report['date']}.",
        "",
        "| trainer | val Dice (per image) | val mIoU (per image) | pooled Dice | pooled IoU | nnU-Net summary Dice "
        "| s/iteration (mean) | s/iteration (after epoch 0) | train+val wall (min) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        e = r.get("evaluation", {})
        wall = r.get("train_wall_seconds")
        lines.append(
            f"| `{r['trainer']}` | {fmt(e.get('mean_dice'))} | {fmt(e.get('mean_iou'))} | {fmt(e.get('pooled_dice'))} "
            f"| {fmt(e.get('pooled_iou'))} | {fmt(e.get('nnunet_summary_foreground_mean_dice'))} "
            f"| {fmt(r.get('seconds_per_iteration_mean'), pct=False)} "
            f"| {fmt(r.get('seconds_per_iteration_after_first_epoch'), pct=False)} "
            f"| {fmt(wall / 60 if wall else None, pct=False, digits=1)} |")
    for r in report.get("not_run", []):
        lines.append(f"| `{r['trainer']}` | not run: {r['reason'].splitlines()[0][:200]} |||||||| ")
    split_rows = [(r, r.get("evaluation", {}).get("seen_unseen", {})) for r in report["results"]]
    if any(su.get("status") == "ok" for _, su in split_rows):
        lines += ["", "Seen / unseen in training (a validation case is *seen* when its report text occurs among the "
                      "fold's training reports), per-image Dice:", "",
                  "| trainer | seen (n) | unseen (n) | gap seen - unseen | empty predictions |", "|---|---|---|---|---|"]
        for r, su in split_rows:
            if su.get("status") != "ok":
                lines.append(f"| `{r['trainer']}` | not computed: {su.get('reason')} ||||")
                continue
            seen, unseen = su["seen"], su["unseen"]
            gap = seen["mean_dice"] - unseen["mean_dice"] if seen["mean_dice"] is not None and \
                unseen["mean_dice"] is not None else None
            lines.append(f"| `{r['trainer']}` | {fmt(seen['mean_dice'])} ({seen['n']}) | {fmt(unseen['mean_dice'])} "
                         f"({unseen['n']}) | {fmt(gap)} | {r['evaluation'].get('empty_predictions')} |")
    lines += ["", "Dice/mIoU in %: per image and averaged over images (LViT protocol; empty ground truth: "
                  "both empty -> 1, else 0); pooled: over all pixels; nnU-Net summary: foreground mean of "
                  "nnU-Net's own summary.json (its empty-case rule differs)."]
    lines += ablation_markdown(report)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--qata", type=Path, default=DEFAULT_QATA, help=f"LViT-layout QaTa subset (default {DEFAULT_QATA})")
    p.add_argument("--work", type=Path, default=DEFAULT_WORK,
                   help=f"work folder for nnUNet_raw/preprocessed/results, logs and the report (outside the repo; "
                        f"default {DEFAULT_WORK})")
    p.add_argument("--trainers", nargs="+", default=DEFAULT_TRAINERS,
                   help=f"which trainers to run: keys {sorted(TRAINERS)} or trainer class names "
                        f"(default {' '.join(DEFAULT_TRAINERS)})")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--iterations", type=int, default=100, help="training iterations per epoch")
    p.add_argument("--val-iterations", type=int, default=50,
                   help="pseudo-Dice validation iterations per epoch (nnU-Net's default 50)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--dataset-id", type=int, default=501)
    p.add_argument("--dataset-name", default="QaTaCOV19")
    p.add_argument("--num-processes", type=int, default=2, help="preprocessing processes")
    p.add_argument("--n-proc-da", type=int, default=2, help="nnUNet_n_proc_DA for training (0: in the main process)")
    p.add_argument("--redo", action="store_true", help="redo every step even where its output exists")
    p.add_argument("--device", default="auto", help="nnUNetv2_train -device: auto (CUDA when available), cpu or cuda")
    p.add_argument("--ablate", action="store_true",
                   help="after training, run 'nnunet-tgc ablate' for each trainer on fold 0's validation cases")
    p.add_argument("--upsample", type=int, default=1, metavar="N",
                   help="resize the converted raw images (bicubic) and labels (nearest) N times, once, before planning "
                        "(default 1: as converted)")
    p.add_argument("--patch-size", type=int, nargs=2, metavar=("H", "W"),
                   help="train and validate a configuration with this patch (nnunet-tgc add-configuration; default: "
                        "the planned 2d configuration)")
    p.add_argument("--json", type=Path, help="report JSON (default WORK/benchmark_qata.json)")
    p.add_argument("--md", type=Path, help="report markdown table (default WORK/benchmark_qata.md)")
    args = p.parse_args(argv)
    if args.upsample < 1:
        p.error(f"--upsample {args.upsample}: must be 1 or more")
    args.configuration = configuration_name(args.patch_size)
    for key in args.trainers:  # an unknown or removed trainer stops the run before any work
        trainer_entry(key)
    try:
        args.device = resolve_device(args.device)
    except DeviceUnavailable as e:
        sys.exit(f"error: {e}")

    args.qata = args.qata.resolve()
    if not (args.qata / "Train_Folder" / "img").is_dir() or not (args.qata / "Val_Folder" / "img").is_dir():
        sys.exit(f"error: QaTa subset not found at {args.qata} (expected Train_Folder/img and Val_Folder/img, the "
                 f"LViT layout); pass --qata PATH")
    work = args.work.resolve()
    if work == REPO or REPO in work.parents:
        sys.exit(f"error: --work {work} is inside the repository; use a folder outside it (e.g. {DEFAULT_WORK})")
    work.mkdir(parents=True, exist_ok=True)
    env = base_env(work)
    ds = dataset_name(args.dataset_id, args.dataset_name)
    started = datetime.datetime.now()
    log(f"QaTa benchmark in {work}: trainers {args.trainers}; {args.epochs} x {args.iterations} iterations, "
        f"batch {args.batch_size}; configuration {args.configuration}, upsample {args.upsample}x")

    report = {
        "date": started.strftime("%Y-%m-%d"), "started": started.isoformat(timespec="seconds"),
        "qata": str(args.qata), "work": str(work), "dataset": ds, "machine": machine(args.device),
        "schedule": {"epochs": args.epochs, "iterations": args.iterations, "val_iterations": args.val_iterations,
                     "batch_size": args.batch_size, "nnUNet_n_proc_DA": args.n_proc_da,
                     "device": args.device.type},
        "command": " ".join([sys.executable] + sys.argv),
    }
    report["convert"] = convert(args, env, work, ds)
    report["upsample"] = upsample(args, work, ds)
    report["plan_and_preprocess"] = plan_and_preprocess(args, env, work, ds)
    if args.patch_size:
        report["add_configuration"] = add_configuration(args, env, work, ds)
    report["plans_2d"] = configuration_summary(work, ds, "2d")
    report["configuration"] = {"name": args.configuration, **configuration_summary(work, ds, args.configuration)}
    fold0 = fold0_split(work, ds, args.qata)
    report["n_train"], report["n_val"] = len(fold0["train"]), len(fold0["val"])
    gt_dir = val_ground_truth(work, ds, fold0["val"])
    log(f"fold 0: {report['n_train']} train / {report['n_val']} val cases (official split); val ground truth in {gt_dir}")

    images_val = val_images(work, ds, fold0["val"]) if args.ablate else None
    json_out = args.json or work / "benchmark_qata.json"
    md_out = args.md or work / "benchmark_qata.md"
    report["results"], report["not_run"] = [], []
    for key in args.trainers:
        try:
            result = train(args, env, work, ds, key)
            evaluate(env, work, key, result, gt_dir)
            if args.ablate:
                ablate(env, work, key, result, images_val, gt_dir)
        except SystemExit as failed:  # run_logged's message names the command and ends with its log's tail
            report["not_run"].append({"key": key, "trainer": TRAINERS[key][0] if key in TRAINERS else key, "reason": str(failed.code)})
            log(f"{key}: NOT RUN, continuing with the next trainer\n{failed.code}")
            json_out.write_text(json.dumps(portable(report), indent=2) + "\n")
            md_out.write_text(markdown(report))
            continue
        e = result["evaluation"]
        log(f"{key}: val Dice {100 * e['mean_dice']:.2f} mIoU {100 * e['mean_iou']:.2f} (per image), pooled Dice "
            f"{100 * e['pooled_dice']:.2f}; {result.get('seconds_per_iteration_mean')} s/iteration")
        report["results"].append(result)
        report["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
        json_out.write_text(json.dumps(portable(report), indent=2) + "\n")  # after every trainer: partial results survive
        md_out.write_text(markdown(report))
    print()
    print(markdown(report))
    log(f"report: {json_out} and {md_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
