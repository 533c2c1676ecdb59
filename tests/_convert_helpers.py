"""Shared helpers of the converter and evaluation tests (imported, not a conftest)."""
import argparse
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run_cli(argv: list) -> int:
    """Run ``nnunet-tgc convert|evaluate ...`` through the sub-command modules' own parsers."""
    from nnunet_tgc.convert import cli as convert_cli
    from nnunet_tgc.evaluation import cli as evaluation_cli
    parser = argparse.ArgumentParser(prog="nnunet-tgc")
    subparsers = parser.add_subparsers(dest="command", required=True)
    convert_cli.add_parser(subparsers)
    evaluation_cli.add_parser(subparsers)
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


@pytest.fixture
def nnunet_dirs(tmp_path, monkeypatch):
    """Fresh nnUNet_raw / nnUNet_preprocessed / nnUNet_results folders in the environment."""
    dirs = {name: tmp_path / name for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")}
    for name, path in dirs.items():
        path.mkdir()
        monkeypatch.setenv(name, str(path))
    return dirs["nnUNet_raw"], dirs["nnUNet_preprocessed"]


def save_image(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def square_mask(size=(16, 16), value=255, box=(4, 10)) -> np.ndarray:
    mask = np.zeros(size, dtype=np.uint8)
    mask[box[0]:box[1], box[0]:box[1]] = value
    return mask


def gray_image(size=(16, 16), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)


def make_pairs(image_dir: Path, mask_dir: Path, names: list, size=(16, 16), mask_prefix="",
               image_ext=".png") -> None:
    """A grayscale image and a 0/255 mask for every stem in ``names``."""
    for index, name in enumerate(names):
        save_image(image_dir / f"{name}{image_ext}", gray_image(size, index))
        save_image(mask_dir / f"{mask_prefix}{name}.png", square_mask(size))


def write_csv(path: Path, rows: list, header=("Image", "Description"), sep=",") -> Path:
    import csv
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=sep)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def load_json(path: Path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)
