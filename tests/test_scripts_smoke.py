"""Smoke tests of the measurement scripts (fast parts only: the tiny backbone, no FLOPs, no training)."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPTS))
    return module


def test_count_parameters_tiny(tmp_path, capsys):
    count_parameters = _load("count_parameters")
    out = tmp_path / "params.json"
    assert count_parameters.main(["--backbones", "tiny", "--no-flops", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    result = json.loads(out.read_text())
    names = [r["name"] for r in result["rows"]]
    assert names == ["nnU-Net PlainConvUNet", "TGC-Net tiny", "TGC-Net tiny noCNN", "TGC-Net tiny noKnowledge",
                     "TGC-Net tiny noVLCM"]
    for name in names:
        assert name in table
    nnunet, tgc = result["rows"][0], result["rows"][1]
    # nnU-Net's QaTa 2d U-Net: every parameter trains; TGC-Net: the CLIP towers are frozen
    assert nnunet["trainable"] == nnunet["total"] > 10_000_000 and nnunet["frozen"] == 0
    assert tgc["frozen"] > 0 and tgc["trainable"] + tgc["frozen"] == tgc["total"]
    assert tgc["ratio_trainable_vs_nnunet"] == pytest.approx(tgc["trainable"] / nnunet["trainable"], abs=1e-4)
    assert sum(tgc["modules"].values()) == tgc["trainable"]
    assert sum(nnunet["modules"].values()) == nnunet["trainable"]
    # the frozen CLIP is not in TGC-Net's checkpoint: it is smaller than its total parameter count implies
    assert tgc["state_dict_mb"] < tgc["total"] * 4 / 2 ** 20
    assert 0 < tgc["state_dict_mb"] < tgc["checkpoint_with_sgd_state_mb"]
    # the goal column says whether a network trains at most half of nnU-Net's parameters, row by row
    for row in result["rows"]:
        line = next(line for line in table.splitlines() if line.startswith(f"{row['name']:<30} "))
        ratio, goal = line[30:].split()[3:5]
        expected = row.get("ratio_trainable_vs_nnunet")
        assert ratio == ("-" if expected is None else f"{expected:.3f}"), line
        assert goal == ("-" if expected is None else "ok" if expected <= 0.5 else "MISS"), line
    assert tgc["ratio_trainable_vs_nnunet"] <= 0.5  # the goal is met by the tiny network


def test_benchmark_qata_missing_data_exits_clearly(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, str(SCRIPTS / "benchmark_qata.py"), "--qata", str(tmp_path / "nope"),
                           "--work", str(tmp_path / "work")], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode != 0
    assert "QaTa subset not found" in proc.stderr and "--qata" in proc.stderr


def _bench_trainers():
    sys.path.insert(0, str(SCRIPTS / "benchmark_trainers"))
    try:
        import nnunet_tgc_bench_trainers
    finally:
        sys.path.remove(str(SCRIPTS / "benchmark_trainers"))
    return nnunet_tgc_bench_trainers


def test_bench_trainer_schedule(monkeypatch):
    """The short trainers read epochs/iterations/batch from the environment (checked without training)."""
    bench = _bench_trainers()
    monkeypatch.setenv("TGC_BENCH_EPOCHS", "2")
    monkeypatch.setenv("TGC_BENCH_BATCH", "4")
    monkeypatch.delenv("TGC_BENCH_ITERS", raising=False)
    assert bench.bench_schedule() == {"num_epochs": 2, "num_iterations_per_epoch": 100,
                                      "num_val_iterations_per_epoch": 50, "batch_size": 4}
    monkeypatch.setenv("TGC_BENCH_ITERS", "0")
    with pytest.raises(ValueError):
        bench.bench_schedule()
    for name, (base, _) in bench.BENCH_TRAINERS.items():
        cls = getattr(bench, name)
        # the schedule's methods come before the trainer's own: epochs, iterations, batch size and timing lines
        assert cls.__mro__[1:3] == (bench._BenchSchedule, base) and cls.__name__ == name
        for method in ("__init__", "_set_batch_size_and_oversample", "on_train_epoch_end"):
            assert getattr(cls, method) is getattr(bench._BenchSchedule, method)


def test_bench_trainers_are_the_ones_the_documentation_cites():
    """One table: every bench trainer is cited by the documentation or benchmark_qata.py's keys, and every
    bench trainer name the documentation cites is a class or, for a network the code no longer builds, an
    entry of REMOVED (no class under that name)."""
    import re
    bench = _bench_trainers()
    docs = "\n".join(p.read_text() for p in [SCRIPTS.parent / "README.md",
                                              *sorted((SCRIPTS.parent / "documentation").glob("*.md"))])
    # class names, also inside nnU-Net's result folder names (TRAINER__PLANS__CONFIGURATION)
    cited = {name.split("__")[0] for name in re.findall(r"\bnnUNetTrainer\w*Bench\w*", docs)}
    keys = {entry[0] for entry in _load("benchmark_qata").TRAINERS.values()}
    assert cited <= set(bench.BENCH_TRAINERS) | set(bench.REMOVED), cited - set(bench.BENCH_TRAINERS)
    assert set(bench.BENCH_TRAINERS) <= cited | keys and keys <= set(bench.BENCH_TRAINERS)
    assert set(bench.REMOVED) <= cited and not any(hasattr(bench, name) for name in bench.REMOVED)
    assert "`..._" not in docs  # abbreviated names would escape this check


def test_scripts_take_a_device_and_write_what_they_could_not_run(tmp_path, monkeypatch, capsys):
    """--device cuda on a machine without CUDA: nothing is measured, the JSON says so (no GPU here, so
    the CUDA paths themselves are not run by this suite)."""
    import torch
    if torch.cuda.is_available():
        pytest.skip("CUDA is available: the unavailable-device path cannot be exercised")
    for name in ("count_parameters", "benchmark_speed"):
        out = tmp_path / f"{name}.json"
        assert _load(name).main(["--device", "cuda", "--json", str(out)]) == 2
        assert "CUDA is not available" in capsys.readouterr().err
        assert "CUDA is not available" in json.loads(out.read_text())["not_run"][0]["reason"]
    proc = subprocess.run([sys.executable, str(SCRIPTS / "benchmark_qata.py"), "--device", "cuda",
                           "--work", str(tmp_path / "work")], capture_output=True, text=True,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=120)
    assert proc.returncode != 0 and "CUDA is not available" in proc.stderr


def test_benchmark_speed_measures_on_the_device_and_notes_a_network_it_could_not_build(tmp_path, monkeypatch,
                                                                                       capsys):
    speed = _load("benchmark_speed")
    real_build = speed.build

    def build(key, device):
        if key == "tgc_vitb16":
            raise RuntimeError("no weights for this measurement")
        return real_build(key, device)
    monkeypatch.setattr(speed, "build", build)
    out = tmp_path / "speed.json"
    assert speed.main(["--networks", "tgc_tiny", "tgc_vitb16", "--batches", "1", "--warmup", "0", "--repeats", "1",
                       "--inference-repeats", "1", "--device", "cpu", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["settings"]["device"] == "cpu" and result["machine"]["device"] == "cpu"
    assert result["networks"]["tgc_tiny"]["train_step"]["batch_1"]["median_s"] > 0
    assert result["not_run"] == [{"network": "tgc_vitb16", "what": "build",
                                  "reason": "RuntimeError: no weights for this measurement"}]
    assert "NOT RUN: TGC-Net ViT-B-16 (random), build" in capsys.readouterr().out


NNUNET_EPOCH_LINES = """\
2026-12-04 10:00:00.000000: TGC: place map fitted to the masks of 51 training cases (40 reports), loss 0.9 -> 0.2
2026-12-04 10:00:01.000000: Epoch 0
2026-12-04 10:00:01.000000: Current learning rate: 0.01
2026-12-04 10:00:09.000000: train_loss -0.1234
2026-12-04 10:00:09.000000: val_loss -0.2345
2026-12-04 10:00:09.000000: Pseudo dice [np.float32(0.5678)]
2026-12-04 10:00:09.000000: Epoch time: 8.12 s
2026-12-04 10:00:09.000000: Yayy! New best EMA pseudo Dice: 0.5678
2026-12-04 10:02:00.000000: Mean Validation Dice:  0.9012
"""


def test_demo_shows_each_epoch_as_it_ends():
    demo = _load("demo")
    progress = demo.EpochProgress()
    shown = [m for m in map(progress, NNUNET_EPOCH_LINES.splitlines(keepends=True)) if m]
    assert shown == ["  TGC: place map fitted to the masks of 51 training cases (40 reports), loss 0.9 -> 0.2",
                     "  epoch 0: train loss -0.1234, val loss -0.2345, pseudo Dice 0.5678, 8.12 s",
                     "  final validation (fold 0), mean Dice 0.9012"]
    assert demo.predicted_cases("done with test_0003\n") == "  done with test_0003"
    assert demo.predicted_cases("Predicting test_0003:\n") is None


def test_demo_prints_a_training_line_while_the_command_still_runs(tmp_path, capsys):
    """The command below ends only after the progress line for its epoch was shown (it waits for the file
    the callback writes): a run() that read the output only at the end would make it fail."""
    demo = _load("demo")
    marker = tmp_path / "seen"
    child = ("import pathlib, sys, time\n"
             "print('2026-12-04 10:00:01.000000: Epoch 0', flush=True)\n"
             "print('2026-12-04 10:00:09.000000: Epoch time: 8.12 s', flush=True)\n"
             f"marker = pathlib.Path({str(marker)!r})\n"
             "deadline = time.time() + 60\n"
             "while not marker.exists():\n"
             "    if time.time() > deadline:\n"
             "        sys.exit(3)\n"
             "    time.sleep(0.05)\n")
    progress = demo.EpochProgress()

    def show(line):
        message = progress(line)
        if message:
            marker.write_text(message)
        return message
    output = demo.run([sys.executable, "-c", child], dict(os.environ, PYTHONUNBUFFERED="1"), show=show)
    assert marker.read_text() == "  epoch 0: 8.12 s" and "Epoch time: 8.12 s" in output
    assert "  epoch 0: 8.12 s\n" in capsys.readouterr().out


def test_upsample_raw_dataset_in_place_once(tmp_path):
    """benchmark_qata --upsample: a raw dataset's images (bicubic) and labels (nearest) resized in place, once."""
    upsample_cases = _load("upsample_cases")
    from PIL import Image
    import numpy as np
    raw = tmp_path / "Dataset502_Tiny"
    for folder in ("imagesTr", "labelsTr", "imagesTs"):
        (raw / folder).mkdir(parents=True)
    (raw / "dataset.json").write_text(json.dumps({"file_ending": ".png", "channel_names": {"0": "X-ray"},
                                                  "labels": {"background": 0, "lesion": 1}, "numTraining": 1}))
    mask = np.zeros((6, 8), np.uint8)
    mask[1:3, :4] = 1
    Image.fromarray((np.arange(48).reshape(6, 8) * 5).astype(np.uint8)).save(raw / "imagesTr" / "a_0000.png")
    Image.fromarray((np.arange(48).reshape(6, 8) * 5).astype(np.uint8)).save(raw / "imagesTs" / "b_0000.png")
    Image.fromarray(mask).save(raw / "labelsTr" / "a.png")
    # an earlier run interrupted while staging (a half-written staging folder) and one interrupted while
    # swapping (labelsTr's originals moved aside, a staged folder in their place): both undone, nothing resized twice
    (raw / ".imagesTr.upsampling").mkdir()
    (raw / ".imagesTr.upsampling" / "a_0000.png").write_bytes(b"half")
    (raw / "labelsTr").rename(raw / ".labelsTr.original")
    (raw / "labelsTr").mkdir()
    Image.fromarray(np.zeros((12, 16), np.uint8)).save(raw / "labelsTr" / "a.png")
    done = upsample_cases.upsample_raw_dataset(raw, 2)
    assert done == {"factor": 2, "files": 3, "skipped": False}
    up = np.asarray(Image.open(raw / "labelsTr" / "a.png"))
    assert up.shape == (12, 16) and np.array_equal(up[::2, ::2], mask) and set(np.unique(up)) == {0, 1}
    assert Image.open(raw / "imagesTs" / "b_0000.png").size == (16, 12)
    assert upsample_cases.upsample_raw_dataset(raw, 2)["skipped"]  # a rerun does not upsample twice
    assert Image.open(raw / "imagesTr" / "a_0000.png").size == (16, 12)
    assert sorted(p.name for p in raw.iterdir()) == ["dataset.json", "imagesTr", "imagesTs", "labelsTr",
                                                     "upsampled.json"]  # no temporary files left
    with pytest.raises(SystemExit, match="already upsampled 2x"):
        upsample_cases.upsample_raw_dataset(raw, 3)


def test_benchmark_qata_trains_the_added_configuration(tmp_path, monkeypatch):
    """--patch-size: the configuration's name reaches nnUNetv2_train, the results folder and the report."""
    import argparse
    import torch
    bench = _load("benchmark_qata")
    assert bench.configuration_name(None) == "2d" and bench.configuration_name([224, 224]) == "2d_p224"
    assert bench.trainer_output(tmp_path, "Dataset502_Q", "T", "2d_p224") == \
        tmp_path / "nnUNet_results" / "Dataset502_Q" / "T__nnUNetPlans__2d_p224" / "fold_0"
    commands = []
    monkeypatch.setattr(bench, "run_logged", lambda cmd, *a, **k: commands.append(cmd) or 1.0)
    monkeypatch.setattr(bench, "bin_path", lambda name: name)
    args = argparse.Namespace(configuration="2d_p224", redo=False, n_proc_da=0, epochs=1, iterations=1,
                              val_iterations=1, batch_size=2, device=torch.device("cpu"), dataset_id=502,
                              patch_size=[224, 224], upsample=2)
    result = bench.train(args, dict(os.environ), tmp_path, "Dataset502_Q", "nnunet_nomirror")
    assert commands[-1][:4] == ["nnUNetv2_train", 502, "2d_p224", "0"]
    assert result["validation_folder"].endswith(os.path.join("nnUNetTrainerBench_NoMirroring__nnUNetPlans__2d_p224",
                                                             "fold_0", "validation"))
    bench.add_configuration(args, {}, tmp_path, "Dataset502_Q")
    assert commands[-1][3:] == ["add-configuration", 502, "--from", "2d", "--patch-size", 224, 224, "--name",
                                "2d_p224", "--overwrite"]
    # the report: the configuration resolved through inherits_from, and the upsampling
    pre = tmp_path / "nnUNet_preprocessed" / "Dataset502_Q"
    pre.mkdir(parents=True)
    arch = {"network_class_name": "x.PlainConvUNet", "arch_kwargs": {"n_stages": 6}, "_kw_requires_import": []}
    (pre / "nnUNetPlans.json").write_text(json.dumps({"configurations": {
        "2d": {"patch_size": [448, 448], "batch_size": 12, "architecture": arch},
        "2d_p224": {"inherits_from": "2d", "patch_size": [224, 224], "architecture": arch}}}))
    summary = bench.configuration_summary(tmp_path, "Dataset502_Q", "2d_p224")
    assert summary["patch_size"] == [224, 224] and summary["planned_batch_size"] == 12
    report = {"configuration": {"name": "2d_p224", **summary}, "upsample": {"factor": 2}}
    assert bench.configuration_markdown(report) == ("configuration `2d_p224` (patch 224x224), images upsampled 2x "
                                                    "(bicubic; labels nearest)")
    # a raw dataset upsampled earlier is not silently used at another factor
    raw = tmp_path / "nnUNet_raw" / "Dataset502_Q"
    raw.mkdir(parents=True)
    (raw / "upsampled.json").write_text(json.dumps({"factor": 2, "files": 0}))
    args.upsample = 1
    with pytest.raises(SystemExit, match="--upsample is 1"):
        bench.upsample(args, tmp_path, "Dataset502_Q")
    args.upsample = 2
    assert bench.upsample(args, tmp_path, "Dataset502_Q")["skipped"]


def _write_ablation(folder: Path, variant: str, dice: dict):
    (folder / variant).mkdir(parents=True)
    (folder / variant / "ablation_metrics.json").write_text(
        json.dumps({"per_case": [{"case": c, "dice": d} for c, d in dice.items()]}))


def test_gain_by_places_groups_cases_by_the_places_their_report_states(tmp_path, capsys):
    gain = _load("gain_by_places")
    left, both_lower = "Opacity in the lower left lung.", "Opacity in the lower left lung and the lower right lung."
    reports = {"t1": left, "t2": left, "t3": both_lower, "v1": left, "v2": "Lower left zone opacity.",
               "v3": "Opacity in the upper left lung and the middle right lung.", "v4": "Pulmonary infection."}
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "reports.json").write_text(json.dumps(reports))
    (raw / "dataset.json").write_text(json.dumps({"tgc_laterality": "image", "tgc_knowledge_domain": "chest"}))
    splits = tmp_path / "splits_final.json"
    splits.write_text(json.dumps([{"train": ["t1", "t2", "t3"], "val": ["v1", "v2", "v3", "v4"]}]))
    groups = gain.case_groups(raw, splits, 0, frequent_share=0.5)
    # two of three training cases state the lower left cell alone: frequent; v2 says it in other words
    assert groups["v1"] == ("one side", "frequent", "seen")
    assert groups["v2"] == ("one side", "frequent", "unseen")
    assert groups["v3"] == ("both sides, some zones", "never", "unseen")
    assert groups["v4"] == ("no place", "never", "unseen")
    plain, tgc = tmp_path / "plain", tmp_path / "tgc"
    _write_ablation(plain, "image_only", {"v1": 0.2, "v2": 0.4, "v3": 0.5, "v4": 0.5})
    _write_ablation(tgc, "correct", {"v1": 0.6, "v2": 0.8, "v3": 0.4, "v4": 0.5})
    assert gain.main(["--raw", str(raw), "--splits", str(splits), "--plain", str(plain), "--tgc", f"a={tgc}",
                      "--frequent", "0.5"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert "| one side | frequent | seen | 1 | 20.0 | 60.0 | +40.0 |" in rows
    assert "| both sides, some zones | never | unseen | 1 | 50.0 | 40.0 | -10.0 |" in rows


def test_gain_by_places_gates_plain_predictions_by_the_reports_place_map(tmp_path):
    """--place-map: plain nnU-Net's foreground is kept only where the report's place map allows a lesion."""
    import numpy as np
    import torch
    from PIL import Image
    from nnunet_tgc.model.place_map import PlaceMap
    from nnunet_tgc.text.places import CELLS
    gain = _load("gain_by_places")
    reports = {"left": "Opacity in the lower left lung.", "both": "Opacity in the upper left lung and the middle right lung."}
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "reports.json").write_text(json.dumps(reports))
    (raw / "dataset.json").write_text(json.dumps({"tgc_laterality": "image", "tgc_knowledge_domain": "chest",
                                                  "file_ending": ".png"}))
    place_map = PlaceMap(len(CELLS), 1)
    with torch.no_grad():  # the lower left cell: a lesion anywhere; every other cell: nowhere
        place_map.cell_regions.zero_()
        place_map.cell_regions[:, -1] = -20.0
        place_map.cell_regions[CELLS.index(("left", "lower")), -1] = 20.0
    checkpoint = tmp_path / "checkpoint.pth"
    torch.save({"network_weights": {f"place_map.{k}": v for k, v in place_map.state_dict().items()}}, checkpoint)
    labels, plain = tmp_path / "labels", tmp_path / "plain" / "image_only"
    labels.mkdir()
    plain.mkdir(parents=True)
    truth, prediction = np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)
    truth[2:6, 2:6], prediction[3:7, 3:7] = 1, 1
    for case in reports:
        Image.fromarray(truth).save(labels / f"{case}.png")
        Image.fromarray(prediction).save(plain / f"{case}.png")
    dice = gain.gated_by_place_map(checkpoint, raw, labels, plain.parent, list(reports), 0.1)
    assert dice["left"] == pytest.approx(2 * 9 / 32)  # the map allows everything: plain's own Dice
    assert dice["both"] == 0.0  # the map rules every pixel out
