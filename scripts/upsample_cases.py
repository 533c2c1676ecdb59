#!/usr/bin/env python
"""Write a labelled PNG folder upsampled by an integer factor, with its reports: images larger than the
2d patch, so that nnU-Net's prediction tiles them with sliding windows.

``nnunet-tgc ablate MODEL -i OUT/images -l OUT/labels -f 0`` on the result measures whether a model's
text map follows the whole image (every window told where its pixels lie) or each window (a report's
"left" then lands on the left of every window). Images are resized bicubically, masks by nearest
neighbour; the reports file is copied as it is.

Example::

    python scripts/upsample_cases.py WORK/val_images WORK/gt_val_fold0 WORK/upsampled_2x --factor 2
"""
import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image


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
        image, label = Image.open(image_file), Image.open(label_file)
        size = (image.width * factor, image.height * factor)
        image.resize(size, Image.BICUBIC).save(out / "images" / image_file.name)
        up = Image.fromarray(np.asarray(label)).resize(size, Image.NEAREST)
        up.save(out / "labels" / label_file.name)
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
