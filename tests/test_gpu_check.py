"""scripts/gpu_check.py in its CPU smoke mode: the whole path (synthetic data, nnU-Net's planning, both trainers,
the stock predictor) runs and the JSON holds every number the GPU run reports, so that the one GPU run has
nothing left to fix."""
import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.py"


def test_gpu_check_tiny_on_the_cpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--tiny", "--work", str(tmp_path / "work"),
                           "--json", str(out)], env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["not_run"] == [] and result["settings"]["tiny"] and result["settings"]["device"] == "cpu"
    plain, tgc = result["networks"]["nnunet"], result["networks"]["tgc_vitb16"]
    assert plain["trainer"] == "nnUNetTrainer" and tgc["trainer"] == "nnUNetTrainerTGC_tiny"
    for entry in (plain, tgc):
        assert entry["batch_size"] == 2 and entry["patch_size"] == [64, 64]  # the same plans for both
        assert entry["train"]["median_s_per_iteration"] > 0 and entry["train"]["timed_iterations"] == 1
        assert entry["predict"]["cases"] == 1 and entry["predict"]["s_per_case"] > 0
        assert entry["peak_gpu_memory_train_bytes"] is None  # no GPU here
    assert tgc["predict"]["predictor"] == "TGCPredictor"  # the stock predictor, adopted by the TGC trainer
    ratios = result["ratios_tgc_over_plain"]
    assert ratios["train_s_per_iteration"] > 0 and ratios["predict_s_per_case"] > 0
    assert result["within_targets"] is None  # the smoke mode measures nothing
