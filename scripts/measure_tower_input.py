"""What the frozen ViT reads: TGC-Net's tower input mapping against the tower's own preprocessing, on QaTa.

For the held-out QaTa images (``Val_Folder/img``, 8-bit grayscale) this compares, per RGB channel, the mean
and std over all pixels of all images of

* ``reference``: the tower's own preprocessing of the image file (open_clip's ``image_transform``: RGB,
  ``ToTensor``, ``Normalize`` with the tower's preprocess mean/std);
* ``mapped``: nnU-Net's normalisation of the same image (per-image z-score, as ``ZScoreNormalization``
  does for natural images; or ``CTNormalization``), then ``TowerInput`` built by
  ``tower_input_from_plans`` from the dataset statistics nnU-Net's fingerprint computes on the training
  images (``Train_Folder``: foreground intensities of the masks, sampled as
  ``DatasetFingerprintExtractor`` samples them);
* ``before``: the normalised image repeated to three channels (what the ViT read before the mapping);
* for the z-score, ``inverse with the foreground std``: the literal inverse ``z * std + mean`` with the
  fingerprint's (foreground) statistics, the alternative the mapping does not use (its contrast is the
  lesions' spread, not the image's).

Targets: channel means within 0.15 of the reference, std within 20% (the pretrained tower then reads inputs
with the statistics it was trained on). Prints JSON.

    python scripts/measure_tower_input.py --out tower_input.json   # the shared QaTa subset (--qata elsewhere)
"""
import argparse
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import shared_data_dir  # noqa: E402

from nnunet_tgc.model.backbones import BIOMEDCLIP_PREPROCESS  # noqa: E402
from nnunet_tgc.model.tower_input import OPENAI_MEAN, OPENAI_STD, ChannelToUnit, TowerInput  # noqa: E402
from nnunet_tgc.nnunet.architecture import tower_input_from_plans  # noqa: E402

MEAN_TOLERANCE = 0.15
STD_TOLERANCE = 0.20
TOWERS = {"ViT-B-16 (openai)": (OPENAI_MEAN, OPENAI_STD),
          "BiomedCLIP": (BIOMEDCLIP_PREPROCESS["mean"], BIOMEDCLIP_PREPROCESS["std"])}


def _grey(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), dtype=np.float32)


def fingerprint_statistics(train_folder: Path, limit: int = 0) -> dict:
    """nnU-Net's foreground_intensity_properties_per_channel of the training images (one channel)."""
    from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor
    images = sorted((train_folder / "img").glob("*.png"))[:limit or None]
    samples = []
    for image_path in images:
        mask = _grey(train_folder / "labelcol" / f"mask_{image_path.name}") > 0
        # nnU-Net's layout: (channels, z, y, x) images and (1, z, y, x) segmentation
        intensities, _ = DatasetFingerprintExtractor.collect_foreground_intensities(
            mask[None, None].astype(np.int16), _grey(image_path)[None, None])
        samples.append(np.asarray(intensities[0], dtype=np.float64))
    values = np.concatenate(samples)
    p005, median, p995 = np.percentile(values, (0.5, 50.0, 99.5))
    return {"mean": float(values.mean()), "median": float(median), "std": float(values.std()),
            "min": float(values.min()), "max": float(values.max()), "percentile_99_5": float(p995),
            "percentile_00_5": float(p005), "cases": len(images)}


def nnunet_normalise(image: np.ndarray, scheme: str, properties: dict) -> np.ndarray:
    from nnunetv2.preprocessing.normalization.default_normalization_schemes import (CTNormalization,
                                                                                    ZScoreNormalization)
    cls = {"ZScoreNormalization": ZScoreNormalization, "CTNormalization": CTNormalization}[scheme]
    return cls(use_mask_for_norm=False, intensityproperties=properties).run(image.copy()[None])[0]


def _channel_stats(batch: torch.Tensor) -> dict:
    flat = batch.double().transpose(0, 1).reshape(3, -1)
    return {"mean": [round(v, 4) for v in flat.mean(1).tolist()], "std": [round(v, 4) for v in flat.std(1).tolist()]}


def _compare(stats: dict, reference: dict, per_pixel: float) -> dict:
    mean_diff = [abs(a - b) for a, b in zip(stats["mean"], reference["mean"])]
    std_ratio = [a / b for a, b in zip(stats["std"], reference["std"])]
    return {**stats, "max_mean_difference": round(max(mean_diff), 4),
            "std_ratio": [round(r, 4) for r in std_ratio],
            "mean_abs_pixel_difference": round(per_pixel, 4),
            "within_target": max(mean_diff) <= MEAN_TOLERANCE and all(abs(r - 1) <= STD_TOLERANCE for r in std_ratio)}


def measure(qata: Path, max_train: int = 0, max_val: int = 0) -> dict:
    import open_clip
    properties = fingerprint_statistics(qata / "Train_Folder", max_train)
    plans = SimpleNamespace(foreground_intensity_properties_per_channel={"0": properties})
    val_images = sorted((qata / "Val_Folder" / "img").glob("*.png"))[:max_val or None]
    result = {"training_cases": properties.pop("cases"), "validation_images": len(val_images),
              "foreground_intensity_properties": {k: round(v, 3) for k, v in properties.items()},
              "targets": {"max_mean_difference": MEAN_TOLERANCE, "std_ratio": [1 - STD_TOLERANCE, 1 + STD_TOLERANCE]},
              "towers": {}}
    for tower, (mean, std) in TOWERS.items():
        transform = open_clip.image_transform(224, is_train=False, mean=mean, std=std)
        reference = torch.stack([transform(Image.open(p)) for p in val_images])
        ref_stats = _channel_stats(reference)
        rows = {"reference (open_clip preprocessing)": {**ref_stats}}
        for scheme in ("ZScoreNormalization", "CTNormalization"):
            config = SimpleNamespace(normalization_schemes=[scheme])
            mapping = TowerInput(tower_input_from_plans(plans, config, 1), mean, std)
            normalised = torch.from_numpy(np.stack([nnunet_normalise(_grey(p), scheme, properties)
                                                    for p in val_images]))[:, None]
            with torch.no_grad():
                mapped = mapping(normalised)
            batches = [("mapped", mapped), ("before (normalised image repeated)", normalised.expand(-1, 3, -1, -1))]
            if scheme == "ZScoreNormalization":
                literal = TowerInput([ChannelToUnit.window(properties["min"], properties["max"], properties["mean"],
                                                           properties["std"])], mean, std)
                with torch.no_grad():
                    batches.append(("inverse with the foreground std", literal(normalised)))
            for label, batch in batches:
                per_pixel = (batch - reference).abs().mean().item()
                rows[f"{scheme}: {label}"] = _compare(_channel_stats(batch), ref_stats, per_pixel)
        result["towers"][tower] = rows
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = shared_data_dir() / "QaTa-COV19-subset"
    parser.add_argument("--qata", type=Path, default=default,
                        help="the QaTa-COV19 folder holding Train_Folder/{img,labelcol} and Val_Folder/img "
                             f"(default {default}: NNUNET_TGC_SHARED_DATA, else shared/data beside the repository)")
    parser.add_argument("--max-train", type=int, default=0, help="training images for the statistics (0: all)")
    parser.add_argument("--max-val", type=int, default=0, help="validation images measured (0: all)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    result = measure(args.qata, args.max_train, args.max_val)
    # one line per row of numbers
    text = json.dumps(result, indent=2)
    text = re.sub(r"\[\s+([^\[\]]*?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
