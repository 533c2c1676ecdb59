"""Shared vocabulary of the converters: cases, problems, errors and nnU-Net-safe names."""
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

SPLITS = ("train", "val", "test")

# 2D files nnU-Net can be fed (after conversion to PNG) and volumes kept as NIfTI
IMAGE_2D_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
VOLUME_EXTENSIONS = (".nii.gz", ".nii")
SUPPORTED_EXTENSIONS = VOLUME_EXTENSIONS + IMAGE_2D_EXTENSIONS

MASK_PREFIX = "mask_"

# nnU-Net splits file names at "_" + 4 digits + ending and passes ids through shell commands and
# JSON keys, so ids keep to letters, digits, "_" and "-"; everything else becomes "_"
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class ConversionError(ValueError):
    """Bad input for a conversion; the message names the file (and case) and what to do."""


@dataclass
class ReportRow:
    """One row of a report table: the image it names, its text and where it came from."""
    name: str
    text: str
    split: str
    table: Path
    row: int  # 1-based line number as a spreadsheet shows it (header = 1)

    def where(self) -> str:
        return f"{self.table} (row {self.row}, {self.name!r})"


@dataclass
class Case:
    """A paired image, mask and report, ready to be written."""
    case_id: str
    image: Path
    mask: Path
    report: str  # original text, exactly as read
    split: str  # "train", "val" or "test"
    source_name: str  # original image file name, recorded in case_names.json


@dataclass
class Problem:
    """A reason to reject one case (or, when ``key`` is None, the whole input)."""
    key: Optional[str]  # the image stem the problem belongs to
    file: Path
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


@dataclass
class Collected:
    """What a converter found in its source: candidate cases and the problems seen so far."""
    cases: list = field(default_factory=list)
    problems: list = field(default_factory=list)

    def extend(self, other: "Collected") -> None:
        self.cases.extend(other.cases)
        self.problems.extend(other.problems)


def split_extension(name: str) -> tuple:
    """``"a.nii.gz" -> ("a", ".nii.gz")``; the extension is lower-cased, "" if unknown."""
    lower = name.lower()
    for ext in SUPPORTED_EXTENSIONS:
        if lower.endswith(ext):
            return name[: -len(ext)], ext
    return name, ""


def image_stem(name: str) -> str:
    """File stem with a known image extension removed (``covid_1.png -> covid_1``)."""
    return split_extension(Path(str(name)).name)[0]


def safe_case_id(stem: str) -> str:
    """nnU-Net case id for a file stem: unsafe characters become ``_``."""
    return _UNSAFE_ID_CHARS.sub("_", stem.strip())


def list_image_files(folder: Path) -> list:
    """Supported image files in ``folder`` (not recursive), sorted by name."""
    if not folder.is_dir():
        raise ConversionError(f"{folder}: folder not found")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and split_extension(p.name)[1])


def format_problems(problems: list, limit: int = 20) -> str:
    lines = [f"  - {p}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit} more")
    return "\n".join(lines)
