#!/usr/bin/env python
"""Write a labelled PNG folder upsampled by an integer factor, with its reports: images larger than the
2d patch, so that nnU-Net's prediction tiles them with sliding windows.

``nnunet-tgc ablate MODEL -i OUT/images -l OUT/labels -f 0`` on the result measures whether a model's
text map follows the whole image (every window told where its pixels lie) or each window (a report's
"left" then lands on the left of every window). Images are resized bicubically, masks by nearest
neighbour; the reports file is copied as it is. ``upsample_raw_dataset`` resizes an nnU-Net raw dataset
in place (``benchmark_qata.py --upsample N``), with the same per-file resizing (``resize_case_file``).

Example::

    python scripts/upsample_cases.py WORK/val_images WORK/gt_val_fold0 WORK/upsampled_2x --factor 2
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from nnunet_tgc.atomic import write_json_atomically


MARKER = "upsampled.json"  # in a raw dataset folder upsampled in place: the factor, so it happens once


def resize_case_file(src: Path, dst: Path, factor: int, label: bool) -> None:
    """``src`` resized by ``factor`` into ``dst`` (may be ``src``): images bicubically, label maps by nearest
    neighbour (values kept). Written to a temporary file beside ``dst``, then moved into place."""
    try:
        image = Image.open(src)
        image.load()
    except OSError as err:
        sys.exit(f"error: cannot read {src}: {err}")
    size = (image.width * factor, image.height * factor)
    if label:
        resized = Image.fromarray(np.asarray(image)).resize(size, Image.NEAREST)
    else:
        resized = image.resize(size, Image.BICUBIC)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    try:
        resized.save(tmp, format=image.format or "PNG")
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def upsample_raw_dataset(raw: Path, factor: int) -> dict:
    """Resize every image of an nnU-Net raw dataset's imagesTr/imagesTs (bicubic) and every label of
    labelsTr/labelsTs (nearest) by ``factor``, in place, once: ``raw/upsampled.json`` records the factor,
    and a second call with the same factor does nothing. Returns ``{"factor", "files", "skipped"}``.

    Each folder is resized into a staging folder beside it, and the staged folders replace the originals
    only when all are complete, so an interrupted run leaves the dataset as it was (the next run restores
    any half-swapped folder and starts again), never some files resized once and others twice."""
    if factor < 2:
        sys.exit(f"error: upsampling factor {factor}: must be 2 or more")
    marker = raw / MARKER
    if marker.is_file():
        done = json.loads(marker.read_text())
        if done.get("factor") != factor:
            sys.exit(f"error: {raw} was already upsampled {done.get('factor')}x ({marker}); convert it again "
                     f"(or use another work folder) to upsample {factor}x")
        return {**done, "skipped": True}
    dataset_json = raw / "dataset.json"
    if not dataset_json.is_file():
        sys.exit(f"error: {dataset_json} missing: {raw} is not an nnU-Net raw dataset")
    ending = json.loads(dataset_json.read_text())["file_ending"]
    if ending.lower() not in (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg"):
        sys.exit(f"error: {dataset_json}: file_ending {ending!r} is not a 2D image format this upsampling handles")
    folders = [(raw / name, label) for name, label in (("imagesTr", False), ("imagesTs", False),
                                                        ("labelsTr", True), ("labelsTs", True))]
    for folder, _ in folders:
        _undo_interrupted(folder)
    folders = [(folder, label) for folder, label in folders if folder.is_dir()]
    n = 0
    for folder, label in folders:
        stage = _beside(folder, "upsampling")
        stage.mkdir()
        for f in sorted(folder.iterdir()):
            if f.name.endswith(ending):
                resize_case_file(f, stage / f.name, factor, label)
                n += 1
            else:
                shutil.copy2(f, stage / f.name)
    for folder, _ in folders:
        os.replace(folder, _beside(folder, "original"))
        os.replace(_beside(folder, "upsampling"), folder)
    record = {"factor": factor, "files": n}
    write_json_atomically(record, marker)
    for folder, _ in folders:
        shutil.rmtree(_beside(folder, "original"))
    return {**record, "skipped": False}


def _beside(folder: Path, what: str) -> Path:
    return folder.parent / f".{folder.name}.{what}"


def _undo_interrupted(folder: Path) -> None:
    """What an interrupted earlier run left of ``folder``: its staging folder goes, and where the originals had
    been moved aside already, they come back."""
    stage, original = _beside(folder, "upsampling"), _beside(folder, "original")
    if stage.is_dir():
        shutil.rmtree(stage)
    if original.is_dir():
        if folder.is_dir():
            shutil.rmtree(folder)
        os.replace(original, folder)


def upsample_folder(images: Path, labels: Path, out: Path, factor: int) -> int:
    if factor < 2:
        sys.exit("error: --factor must be 2 or more")
    reports = images / "reports.json"
    if not reports.is_file():
        sys.exit(f"error: {reports} missing: the input folder must hold the cases' reports")
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    n = 0
    for image_file in sorted(images.glob("*_0000.png")):
        case = image_file.name[: -len("_0000.png")]
        label_file = labels / f"{case}.png"
        if not label_file.is_file():
            sys.exit(f"error: no label {label_file} for image {image_file}")
        resize_case_file(image_file, out / "images" / image_file.name, factor, label=False)
        resize_case_file(label_file, out / "labels" / label_file.name, factor, label=True)
        n += 1
    shutil.copyfile(reports, out / "images" / "reports.json")
    return n


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", type=Path, help="folder of CASE_0000.png images with reports.json")
    p.add_argument("labels", type=Path, help="folder of CASE.png label maps")
    p.add_argument("out", type=Path, help="output folder (gets images/ and labels/)")
    p.add_argument("--factor", type=int, default=2)
    args = p.parse_args(argv)
    n = upsample_folder(args.images, args.labels, args.out, args.factor)
    print(f"{n} cases upsampled {args.factor}x into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
