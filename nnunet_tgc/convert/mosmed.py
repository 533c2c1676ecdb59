"""MosMedData+ (Kaggle "covid19-ct-scan-lesion-segmentation-dataset") with the LViT texts.

Images are ``frames/<name>.png`` and ``masks/<name>.png`` (a ``mask_`` prefix is accepted too);
all splits share those folders and the split comes from which LViT text file names the image:
``Train_text*``, ``Val_text*``, ``Test_text*`` (semicolon-separated ``Image;text`` CSVs such as
``Train_text_MosMedData+ 1(in).csv``, or workbooks).
"""
from pathlib import Path
from typing import Optional

from .common import Collected, ConversionError, list_image_files
from .pairing import pair_cases
from .tables import read_table

IMAGE_COLUMNS = ("Image", "image")
TEXT_COLUMNS = ("text", "Text", "Description", "description")
TEXT_PREFIXES = (("train", "train_text"), ("val", "val_text"), ("test", "test_text"))
TEXT_SUFFIXES = (".csv", ".xlsx", ".tsv")

DESCRIPTION = ("MosMedData+ lung CT slices with COVID-19 infection masks and the LViT per-image text "
               "annotations.")
REFERENCE = ("Morozov et al., MosMedData; Kaggle covid19-ct-scan-lesion-segmentation-dataset; "
             "text: Li et al., LViT, IEEE TMI 2023")


def find_text_files(text_dir: Path) -> dict:
    """``{split: path}`` of the LViT text files in ``text_dir`` (train is required)."""
    if not text_dir.is_dir():
        raise ConversionError(f"{text_dir}: text folder not found")
    found = {}
    for split, prefix in TEXT_PREFIXES:
        matches = sorted(p for p in text_dir.iterdir()
                         if p.name.lower().startswith(prefix) and p.suffix.lower() in TEXT_SUFFIXES)
        if len(matches) > 1:
            raise ConversionError(f"{text_dir}: several {split} text files ({[m.name for m in matches]}); "
                                  f"name one with --{split}-text")
        if matches:
            found[split] = matches[0]
    if "train" not in found:
        raise ConversionError(f"{text_dir}: no Train_text*.csv/.xlsx file; name it with --train-text")
    return found


def collect_mosmed(source: Path, frames: Optional[Path] = None, masks: Optional[Path] = None,
                   text_files: Optional[dict] = None, limit: Optional[int] = None,
                   image_columns=IMAGE_COLUMNS, text_columns=TEXT_COLUMNS) -> Collected:
    """Cases of MosMedData+; ``text_files`` maps split to table (default: found in ``source``)."""
    source = Path(source)
    frames = Path(frames) if frames else source / "frames"
    masks = Path(masks) if masks else source / "masks"
    text_files = text_files or find_text_files(source)
    rows = []
    for split, table in text_files.items():
        split_rows = read_table(Path(table), image_columns, text_columns, split)
        rows.extend(split_rows[:limit] if limit is not None else split_rows)
    return pair_cases(list_image_files(frames), list_image_files(masks), rows, frames, masks,
                      restrict_to_rows=limit is not None)
