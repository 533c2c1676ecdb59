"""The reports sidecar: one JSON object ``{"<case id>": "<report text>"}`` per image folder.

nnU-Net knows nothing about text, so the clinical report of every case lives next to the
dataset in a plain UTF-8 JSON file:

* training cases (imagesTr): ``<dataset folder>/reports.json``, or the file named by the
  ``"reports_file"`` key of dataset.json (relative to the dataset folder);
* test cases (imagesTs): ``imagesTs/reports.json``.

The case id is nnU-Net's case identifier (the image file name without ``_0000.png``).

A reports file may also hold options, under two reserved keys (never read as case ids):

* ``"tgc_laterality": "image" | "patient" | "unknown"``: whose left/right these reports mean
  (see ``convention.py``); without it, the dataset's (training) or the model's (prediction) applies;
* ``"tgc_allow_no_report": true``: cases whose value is ``null`` or ``""`` are predicted without a
  report (only with a model trained with report dropout; prediction only).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Mapping

from ..atomic import write_json_atomically

DEFAULT_REPORTS_FILE = "reports.json"
LATERALITY_KEY = "tgc_laterality"
ALLOW_NO_REPORT_KEY = "tgc_allow_no_report"
REPORT_OPTIONS = {LATERALITY_KEY: str, ALLOW_NO_REPORT_KEY: bool}  # option key -> type of its value


class ReportsFileError(ValueError):
    """A reports file is missing or malformed; the message names the file."""


class MissingReportError(KeyError, ValueError):
    """Some cases have no (or an empty) report. ``missing`` lists all of them.

    A KeyError (a lookup failed) and a ValueError (the dataset is invalid), so callers may
    catch either.
    """

    def __init__(self, missing: list[str], source: str):
        self.missing = list(missing)
        self.source = str(source)
        shown = ", ".join(self.missing[:20]) + (" ..." if len(self.missing) > 20 else "")
        super().__init__(
            f"{len(self.missing)} case(s) have no report in {self.source}: {shown}. "
            f"Add a non-empty entry '\"<case id>\": \"<report text>\"' for each of them "
            f"(run 'nnunet-tgc check DATASET' to list every problem)."
        )

    def __str__(self):  # KeyError would repr() the message and show it in quotes
        return str(self.args[0])


def load_reports_with_options(path: str | os.PathLike) -> tuple[dict, dict]:
    """Read a reports file -> (reports, options); every error message names the file and says what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ReportsFileError(
            f"Reports file not found: {path}. Create it as a JSON object "
            f'{{"<case id>": "<report text>"}} (see documentation/text.md).'
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # tolerate a BOM written by some editors
    except UnicodeDecodeError as e:
        raise ReportsFileError(
            f"Reports file {path} is not valid UTF-8 (byte {e.start}: {raw[e.start:e.start + 1]!r}). "
            f"Re-save it with UTF-8 encoding."
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ReportsFileError(
            f"Reports file {path} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}."
        ) from None
    if not isinstance(data, dict):
        raise ReportsFileError(
            f"Reports file {path} must contain a JSON object mapping case id -> report text, "
            f"found a {type(data).__name__}."
        )
    options = _pop_options(data, path)
    allowed = (str, type(None)) if options.get(ALLOW_NO_REPORT_KEY) else str
    bad = sorted(k for k, v in data.items() if not isinstance(v, allowed))
    if bad:
        raise ReportsFileError(
            f"Reports file {path}: the report of case(s) {', '.join(bad[:20])} is not a string. "
            f"Every value must be the report text (null only with \"{ALLOW_NO_REPORT_KEY}\": true)."
        )
    return data, options


def _pop_options(data: dict, path: Path) -> dict:
    options = {key: data.pop(key) for key in REPORT_OPTIONS if key in data}
    for key, value in options.items():
        if not isinstance(value, REPORT_OPTIONS[key]):
            raise ReportsFileError(f"Reports file {path}: option {key!r} must be a {REPORT_OPTIONS[key].__name__}, "
                                   f"got {value!r}.")
    return options


def load_reports(path: str | os.PathLike) -> dict[str, str]:
    """The ``{case id: report}`` of a reports file, without its options (:func:`load_reports_with_options`)."""
    return load_reports_with_options(path)[0]


def save_reports(reports: Mapping[str, str], path: str | os.PathLike) -> Path:
    """Write reports atomically (temp file + rename) so a crash never leaves half a file."""
    return write_json_atomically(dict(reports), path, sort_keys=True, ensure_ascii=False, indent=1)


def reports_file_for_dataset(dataset_folder: str | os.PathLike, dataset_json: Mapping | None = None) -> Path:
    """Path of the training reports of a dataset folder (raw or preprocessed).

    ``dataset_json`` is the parsed dataset.json; when None it is read from the folder if present.
    """
    dataset_folder = Path(dataset_folder)
    if dataset_json is None:
        dj = dataset_folder / "dataset.json"
        dataset_json = json.loads(dj.read_text(encoding="utf-8")) if dj.is_file() else {}
    name = dataset_json.get("reports_file") or DEFAULT_REPORTS_FILE
    return dataset_folder / name


def reports_file_for_test_set(dataset_folder: str | os.PathLike, dataset_json: Mapping | None = None) -> Path:
    """Path of the test reports: ``imagesTs/reports.json``, or dataset.json's ``"test_reports_file"``.

    The predictor reads ``reports.json`` from the folder it predicts, so keep test reports there
    unless you pass them to the predictor yourself.
    """
    dataset_folder = Path(dataset_folder)
    if dataset_json is None:
        dj = dataset_folder / "dataset.json"
        dataset_json = json.loads(dj.read_text(encoding="utf-8")) if dj.is_file() else {}
    name = dataset_json.get("test_reports_file") or f"imagesTs/{DEFAULT_REPORTS_FILE}"
    return dataset_folder / name


def require_reports(reports: Mapping[str, str], case_ids: Iterable[str], source,
                    allow_no_report: bool = False) -> dict[str, str]:
    """Reports of ``case_ids``; raises MissingReportError listing *every* case without one.

    With ``allow_no_report`` a case may hold None or "" (predicted without a report), but it must
    still be listed: a case id missing from ``reports`` is more likely a typo than a decision.
    """
    case_ids = list(case_ids)
    if allow_no_report:
        missing = [c for c in case_ids if c not in reports or not isinstance(reports[c], (str, type(None)))]
    else:
        missing = [c for c in case_ids if not isinstance(reports.get(c), str) or not reports[c].strip()]
    if missing:
        raise MissingReportError(missing, source)
    return {c: reports[c] for c in case_ids}


def find_training_reports(dataset_name_or_id) -> Path:
    """Locate the training reports of a dataset: nnUNet_preprocessed first, then nnUNet_raw.

    A reports file in the preprocessed folder wins, so training can run on a machine that holds
    only the preprocessed data; otherwise the raw dataset's file is used.
    """
    # imported lazily: nnunetv2.paths reads the environment at import time of *its* module,
    # but _EnvPath re-reads os.environ on every access, so late env changes are honoured.
    from nnunetv2 import paths
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

    name = maybe_convert_to_dataset_name(dataset_name_or_id)
    tried = []
    for root in (paths.nnUNet_preprocessed, paths.nnUNet_raw):
        if not root.is_set():
            continue
        folder = Path(os.fspath(root)) / name
        if not folder.is_dir():
            continue
        candidate = reports_file_for_dataset(folder)
        tried.append(str(candidate))
        if candidate.is_file():
            return candidate
    raise ReportsFileError(
        f"No reports file found for {name}. Looked for: {', '.join(tried) or '(nothing: neither nnUNet_preprocessed nor nnUNet_raw holds the dataset)'}. "
        f"Put reports.json next to dataset.json in nnUNet_raw/{name} (see documentation/text.md)."
    )
