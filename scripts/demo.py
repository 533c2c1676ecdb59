#!/usr/bin/env python
"""The nnunet_tgc demo, on CPU in a few minutes, through nnU-Net's stock commands.

1. generate a synthetic dataset in which the report decides the answer (two identical lesions per
   image, the report names one), 2. check its reports, 3. plan and preprocess, 4. train the tiny
   TGC-Net (fold 0), 5. predict the test images with their reports and with the *other* side's
   report, 6. evaluate both against the matching ground truth, 7. draw a picture.

Usage: python scripts/demo.py [--out demo_output] [--device cpu]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DATASET_ID = 990
TRAINER = "nnUNetTrainerTGC_tiny_demo"


def step(title):
    print(f"\n=== {title}", flush=True)


def run(cmd, env, show=None):
    """Run ``cmd`` and return its output (stdout and stderr). Its lines are read as they come: ``show(line)``
    may return a progress line to print at once (the epochs of a training); on failure the output's end
    is printed."""
    print("$ " + " ".join(map(str, cmd)), flush=True)
    start = time.perf_counter()
    lines = []
    with subprocess.Popen([str(c) for c in cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as proc:
        for line in proc.stdout:
            lines.append(line)
            message = show(line) if show else None
            if message:
                print(message, flush=True)
    output = "".join(lines)
    if proc.returncode != 0:
        print(output[-5000:])
        sys.exit(f"demo: {cmd[0]} failed with exit code {proc.returncode}")
    print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    return output


class EpochProgress:
    """nnU-Net's own lines of a training, read as they come -> one progress line per finished epoch
    (``Epoch N``, ``train_loss``, ``val_loss``, ``Pseudo dice``, ``Epoch time``), the fit before the first
    epoch and the final validation's Dice."""

    LINE = re.compile(r"(?:^|: )(Epoch (\d+)|train_loss (\S+)|val_loss (\S+)|Pseudo dice \[([^\]]*)\]|"
                      r"Epoch time: ([\d.]+) s|Mean Validation Dice: *(\S+))\s*$")

    def __init__(self):
        self.epoch, self.values = None, {}

    def __call__(self, line: str):
        if "map fitted" in line:  # the report's map, fitted to the training masks before epoch 0
            return "  " + line.split(": ", 1)[-1].strip()
        m = self.LINE.search(line.rstrip("\n"))
        if not m:
            return None
        epoch, train_loss, val_loss, dice, seconds, final = m.groups()[1:]
        if epoch is not None:
            self.epoch, self.values = int(epoch), {}
        elif train_loss is not None:
            self.values["train loss"] = train_loss
        elif val_loss is not None:
            self.values["val loss"] = val_loss
        elif dice is not None:
            self.values["pseudo Dice"] = dice.replace("np.float32(", "").replace(")", "")
        elif seconds is not None and self.epoch is not None:
            parts = ", ".join(f"{k} {v}" for k, v in self.values.items())
            return f"  epoch {self.epoch}: {parts}{', ' if parts else ''}{seconds} s"
        elif final is not None:
            return f"  final validation (fold 0), mean Dice {final}"
        return None


def predicted_cases(line: str):
    """nnU-Net's prediction progress: one line per case as it is written."""
    return f"  {line.strip()}" if line.startswith("done with ") else None


def environment(out: Path) -> dict:
    from nnunet_tgc.nnunet.env import ext_trainer_dir
    env = dict(os.environ)
    env.update(nnUNet_raw=str(out / "nnUNet_raw"), nnUNet_preprocessed=str(out / "nnUNet_preprocessed"),
               nnUNet_results=str(out / "nnUNet_results"), nnUNet_extTrainer=str(ext_trainer_dir()),
               nnUNet_compile="f", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")  # lines as they come
    env.pop("nnUNet_TGC_clip_weights", None)  # the tiny backbone is built from a fixed seed
    return env


def swapped_inputs(dataset: Path, folder: Path) -> list:
    """A copy of imagesTs whose reports name the other lesion, and the masks that go with them."""
    from nnunet_tgc.synthetic import load_cases, opposite_mask, opposite_report
    from nnunet_tgc.text.reports import load_reports, save_reports
    from PIL import Image
    shutil.copytree(dataset / "imagesTs", folder / "imagesTs_other_report")
    cases = load_cases(dataset)
    unilateral = [c for c in sorted(load_reports(dataset / "imagesTs" / "reports.json"))
                  if cases[c]["target"] in ("left", "right")]
    for case in sorted(load_reports(dataset / "imagesTs" / "reports.json")):
        if case not in unilateral:
            (folder / "imagesTs_other_report" / f"{case}_0000.png").unlink()
    save_reports({c: opposite_report(dataset, c) for c in unilateral},
                 folder / "imagesTs_other_report" / "reports.json")
    (folder / "labelsTs_other_report").mkdir()
    for c in unilateral:
        Image.fromarray(opposite_mask(dataset, c)).save(folder / "labelsTs_other_report" / f"{c}.png")
    return unilateral


def picture(dataset: Path, out: Path, cases: list, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image
    from nnunet_tgc.text.reports import load_reports
    right = load_reports(dataset / "imagesTs" / "reports.json")
    wrong = load_reports(out / "imagesTs_other_report" / "reports.json")
    fig, axes = plt.subplots(len(cases), 4, figsize=(13, 3.1 * len(cases)))
    for row, case in zip(np.atleast_2d(axes), cases):
        image = np.asarray(Image.open(dataset / "imagesTs" / f"{case}_0000.png"))
        panels = [(image, None, f"{case}"),
                  (image, np.asarray(Image.open(dataset / "labelsTs" / f"{case}.png")), "ground truth"),
                  (image, np.asarray(Image.open(out / "pred_report" / f"{case}.png")),
                   "prediction, its report:\n" + right[case]),
                  (image, np.asarray(Image.open(out / "pred_other_report" / f"{case}.png")),
                   "prediction, the OTHER report:\n" + wrong[case])]
        for ax, (img, mask, title) in zip(row, panels):
            ax.imshow(img, cmap="gray")
            if mask is not None:
                ax.imshow(np.ma.masked_where(mask == 0, mask), cmap="autumn", alpha=0.6, vmin=0, vmax=1)
            ax.set_title(_wrap(title), fontsize=8)
            ax.axis("off")
    fig.suptitle("TGC-Net (tiny, CPU): the same image, two reports, two answers", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _wrap(text: str, width: int = 42) -> str:
    import textwrap
    return "\n".join(textwrap.wrap(text, width))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo_output"))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--n-train", type=int, default=64)
    parser.add_argument("--n-test", type=int, default=12)
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    env = environment(out)
    bin_dir = Path(sys.executable).parent
    start = time.perf_counter()

    step("1. synthetic dataset: two identical lesions per image, the report names the one to segment")
    from nnunet_tgc.synthetic import make_text_decides_dataset
    dataset = make_text_decides_dataset(out / "nnUNet_raw", dataset_id=DATASET_ID, n_train=args.n_train,
                                        n_test=args.n_test)
    print(f"  {dataset}")
    step("2. check the reports")
    print(run([bin_dir / "nnunet-tgc", "check", DATASET_ID], env))
    step("3. nnU-Net planning and preprocessing (stock command)")
    run([bin_dir / "nnUNetv2_plan_and_preprocess", "-d", DATASET_ID, "-c", "2d", "-np", "2",
         "--verify_dataset_integrity"], env)
    step(f"4. training {TRAINER} on fold 0 (stock nnUNetv2_train)")
    run([bin_dir / "nnUNetv2_train", DATASET_ID, "2d", 0, "-tr", TRAINER, "-device", args.device], env,
        show=EpochProgress())
    step("5. prediction with each case's report, then with the other side's report (stock nnUNetv2_predict)")
    cases = swapped_inputs(dataset, out)
    for inp, name in ((dataset / "imagesTs", "pred_report"), (out / "imagesTs_other_report", "pred_other_report")):
        run([bin_dir / "nnUNetv2_predict", "-i", inp, "-o", out / name, "-d", DATASET_ID, "-c", "2d",
             "-tr", TRAINER, "-f", 0, "-device", args.device], env, show=predicted_cases)
    step("6. evaluation (per-image Dice/IoU as in LViT, pooled Dice/IoU, nnU-Net's summary)")
    results = {}
    for name, gt in (("pred_report", dataset / "labelsTs"), ("pred_other_report", out / "labelsTs_other_report")):
        # metrics_tgc.json and metrics_tgc_nnunet_summary.json (nnU-Net's metrics) land in the prediction folder
        print(run([bin_dir / "nnunet-tgc", "evaluate", out / name, gt], env))
        results[name] = json.loads((out / name / "metrics_tgc.json").read_text())
    step("7. picture")
    picture(dataset, out, cases[:4], out / "demo.png")
    print(f"  {out / 'demo.png'}")
    print(f"\nTest Dice (per image, mean) with each case's report: {100 * results['pred_report']['mean_dice']:.2f}; "
          f"with the other side's report, against the other lesion: "
          f"{100 * results['pred_other_report']['mean_dice']:.2f}")
    print(f"Demo finished in {time.perf_counter() - start:.0f} s. Results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
