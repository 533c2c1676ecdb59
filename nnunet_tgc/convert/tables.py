"""Reading report tables (CSV, TSV, XLSX, JSON) into :class:`ReportRow` lists."""
import json
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from .common import ConversionError, ReportRow

TABLE_EXTENSIONS = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".json")


def read_table(path: Path, image_columns: Sequence[str], text_columns: Sequence[str], split: str,
               split_column: Optional[str] = None) -> list:
    """Rows of ``path`` as :class:`ReportRow`; the first present name of each column list is used.

    With ``split_column`` every row's split is read from that column (values train/val/test)
    instead of being ``split``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"{path}: report table not found")
    frame = _read_frame(path)
    image_col = _pick_column(frame, image_columns, path, "image name")
    text_col = _pick_column(frame, text_columns, path, "report text")
    if split_column is not None:
        _pick_column(frame, [split_column], path, "split")
    rows = []
    for index, record in enumerate(frame.to_dict("records")):
        row_split = _row_split(record, split_column, split, path, index)
        rows.append(ReportRow(name=str(record[image_col]).strip(), text=str(record[text_col]),
                              split=row_split, table=path, row=index + 2))
    return rows


def _read_frame(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            # dtype=str and no NA guessing: a report reading "None" or "NA" stays text
            return pd.read_excel(path, dtype=str, keep_default_na=False)
        if suffix == ".json":
            return _read_json(path)
        if suffix in (".csv", ".tsv", ".txt"):
            sep = "\t" if suffix == ".tsv" else _sniff_separator(path)
            return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise ConversionError(f"{path}: cannot read the table ({err}); save it as UTF-8 CSV/TSV, "
                              f"XLSX or JSON") from err
    raise ConversionError(f"{path}: unsupported table type {suffix!r}; use one of {TABLE_EXTENSIONS}")


def _sniff_separator(path: Path) -> str:
    """Separator from the header line only: report texts are full of commas (MosMedData+'s
    ``Image;text`` files), so sniffing the body would guess wrong."""
    with open(path, encoding="utf-8-sig") as handle:
        header = handle.readline()
    counts = {sep: header.count(sep) for sep in (";", "\t", ",")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _read_json(path: Path) -> pd.DataFrame:
    """A list of row objects, or one object ``{image name: report}``."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
        return pd.DataFrame({"Image": list(data), "Description": list(data.values())})
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return pd.DataFrame(data).fillna("").astype(str)  # null report -> empty -> reported
    raise ConversionError(f"{path}: JSON tables must be a list of row objects or an object "
                          f"{{image name: report}}")


def _pick_column(frame: pd.DataFrame, candidates: Sequence[str], path: Path, what: str) -> str:
    for name in candidates:
        if name in frame.columns:
            return name
    raise ConversionError(
        f"{path}: no {what} column; expected one of {list(candidates)}, found {list(frame.columns)}. "
        f"Name the columns with --image-column/--text-column")


def _row_split(record: dict, split_column: Optional[str], default: str, path: Path, index: int) -> str:
    if split_column is None:
        return default
    value = str(record[split_column]).strip().lower()
    aliases = {"train": "train", "training": "train", "val": "val", "valid": "val",
               "validation": "val", "test": "test", "testing": "test"}
    if value not in aliases:
        raise ConversionError(f"{path} (row {index + 2}): split {value!r} is not train, val or test")
    return aliases[value]
