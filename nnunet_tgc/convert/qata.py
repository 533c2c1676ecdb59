"""QaTa-COV19 with the LViT text annotations, in either of the two layouts papers distribute.

LViT layout (LViT, Li et al. TMI 2023)::

    Train_Folder/img/<name>.png   Train_Folder/labelcol/mask_<name>.png   Train_Folder/Train_text.xlsx
    Val_Folder/...                Test_Folder/...                          (Val_text.xlsx, Test_text.xlsx)

LanGuideMedSeg layout (Zhong et al. MICCAI 2023)::

    prompt/train.csv  prompt/test.csv                 columns Image (mask file name), Description
    Train/Images/<name>.png  Train/GTs/mask_<name>.png
    Test/Images/...          Test/GTs/...

LanGuideMedSeg has no validation file: its code trains on the first 80 % of ``train.csv`` rows
and validates on the rest, which is what the official split reproduces for that layout.
"""
from pathlib import Path
from typing import Optional

from .common import Collected, ConversionError, list_image_files
from .pairing import pair_cases
from .tables import read_table

IMAGE_COLUMNS = ("Image", "image")
TEXT_COLUMNS = ("Description", "description", "text", "Text")
LVIT_FOLDERS = (("train", "Train_Folder", "Train_text"), ("val", "Val_Folder", "Val_text"),
                ("test", "Test_Folder", "Test_text"))
TABLE_SUFFIXES = (".xlsx", ".csv")
LANGUIDE_TRAIN_FRACTION = 0.8  # utils/dataset.py of LanGuideMedSeg: rows[:int(0.8 * n)] train

DESCRIPTION = ("QaTa-COV19-v2 chest X-rays with COVID-19 infection masks and the LViT per-image text "
               "annotations. Laterality words (left/right) refer to the image's left/right.")
REFERENCE = ("Degerli et al., QaTa-COV19 (Qatar University / Tampere University); text: Li et al., "
             "LViT, IEEE TMI 2023")


def detect_layout(source: Path) -> str:
    if (source / "Train_Folder").is_dir():
        return "lvit"
    if (source / "prompt" / "train.csv").is_file():
        return "csv"
    raise ConversionError(f"{source}: neither the LViT layout (Train_Folder/) nor the LanGuideMedSeg "
                          f"layout (prompt/train.csv) was found; point at the dataset root")


def collect_qata(source: Path, layout: str = "auto", limit: Optional[int] = None,
                 image_columns=IMAGE_COLUMNS, text_columns=TEXT_COLUMNS) -> Collected:
    source = Path(source)
    if layout == "auto":
        layout = detect_layout(source)
    if layout == "lvit":
        return _collect_lvit(source, limit, image_columns, text_columns)
    if layout == "csv":
        return _collect_languide(source, limit, image_columns, text_columns)
    raise ConversionError(f"unknown QaTa layout {layout!r}; use auto, lvit or csv")


def _collect_lvit(source: Path, limit, image_columns, text_columns) -> Collected:
    collected = Collected()
    for split, folder_name, table_stem in LVIT_FOLDERS:
        folder = source / folder_name
        if not folder.is_dir():
            if split == "train":
                raise ConversionError(f"{folder}: training folder not found")
            continue
        rows = read_table(_find_table(folder, table_stem), image_columns, text_columns, split)
        collected.extend(_pair_folder(rows, folder / "img", folder / "labelcol", limit))
    return collected


def _find_table(folder: Path, stem: str) -> Path:
    for suffix in TABLE_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    raise ConversionError(f"{folder}: no report table {stem}.xlsx or {stem}.csv")


def _collect_languide(source: Path, limit, image_columns, text_columns) -> Collected:
    collected = Collected()
    for split, folder_name, table_name in (("train", "Train", "train.csv"), ("test", "Test", "test.csv")):
        table = source / "prompt" / table_name
        if not table.is_file():
            if split == "train":
                raise ConversionError(f"{table}: training table not found")
            continue
        rows = read_table(table, image_columns, text_columns, split)
        if split == "train":
            for row in rows[int(LANGUIDE_TRAIN_FRACTION * len(rows)):]:
                row.split = "val"
        folder = source / folder_name
        collected.extend(_pair_folder(rows, folder / "Images", folder / "GTs", limit))
    return collected


def _pair_folder(rows: list, image_folder: Path, mask_folder: Path, limit) -> Collected:
    if limit is not None:
        rows = rows[:limit]
    return pair_cases(list_image_files(image_folder), list_image_files(mask_folder), rows,
                      image_folder, mask_folder, restrict_to_rows=limit is not None)
