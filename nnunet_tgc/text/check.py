"""``nnunet-tgc check DATASET``: validate a raw dataset's reports before training.

Checks imagesTr against the training reports (``reports.json`` or dataset.json's
``"reports_file"``) and, if imagesTs exists, imagesTs against ``imagesTs/reports.json`` (or
dataset.json's ``"test_reports_file"``):
missing / empty reports, reports for unknown case ids, unreadable files (not UTF-8, bad JSON,
non-string values) and signs of broken encoding. Then it prints statistics that matter for
the text encoder (length in CLIP tokens, how many reports exceed CLIP's 77-token context and
will be chunked, the knowledge-base entries the reports mention), computed on the reports as the model
reads them (``convention.prepare_report``). Finally the laterality convention: the one declared
(dataset.json's ``"tgc_laterality"``, or a test reports file's own key) and, where masks exist, the
one the masks show: the share of mask in the image half that each one-sided report names.

Exit code 0 when there is nothing to fix, 1 with the list of problems otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .convention import (DATASET_KEY, LateralityConventionError, check_convention, dataset_convention,
                         prepare_reports)
from .knowledge import DOMAIN_KEY, dataset_domain, dataset_knowledge
from .places import named_sides, read_places
from .reports import (LATERALITY_KEY, ReportsFileError, load_reports_with_options, reports_file_for_dataset,
                      reports_file_for_test_set)

CLIP_CONTEXT = 77
CLIP_MODEL = "ViT-B-16"
_SHOW = 50  # ids listed per problem; the count is always given in full
# typical UTF-8-read-as-latin-1 sequences, the replacement character, and control characters
_MOJIBAKE = re.compile(r"Ã.|â€|Â[\s\xa0-\xbf]|\ufffd")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_STOPWORDS = {"and", "the", "of", "in", "a", "an", "with", "on", "at", "is", "are", "to", "no", "or"}


@dataclass
class SplitCheck:
    name: str                 # "imagesTr" / "imagesTs"
    reports_file: Path
    case_ids: list[str]
    reports: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)
    convention: str = "unknown"  # the laterality convention these reports are read with
    prepared: dict[str, str] = field(default_factory=dict)  # the reports as the model reads them


def _ids_text(ids: list[str]) -> str:
    shown = ", ".join(ids[:_SHOW])
    return shown + (f", ... ({len(ids) - _SHOW} more)" if len(ids) > _SHOW else "")


def case_ids_in(images_dir: Path, file_ending: str) -> list[str]:
    """nnU-Net case ids of an images folder (file names ``<case>_<XXXX><file_ending>``)."""
    pattern = re.compile(r"(.+)_\d{4}" + re.escape(file_ending) + r"$")
    return sorted({m.group(1) for p in images_dir.iterdir() if (m := pattern.match(p.name))})


def check_split(name: str, images_dir: Path, reports_file: Path, file_ending: str) -> SplitCheck:
    result = SplitCheck(name, reports_file, case_ids_in(images_dir, file_ending))
    try:
        result.reports, result.options = load_reports_with_options(reports_file)
    except ReportsFileError as e:
        result.problems.append(str(e))
        return result
    known = set(result.case_ids)
    missing = [c for c in result.case_ids if c not in result.reports]
    empty = sorted(c for c, t in result.reports.items() if not t.strip())
    unknown = sorted(c for c in result.reports if c not in known)
    garbled = sorted(c for c, t in result.reports.items() if _MOJIBAKE.search(t) or _CONTROL.search(t))
    where = f"{name}: {reports_file}"
    if missing:
        result.problems.append(f"{where}: {len(missing)} case(s) in {name} have no report: {_ids_text(missing)}")
    if empty:
        result.problems.append(f"{where}: {len(empty)} report(s) are empty: {_ids_text(empty)}")
    if unknown:
        result.problems.append(
            f"{where}: {len(unknown)} report(s) name case ids that are not in {name} "
            f"(typo, or the image is missing): {_ids_text(unknown)}")
    if garbled:
        result.problems.append(
            f"{where}: {len(garbled)} report(s) look wrongly encoded (mojibake such as 'Ã©', U+FFFD or "
            f"control characters; re-export the text as UTF-8): {_ids_text(garbled)}")
    return result


def _load_dataset_json(folder: Path) -> tuple[dict, list[str]]:
    path = folder / "dataset.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")), []
    except FileNotFoundError:
        return {}, [f"{path} not found: is {folder} an nnU-Net raw dataset folder?"]
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return {}, [f"{path} cannot be read: {e}"]


def check_dataset(folder) -> tuple[list[SplitCheck], list[str], list[str]]:
    """Check a raw dataset folder; returns (per-split results, problems, notes)."""
    folder = Path(folder)
    dataset_json, problems = _load_dataset_json(folder)
    notes = []
    if problems:
        return [], problems, notes
    file_ending = dataset_json.get("file_ending", ".png")
    splits = []
    if (folder / "imagesTr").is_dir():
        splits.append(check_split("imagesTr", folder / "imagesTr",
                                  reports_file_for_dataset(folder, dataset_json), file_ending))
    else:
        problems.append(f"{folder / 'imagesTr'} not found.")
    if (folder / "imagesTs").is_dir():
        splits.append(check_split("imagesTs", folder / "imagesTs",
                                  reports_file_for_test_set(folder, dataset_json), file_ending))
    for s in splits:
        problems += s.problems
    if "tgc_laterality" not in dataset_json:
        notes.append("dataset.json has no 'tgc_laterality' key: state whether 'left' in the reports means the "
                      "image's left (\"image\") or the patient's (\"patient\"); see documentation/text.md.")
    problems += _declare_conventions(splits, dataset_json, folder)
    return splits, problems, notes


def _declare_conventions(splits: list, dataset_json: dict, folder: Path) -> list[str]:
    """Set each split's convention and prepared reports; returns the problems found on the way."""
    try:
        trained = dataset_convention(dataset_json, folder / "dataset.json")
    except LateralityConventionError as e:
        return [str(e)]
    problems = []
    for s in splits:
        if s.name == "imagesTr" and s.options:
            problems.append(f"{s.reports_file}: the options {sorted(s.options)} belong in the reports given at "
                            f"prediction; a training set declares its laterality in dataset.json ({DATASET_KEY}).")
        try:
            s.convention = check_convention(s.options.get(LATERALITY_KEY, trained), s.reports_file)
        except LateralityConventionError as e:
            problems.append(str(e))
            continue
        s.prepared = prepare_reports({c: t for c, t in s.reports.items() if t}, s.convention)
    return problems


def one_sided(report: str):
    """"left" or "right" if the (image-side) report names exactly one of the two sides as involved, else None
    (the one rule for the sides a report names: ``places.named_sides``)."""
    named = named_sides(report)
    return next(iter(named)) if len(named) == 1 else None


def measure_laterality(prepared: dict, labels_dir: Path, file_ending: str, lateral_axis=1) -> dict:
    """Share of each one-sided report's mask in the image half it names, reports read image-side.

    Near 1: the declared convention agrees with the masks; near 0: the masks say the other one.
    Returns ``{"cases": n, "share": mean share or None}``; only 2D natural-image masks are read.
    """
    from PIL import Image
    shares = []
    for case, report in sorted(prepared.items()):
        side, mask_file = one_sided(report), labels_dir / f"{case}{file_ending}"
        if side is None or not mask_file.is_file():
            continue
        mask = np.moveaxis(np.asarray(Image.open(mask_file)) > 0, lateral_axis, 0)
        if mask.sum() == 0:
            continue
        half = mask.shape[0] // 2
        named = mask[:half] if side == "left" else mask[mask.shape[0] - half:]
        shares.append(named.sum() / mask.sum())
    return {"cases": len(shares), "share": float(np.mean(shares)) if shares else None}


def laterality_lines(splits: list, folder: Path, dataset_json: dict) -> tuple[list[str], list[str]]:
    """(information lines, warnings) about each split's declared and measured laterality convention."""
    info, warnings = [], []
    file_ending = dataset_json.get("file_ending", ".png")
    lateral_axis = dataset_json.get("tgc_lateral_axis", 1)
    measurable = file_ending.lower() in (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg") and lateral_axis is not None
    for s in splits:
        labels = folder / s.name.replace("images", "labels")
        line = f"{s.name}: laterality convention {s.convention!r}"
        if not (measurable and labels.is_dir() and s.prepared):
            info.append(line + " (not measured: no 2D masks with a known left-right axis)")
            continue
        m = measure_laterality(s.prepared, labels, file_ending, lateral_axis)
        if not m["cases"]:
            info.append(line + " (not measured: no report names one side only)")
            continue
        read_as = "as written" if s.convention == "unknown" else f"read as {s.convention!r}"
        info.append(line + f"; measured on {m['cases']} one-sided reports ({read_as}): {100 * m['share']:.0f}% of "
                           f"the mask lies in the image half the report names")
        fits = ("image" if m["share"] >= 0.5 else "patient") if s.convention != "patient" else \
            ("patient" if m["share"] >= 0.5 else "image")
        if s.convention == "unknown":
            info.append(f"  the masks fit {fits!r}: declare it as {DATASET_KEY} in dataset.json")
        elif fits != s.convention:
            warnings.append(f"{s.name}: the masks contradict the laterality convention {s.convention!r}: only "
                            f"{100 * m['share']:.0f}% of the mask lies on the side the reports name; they fit "
                            f"{fits!r}. Fix {DATASET_KEY} (dataset.json, or the reports file at prediction).")
    return info, warnings


def _clip_tokenizer():
    try:
        import open_clip
        return open_clip.get_tokenizer(CLIP_MODEL)
    except Exception as e:  # statistics are optional; the checks above are not
        print(f"note: CLIP tokenizer unavailable ({e}); token statistics skipped")
        return None


def report_statistics(reports: dict[str, str], kb=None, tokenizer=None) -> dict:
    """Numbers about a set of reports; ``tokenizer`` is an open_clip tokenizer (has .encode)."""
    texts = [t for t in reports.values() if t.strip()]
    if not texts:
        return {"reports": 0}
    words = [len(t.split()) for t in texts]
    stats = {
        "reports": len(texts),
        "distinct": len(set(texts)),
        "words_min": min(words), "words_median": statistics.median(words), "words_max": max(words),
        "terms": Counter(w for t in texts for w in re.findall(r"[a-z][a-z0-9\-]*", t.lower())
                         if w not in _STOPWORDS).most_common(10),
    }
    if tokenizer is not None:
        # + 2 for the start and end tokens CLIP adds around every text
        tokens = {t: len(tokenizer.encode(t)) + 2 for t in set(texts)}
        longest_case = max(reports, key=lambda c: tokens.get(reports[c], 0))
        stats["tokens_max"] = tokens[reports[longest_case]]
        stats["tokens_max_case"] = longest_case
        stats["over_context"] = sum(tokens[t] > CLIP_CONTEXT for t in texts)
    if kb is not None:
        matched = Counter()
        unmatched = 0
        cells = Counter()
        for t in texts:
            entries = kb.match(t)
            matched.update(e.id for e in entries)
            unmatched += not entries
            cells.update(f"{side} {zone}" for side, zone in sorted(read_places(t, kb).involved))
        stats["kb_entries"] = matched.most_common()
        stats["kb_unmatched"] = unmatched
        stats["placed"] = sum(bool(read_places(t, kb).involved) for t in texts)
        stats["cells"] = cells.most_common()
    return stats


def format_statistics(name: str, stats: dict) -> str:
    if not stats.get("reports"):
        return f"{name}: no reports"
    lines = [
        f"{name}: {stats['reports']} reports, {stats['distinct']} distinct texts",
        f"  length in words: min {stats['words_min']}, median {stats['words_median']:g}, max {stats['words_max']}",
    ]
    if "tokens_max" in stats:
        lines.append(f"  longest in CLIP tokens: {stats['tokens_max']} (case {stats['tokens_max_case']}); "
                     f"{stats['over_context']} exceed the {CLIP_CONTEXT}-token context "
                     f"(those are split into chunks at sentence boundaries)")
    lines.append("  most frequent terms: " + ", ".join(f"{w} ({n})" for w, n in stats["terms"]))
    if "kb_entries" in stats:
        lines.append("  knowledge-base entries matched (reports): "
                     + (", ".join(f"{i} ({n})" for i, n in stats["kb_entries"]) or "none"))
        if stats["kb_unmatched"]:
            lines.append(f"  {stats['kb_unmatched']} report(s) match no knowledge-base entry")
        lines.append(f"  places read: {stats['placed']} of {stats['reports']} reports place their findings; "
                     + (", ".join(f"{c} ({n})" for c, n in stats["cells"]) or "no side or zone read"))
    return "\n".join(lines)


def resolve_raw_dataset(dataset: str) -> Path:
    """A dataset folder path, or a dataset name/id looked up in nnUNet_raw."""
    if os.path.isdir(dataset):
        return Path(dataset)
    from nnunetv2.paths import nnUNet_raw
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name
    name = maybe_convert_to_dataset_name(dataset)
    return Path(os.fspath(nnUNet_raw)) / name


def run_check(dataset: str, stats: bool = True) -> int:
    try:
        folder = resolve_raw_dataset(dataset)
    except (RuntimeError, ValueError) as e:
        print(f"error: cannot find dataset {dataset!r}: {e}")
        return 1
    print(f"checking reports of {folder}")
    splits, problems, notes = check_dataset(folder)
    if stats and any(s.prepared for s in splits):
        dataset_json = _load_dataset_json(folder)[0]
        kb, tokenizer = dataset_knowledge(dataset_json, folder / "dataset.json"), _clip_tokenizer()
        print(f"knowledge domain {dataset_domain(dataset_json)!r} (dataset.json's {DOMAIN_KEY}; "
              f"'none' or absent: only the general terms, sides of the image and counts)")
        for s in splits:
            print(format_statistics(s.name, report_statistics(s.prepared, kb, tokenizer)))
    info, warnings = laterality_lines(splits, folder, _load_dataset_json(folder)[0])
    for line in info:
        print(line)
    for note in notes:
        print(f"note: {note}")
    for warning in warnings:
        print(f"warning: {warning}")
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("OK: every case has a report")
    return 0


def _run(args) -> int:
    return run_check(args.dataset, stats=not args.no_stats)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "check", help="validate a raw dataset's reports and print report statistics",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    p.add_argument("dataset", metavar="DATASET", help="dataset name (Dataset001_X), id (1), or folder path")
    p.add_argument("--no-stats", action="store_true", help="only validate; skip the statistics")
    p.set_defaults(func=_run)
    return p
