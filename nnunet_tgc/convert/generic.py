"""Any folder of images + masks + a report table.

Images may be PNG, JPEG, TIFF, BMP or NIfTI volumes (one report per volume); masks are matched
by file stem, with or without a ``mask_`` prefix, and may live in the image folder when they
carry that prefix.  The table (CSV, TSV, XLSX or JSON) names each image and gives its report;
an optional split column (train/val/test) places cases, otherwise all are training cases.
"""
from pathlib import Path
from typing import Optional

from .common import MASK_PREFIX, Collected, list_image_files
from .pairing import pair_cases
from .tables import read_table

IMAGE_COLUMNS = ("Image", "image", "filename", "file")
TEXT_COLUMNS = ("Description", "description", "text", "Text", "report", "Report")


def collect_generic(images: Path, masks: Path, table: Path, image_column: Optional[str] = None,
                    text_column: Optional[str] = None, split_column: Optional[str] = None,
                    limit: Optional[int] = None) -> Collected:
    images, masks = Path(images), Path(masks)
    rows = read_table(Path(table), [image_column] if image_column else IMAGE_COLUMNS,
                      [text_column] if text_column else TEXT_COLUMNS, "train", split_column)
    if limit is not None:
        rows = rows[:limit]
    image_files = list_image_files(images)
    mask_files = list_image_files(masks)
    if images.resolve() == masks.resolve():
        # one folder: mask_ files are masks, the rest are images
        image_files = [p for p in image_files if not p.name.startswith(MASK_PREFIX)]
        mask_files = [p for p in mask_files if p.name.startswith(MASK_PREFIX)]
    return pair_cases(image_files, mask_files, rows, images, masks,
                      restrict_to_rows=limit is not None)
