#!/usr/bin/env python
"""GPU check: TGC-Net ViT-B/16 against plain nnU-Net, trained and predicted through nnU-Net itself, in minutes.

One run, in one process, in a fresh work folder:

1. a synthetic 224x224 dataset (``nnunet_tgc.synthetic``: two blobs per image, the report names one; the
   content does not matter for timing), planned and preprocessed by nnU-Net (``2d``, default planner);
2. for each network, on the same plans and batch size (default 62, what nnU-Net plans for QaTa's 224x224
   patches; a 60-case dataset would be capped at 3 by nnU-Net's 5% rule): nnU-Net's trainer is initialised, its
   ``on_train_start`` run (timed apart: dataloaders; for TGC-Net also the report encoding and the fit of
   the text map before epoch 0), then ``--warmup`` + ``--iterations`` calls of nnU-Net's own
   ``train_step(next(dataloader_train))`` (data loading and augmentation included, as in ``run_training``;
   on CUDA nnU-Net's autocast and GradScaler, TGC-Net's frozen towers in float16); the final checkpoint is
   saved (``on_train_end``);
3. prediction as ``nnUNetv2_predict`` does it: ``nnUNetPredictor.initialize_from_trained_model_folder``
   (TGC-Net adopts it and reads ``imagesTs/reports.json``), ``predict_from_files_sequential`` on the test
   cases with nnU-Net's defaults (sliding window, Gaussian, test-time mirroring), once to warm up, once timed;
4. JSON: seconds per training iteration (median and mean over the timed ones) and prediction seconds per
   case of each network, their ratios TGC/plain, and the peak GPU memory
   (``torch.cuda.max_memory_allocated``) of training and of prediction.

The networks are plain nnU-Net (``nnUNetTrainer``) and TGC-Net on CLIP ViT-B/16 with random weights
(``nnUNetTrainerTGC``, ``nnUNet_TGC_clip_weights=random``: the arithmetic of the pretrained model). Targets
(the frozen ViT runs forward only, so a step should cost no more than plain nnU-Net's; prediction adds the
ViT's forward pass): a training iteration <= 1.0x plain nnU-Net's, prediction <= 2x. ``scripts/benchmark_speed.py``
times the bare networks on random tensors; this script times what a user runs.

    python scripts/gpu_check.py --json gpu_check.json                    # on a GPU: a few minutes
    python scripts/gpu_check.py --device cpu --tiny --json smoke.json    # CPU smoke test (tiny CLIP), < 1 min

``--tiny``: 64x64 images, 12 training cases and 1 test case, batch 2, 1 iteration, no warm-ups, the tiny
random CLIP instead of ViT-B/16, 5 steps for TGC-Net's fits before epoch 0, no data-augmentation workers, no
dataset integrity check: it checks the script, not the speed.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import DeviceUnavailable, machine, resolve_device, synchronize, write_json  # noqa: E402

DATASET_ID = 977
NETWORKS = {"nnunet": ("nnUNetTrainer", "plain nnU-Net"),
            "tgc_vitb16": ("nnUNetTrainerTGC", "TGC-Net, CLIP ViT-B/16 (random weights)")}
TINY_TGC = ("nnUNetTrainerTGC_tiny", "TGC-Net, tiny random CLIP (smoke test)")
TARGETS = {"train_s_per_iteration_ratio_max": 1.0, "predict_s_per_case_ratio_max": 2.0}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def set_environment(work: Path) -> None:
    """nnU-Net's folders (read when nnunetv2 is imported), the plugin's trainers, random CLIP weights."""
    from nnunet_tgc.nnunet.env import ext_trainer_dir
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        (work / name).mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(work / name)
    existing = os.environ.get("nnUNet_extTrainer")
    os.environ["nnUNet_extTrainer"] = os.pathsep.join(filter(None, [str(ext_trainer_dir()), existing]))
    os.environ["nnUNet_TGC_clip_weights"] = "random"
    os.environ.setdefault("nnUNet_compile", "f")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    warnings.filterwarnings("ignore", message=".*RANDOM weights.*")


def make_dataset(work: Path, n_train: int, n_test: int, size: int, processes: int, check: bool = True) -> dict:
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprints, plan_experiments, \
        preprocess
    from nnunet_tgc.synthetic import make_text_decides_dataset
    t0 = time.perf_counter()
    folder = make_text_decides_dataset(work / "nnUNet_raw", DATASET_ID, "GPUCheck", n_train, n_test, (size, size))
    t1 = time.perf_counter()
    extract_fingerprints([DATASET_ID], num_processes=processes, check_dataset_integrity=check, verbose=False,
                         show_progress_bar=False)
    t2 = time.perf_counter()
    plan_experiments([DATASET_ID])
    t3 = time.perf_counter()
    preprocess([DATASET_ID], configurations=("2d",), num_processes=(processes,), show_progress_bar=False)
    t4 = time.perf_counter()
    return {"folder": folder, "train_cases": n_train, "test_cases": n_test, "image_size": [size, size],
            "seconds": {"generate": round(t1 - t0, 1), "fingerprint": round(t2 - t1, 1), "plan": round(t3 - t2, 1),
                        "preprocess": round(t4 - t3, 1)}}


def trainer_class(name: str):
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    if name == "nnUNetTrainer":
        return nnUNetTrainer
    import nnunet_tgc.nnunet.trainer as tgc
    return getattr(tgc, name)


def _peak(device) -> int:
    import torch
    return int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None


def _reset_peak(device) -> None:
    import torch
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def train(name: str, device, batch_size, warmup: int, iterations: int, fit_steps=None) -> dict:
    """nnU-Net's trainer for ``--warmup`` + ``--iterations`` iterations; saves checkpoint_final. ``fit_steps``:
    fewer steps for the fits TGC-Net runs before epoch 0 (smoke test only)."""
    import torch
    from batchgenerators.utilities.file_and_folder_operations import join, load_json
    from nnunetv2.paths import nnUNet_preprocessed
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name
    dataset = maybe_convert_to_dataset_name(DATASET_ID)
    plans = load_json(join(nnUNet_preprocessed, dataset, "nnUNetPlans.json"))
    if batch_size:
        plans["configurations"]["2d"]["batch_size"] = batch_size  # both networks: the same plans
    plans["continue_training"] = False  # nnU-Net 2.8's run_training passes this through the plans
    dataset_json = load_json(join(nnUNet_preprocessed, dataset, "dataset.json"))
    trainer = trainer_class(name)(plans, "2d", 0, dataset_json, device)
    if fit_steps is not None:
        for attribute in dir(type(trainer)):
            if attribute.startswith("tgc_") and attribute.endswith("_fit_steps"):
                setattr(trainer, attribute, fit_steps)
    trainer.initialize()
    network = getattr(trainer.network, "module", trainer.network)
    result = {"trainer": name, "batch_size": trainer.batch_size,
              "patch_size": list(trainer.configuration_manager.patch_size),
              "trainable_parameters": sum(p.numel() for p in network.parameters() if p.requires_grad)}
    _reset_peak(device)
    t0 = time.perf_counter()
    trainer.on_train_start()
    synchronize(device)
    result["on_train_start_s"] = round(time.perf_counter() - t0, 2)
    trainer.on_epoch_start()
    trainer.on_train_epoch_start()
    _reset_peak(device)
    times, outputs = [], []
    for i in range(warmup + iterations):
        t0 = time.perf_counter()
        outputs.append(trainer.train_step(next(trainer.dataloader_train)))
        synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    result["peak_gpu_memory_train_bytes"] = _peak(device)
    trainer.on_train_epoch_end(outputs)  # logs the training loss (no validation epoch: not timed here)
    result["train"] = {"warmup_iterations": warmup, "timed_iterations": iterations,
                       "median_s_per_iteration": round(statistics.median(times), 4),
                       "mean_s_per_iteration": round(statistics.mean(times), 4),
                       "min_s": round(min(times), 4), "max_s": round(max(times), 4),
                       "last_loss": float(outputs[-1]["loss"])}
    trainer.on_train_end()  # checkpoint_final.pth, dataloaders shut down
    result["model_folder"] = trainer.output_folder_base
    del trainer, network
    _reset_peak(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result


def predict(model_folder: str, test_images: Path, out: Path, device, warm_up: bool = True) -> dict:
    """As nnUNetv2_predict: the stock predictor from the model folder (TGC-Net adopts it), sequentially; a first
    untimed pass over the test cases warms up (CUDA kernels, the report cache) unless ``warm_up`` is False."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=True,
                                perform_everything_on_device=device.type == "cuda", device=device, verbose=False,
                                verbose_preprocessing=False, allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(model_folder, use_folds=(0,), checkpoint_name="checkpoint_final.pth")
    cases = sorted(test_images.glob("*_0000.png"))
    result = {"predictor": type(predictor).__name__, "cases": len(cases),
              "mirror_axes": list(predictor.allowed_mirroring_axes or [])}
    warm = out / "warmup"
    shutil.rmtree(out, ignore_errors=True)
    for folder in (warm, out / "timed"):
        folder.mkdir(parents=True)
    if warm_up:
        predictor.predict_from_files_sequential(str(test_images), str(warm), save_probabilities=False, overwrite=True)
    _reset_peak(device)
    t0 = time.perf_counter()
    predictor.predict_from_files_sequential(str(test_images), str(out / "timed"), save_probabilities=False,
                                            overwrite=True)
    synchronize(device)
    seconds = time.perf_counter() - t0
    written = len(list((out / "timed").glob("*.png")))
    if written != len(cases):
        raise RuntimeError(f"{written} predictions written for {len(cases)} test cases")
    result.update(seconds=round(seconds, 3), s_per_case=round(seconds / len(cases), 4),
                  peak_gpu_memory_predict_bytes=_peak(device))
    return result


def run(args) -> dict:
    device = args.device
    networks = dict(NETWORKS)
    if args.tiny:
        networks["tgc_vitb16"] = TINY_TGC
    result = {"machine": machine(device), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "settings": {"device": str(device), "tiny": args.tiny, "warmup_iterations": args.warmup,
                           "timed_iterations": args.iterations, "autocast": device.type == "cuda",
                           "frozen_tower_dtype": os.environ.get("nnUNet_TGC_tower_dtype", "float16")
                           if device.type == "cuda" else "float32",
                           "nnUNet_n_proc_DA": "0" if args.tiny else os.environ.get("nnUNet_n_proc_DA",
                                                                                     "nnU-Net's default")},
              "targets": TARGETS, "networks": {}, "not_run": []}
    log(f"dataset: {args.train_cases} + {args.test_cases} synthetic {args.size}x{args.size} cases, planning")
    data = make_dataset(args.work, args.train_cases, args.test_cases, args.size, args.processes, not args.tiny)
    result["dataset"] = {k: v for k, v in data.items() if k != "folder"}
    if args.tiny:  # after planning, which sets torch's threads from it: augmentation in the main process
        os.environ["nnUNet_n_proc_DA"] = "0"
    for key, (trainer, description) in networks.items():
        entry = {"description": description}
        try:
            log(f"{description}: training ({args.warmup} + {args.iterations} iterations)")
            entry.update(train(trainer, device, args.batch_size, args.warmup, args.iterations,
                               fit_steps=5 if args.tiny else None))
            log(f"    {entry['train']['median_s_per_iteration']:.3f} s per iteration (median), on_train_start "
                f"{entry['on_train_start_s']:.1f} s, peak {entry['peak_gpu_memory_train_bytes']}")
            log(f"{description}: predicting {args.test_cases} test cases")
            entry["predict"] = predict(entry.pop("model_folder"), data["folder"] / "imagesTs",
                                       args.work / "predictions" / key, device, warm_up=not args.tiny)
            log(f"    {entry['predict']['s_per_case']:.3f} s per case")
        except Exception as e:  # noqa: BLE001 - out of memory, a failing step: record it, measure the other
            entry.pop("model_folder", None)
            result["not_run"].append({"network": key, "reason": f"{type(e).__name__}: {e}"[:800],
                                      "traceback": traceback.format_exc()[-2000:]})
            log(f"    NOT RUN: {type(e).__name__}: {str(e)[:300]}")
        result["networks"][key] = entry
    plain, tgc = result["networks"].get("nnunet", {}), result["networks"].get("tgc_vitb16", {})

    def ratio(*keys):
        a, b = tgc, plain
        for key in keys:
            a, b = (a or {}).get(key), (b or {}).get(key)
        return round(a / b, 3) if a is not None and b else None
    ratios = result["ratios_tgc_over_plain"] = {
        "train_s_per_iteration": ratio("train", "median_s_per_iteration"),
        "predict_s_per_case": ratio("predict", "s_per_case"),
        "peak_gpu_memory_train": ratio("peak_gpu_memory_train_bytes"),
        "peak_gpu_memory_predict": ratio("predict", "peak_gpu_memory_predict_bytes")}
    measured = not args.tiny and None not in (ratios["train_s_per_iteration"], ratios["predict_s_per_case"])
    result["within_targets"] = (ratios["train_s_per_iteration"] <= TARGETS["train_s_per_iteration_ratio_max"] and
                                ratios["predict_s_per_case"] <= TARGETS["predict_s_per_case_ratio_max"]) \
        if measured else None
    result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    p.add_argument("--tiny", action="store_true", help="smoke-test sizes and the tiny CLIP (see above)")
    p.add_argument("--iterations", type=int, help="timed training iterations (default 40; --tiny 1)")
    p.add_argument("--warmup", type=int, help="untimed training iterations first (default 10; --tiny 0)")
    p.add_argument("--train-cases", type=int, help="synthetic training cases (default 60; --tiny 12)")
    p.add_argument("--test-cases", type=int, help="synthetic test cases predicted (default 10; --tiny 1)")
    p.add_argument("--size", type=int, help="image size in pixels (default 224; --tiny 64)")
    p.add_argument("--batch-size", type=int, help="batch size written into the plans for both networks (default 62, "
                                                  "nnU-Net's plan for QaTa; 0: the plans' own; --tiny 2)")
    p.add_argument("--processes", type=int, help="processes for nnU-Net's fingerprint and preprocessing "
                                                  "(default 4; --tiny 1)")
    p.add_argument("--work", type=Path, help="work folder (default: a new temporary folder, removed at the end)")
    p.add_argument("--json", type=Path, help="write the result to this JSON file")
    args = p.parse_args(argv)
    tiny = dict(iterations=1, warmup=0, train_cases=12, test_cases=1, size=64, batch_size=2, processes=1)
    full = dict(iterations=40, warmup=10, train_cases=60, test_cases=10, size=224, batch_size=62, processes=4)
    for key, value in (tiny if args.tiny else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    try:
        args.device = resolve_device(args.device)
    except DeviceUnavailable as e:
        write_json({"machine": machine("cpu"), "requested_device": args.device,
                    "not_run": [{"network": "all", "reason": str(e)}]}, args.json)
        print(f"error: {e}", file=sys.stderr)
        return 2
    temporary = args.work is None
    args.work = Path(tempfile.mkdtemp(prefix="tgc_gpu_check_")) if temporary else args.work.resolve()
    set_environment(args.work)
    try:
        result = run(args)
    finally:
        if temporary:
            shutil.rmtree(args.work, ignore_errors=True)
    write_json(result, args.json)
    print(f"ratios TGC/plain: {result['ratios_tgc_over_plain']}; not run: {[n['network'] for n in result['not_run']]}")
    return 1 if result["not_run"] else 0


if __name__ == "__main__":
    sys.exit(main())
