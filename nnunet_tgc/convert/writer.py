"""Writing an nnU-Net raw dataset atomically, with the report sidecars and the official split.

Everything is written into a hidden folder beside the target and renamed into place at the end,
so an interrupted or failed conversion never leaves a half-written ``DatasetXXX_Name``.
"""
import json
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from nnunet_tgc.text.convention import CONVENTIONS
from nnunet_tgc.text.normalize import normalize_report

from .common import Case, Collected, ConversionError, Problem, format_problems, image_stem
from .images import (CHANNEL_CHOICES, COLOUR_PIXEL_LEVELS, COLOUR_SHARE, convert_2d_case, convert_volume_case,
                     decide_channels, is_volume, survey_colour)

LATERALITY_CHOICES = CONVENTIONS  # dataset.json's "tgc_laterality"
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class DatasetSpec:
    """Everything about the output that is not the cases themselves."""
    dataset_id: int
    name: str
    nnunet_raw: Path
    nnunet_preprocessed: Optional[Path] = None
    channel_name: str = "xray"
    channels: str = "auto"  # gray, rgb, or auto: decided once for the whole dataset (images.decide_channels)
    label_names: list = field(default_factory=lambda: ["infection"])
    mask_values: Optional[dict] = None  # None: binary 0/255 or 0/1
    laterality: Optional[str] = None  # whose left/right the reports mean; the converter must say
    knowledge_domain: str = "none"  # which domain's knowledge applies to the reports (text/knowledge.py)
    description: str = ""
    reference: str = ""
    official_split: bool = False
    skip_bad: bool = False
    overwrite: bool = False

    def __post_init__(self):
        self.nnunet_raw = Path(self.nnunet_raw)
        if self.nnunet_preprocessed is not None:
            self.nnunet_preprocessed = Path(self.nnunet_preprocessed)

    @property
    def folder_name(self) -> str:
        return f"Dataset{self.dataset_id:03d}_{self.name}"

    @property
    def target(self) -> Path:
        return self.nnunet_raw / self.folder_name

    @property
    def preprocessed_splits(self) -> Optional[Path]:
        if self.nnunet_preprocessed is None:
            return None
        return self.nnunet_preprocessed / self.folder_name / "splits_final.json"


def write_dataset(collected: Collected, spec: DatasetSpec, log=print) -> dict:
    """Validate, convert and move the dataset into place; returns a summary dict."""
    check_spec(spec)
    check_target(spec)
    cases, skipped = _drop_bad_cases(collected, spec)
    if not any(c.split in ("train", "val") for c in cases):
        raise ConversionError(f"no training cases left to write for {spec.folder_name}")
    if spec.official_split and not any(c.split == "val" for c in cases):
        raise ConversionError("--official-split needs validation cases, but the source has none")
    spec.nnunet_raw.mkdir(parents=True, exist_ok=True)
    temp = spec.nnunet_raw / f".{spec.folder_name}.partial-{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    file_ending = _file_ending(cases)
    colour = _survey_dataset(cases, spec)
    log(_decision_line(colour))
    try:
        written, more_skipped, channels = _write_cases(cases, spec, temp, file_ending, colour["channels"])
        skipped.extend(more_skipped)
        if not any(c.split in ("train", "val") for c in written):
            raise ConversionError(f"every training case of {spec.folder_name} was skipped")
        if spec.official_split and not any(c.split == "val" for c in written):
            raise ConversionError("--official-split: every validation case was skipped")
        _write_metadata(written, skipped, spec, temp, channels, file_ending, colour)
        _move_into_place(temp, spec.target)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    _update_preprocessed_splits(written, spec, log)
    for problem in skipped:
        log(f"skipped: {problem}")
    _log_colour_images(colour, log)
    counts = Counter(c.split for c in written)
    log(f"wrote {spec.target}: {counts['train']} train, {counts['val']} val, {counts['test']} test "
        f"cases; {len(skipped)} skipped")
    return {"folder": str(spec.target), "counts": dict(counts), "skipped": [str(p) for p in skipped]}


# ---------------------------------------------------------------- checks before writing

def check_spec(spec: DatasetSpec) -> None:
    if not 1 <= spec.dataset_id <= 999:
        raise ConversionError(f"dataset id {spec.dataset_id} must be between 1 and 999")
    if not _NAME_PATTERN.fullmatch(spec.name):
        raise ConversionError(f"dataset name {spec.name!r} may only contain letters, digits, _ and -")
    if spec.channels not in CHANNEL_CHOICES:
        raise ConversionError(f"--channels {spec.channels!r} must be one of {CHANNEL_CHOICES}")
    if spec.laterality not in LATERALITY_CHOICES:
        raise ConversionError(f"laterality {spec.laterality!r} must be one of {LATERALITY_CHOICES}: whose "
                              f"left/right the reports mean (image: the image's left, as in QaTa-COV19; "
                              f"patient: the patient's, as clinical reports)")
    if spec.mask_values is not None:
        targets = sorted(set(spec.mask_values.values()))
        if targets != list(range(len(targets))) or 0 not in spec.mask_values.values():
            raise ConversionError(f"--mask-values must map onto consecutive labels 0, 1, 2, ...; "
                                  f"got targets {targets}")
        if len(targets) - 1 != len(spec.label_names):
            raise ConversionError(f"--mask-values gives {len(targets) - 1} foreground labels but "
                                  f"--label-names has {len(spec.label_names)}: {spec.label_names}")
    if spec.official_split and spec.nnunet_preprocessed is None:
        raise ConversionError("--official-split writes splits_final.json into nnUNet_preprocessed: "
                              "set the nnUNet_preprocessed environment variable or pass "
                              "--nnunet-preprocessed")


def check_target(spec: DatasetSpec) -> None:
    """Refuse to overwrite without --overwrite, and refuse ids nnU-Net would find twice."""
    prefix = f"Dataset{spec.dataset_id:03d}_"
    roots = [spec.nnunet_raw] + ([spec.nnunet_preprocessed] if spec.nnunet_preprocessed else [])
    for root in roots:
        if not root.is_dir():
            continue
        for other in sorted(root.iterdir()):
            if other.is_dir() and other.name.startswith(prefix) and other.name != spec.folder_name:
                raise ConversionError(
                    f"dataset id {spec.dataset_id} is already used by {other}; nnU-Net needs unique "
                    f"ids, so pick another -d/--dataset-id (or remove that folder)")
    if spec.target.exists() and not spec.overwrite:
        raise ConversionError(f"{spec.target} already exists; pass --overwrite to replace it")
    splits = spec.preprocessed_splits
    if splits is not None and splits.exists() and not spec.overwrite:
        raise ConversionError(f"{splits} exists from an earlier conversion; pass --overwrite to "
                              f"replace (or, without --official-split, remove) it")


def _drop_bad_cases(collected: Collected, spec: DatasetSpec) -> tuple:
    problems = list(collected.problems) + _duplicate_id_problems(collected.cases)
    if problems and not spec.skip_bad:
        raise ConversionError(f"{len(problems)} problem(s) in the input; fix them or pass "
                              f"--skip-bad to leave these cases out:\n{format_problems(problems)}")
    bad = {p.key for p in problems}
    kept = [c for c in collected.cases if image_stem(c.source_name) not in bad]
    return kept, problems


def _duplicate_id_problems(cases: list) -> list:
    """Same case id twice: same stem in two splits, or two stems that sanitise alike."""
    by_id = {}
    for case in cases:
        by_id.setdefault(case.case_id, []).append(case)
    problems = []
    for case_id, same in by_id.items():
        if len(same) > 1:
            files = ", ".join(str(c.image) for c in same)
            for case in same:
                problems.append(Problem(image_stem(case.source_name), case.image,
                                        f"duplicated name: case id {case_id!r} is shared by {files}"))
    return problems


# ---------------------------------------------------------------- writing

def _survey_dataset(cases: list, spec: DatasetSpec) -> dict:
    """Gray or RGB for the whole dataset, decided once from every 2D image (``images.decide_channels``), and
    the images with colour content, for the log. An unreadable image is left to the conversion to report."""
    surveys = {}
    for case in tqdm(cases, desc=f"surveying colour in {spec.folder_name}", unit="case"):
        if is_volume(case.image):
            continue
        try:
            surveys[case.case_id] = survey_colour(case.image)
        except ConversionError:
            continue
    channels, share = decide_channels(surveys.values(), spec.channels)
    with_colour = {c: {"largest_channel_difference": s.spread,
                       "colour_pixel_share": round(s.colour_pixels / s.pixels, 4)}
                   for c, s in sorted(surveys.items()) if s.colour_pixels}
    return {"channels": channels, "decided_by": "--channels" if spec.channels != "auto" else "auto",
            "colour_pixel_levels": COLOUR_PIXEL_LEVELS, "colour_share_threshold": COLOUR_SHARE,
            "dataset_colour_pixel_share": round(share, 6),
            "stored_as_colour": sum(s.stored_as_colour for s in surveys.values()),
            "images_with_colour": with_colour}


def _decision_line(colour: dict) -> str:
    share = f"{100 * colour['dataset_colour_pixel_share']:.3g}%"
    if colour["decided_by"] != "auto":
        why = f"as --channels asks (colour content: {share} of the pixels)"
    else:
        why = (f"{share} of all pixels have channels more than {colour['colour_pixel_levels']} grey levels apart; "
               f"colour takes more than {100 * colour['colour_share_threshold']:g}%; choose with --channels gray|rgb")
    what = "grayscale, one channel" if colour["channels"] == "gray" else "RGB, three channels"
    return (f"channels: the whole dataset is {what} ({why}; {colour['stored_as_colour']} image(s) stored as "
            f"colour)")


def _write_cases(cases: list, spec: DatasetSpec, temp: Path, file_ending: str, mode: str) -> tuple:
    for sub in ("imagesTr", "labelsTr", "imagesTs", "labelsTs"):
        (temp / sub).mkdir(parents=True)
    written, skipped, channels = [], [], {}
    for case in tqdm(cases, desc=f"converting {spec.folder_name}", unit="case"):
        image_out, label_out = _output_paths(temp, case, file_ending)
        try:
            convert = convert_volume_case if is_volume(case.image) else convert_2d_case
            if (file_ending == ".nii.gz") != is_volume(case.image):
                raise ConversionError(f"{case.image}: mixes 2D images and NIfTI volumes in one dataset")
            channels[case.case_id] = convert(case.image, case.mask, image_out, label_out, spec.mask_values, mode)
            written.append(case)
        except ConversionError as err:
            image_out.unlink(missing_ok=True)
            label_out.unlink(missing_ok=True)
            if not spec.skip_bad:
                raise ConversionError(f"case {case.case_id}: {err}\n(or pass --skip-bad to leave such "
                                      f"cases out)") from err
            skipped.append(Problem(image_stem(case.source_name), case.image, str(err)))
    _check_one_channel_count(written, channels)
    return written, skipped, max(channels.values(), default=1)


def _check_one_channel_count(written: list, channels: dict) -> None:
    """nnU-Net reads one channel count per dataset: a dataset that mixes counts is never written."""
    counts = {}
    for case in written:
        counts.setdefault(channels[case.case_id], []).append(str(case.image))
    if len(counts) > 1:
        listed = "; ".join(f"{n} channel(s): {', '.join(files[:5])}{' ...' if len(files) > 5 else ''}"
                           for n, files in sorted(counts.items()))
        raise ConversionError(f"the cases would have different channel counts ({listed}); nnU-Net needs one "
                              f"count per dataset. Convert with --channels gray (or rgb) for all of them.")


def _file_ending(cases: list) -> str:
    """One ending per dataset: NIfTI if most cases are volumes (the rest then fail), else PNG."""
    volumes = sum(is_volume(c.image) for c in cases)
    return ".nii.gz" if volumes > len(cases) / 2 else ".png"


def _output_paths(temp: Path, case: Case, file_ending: str) -> tuple:
    images, labels = ("imagesTs", "labelsTs") if case.split == "test" else ("imagesTr", "labelsTr")
    return (temp / images / f"{case.case_id}_0000{file_ending}",
            temp / labels / f"{case.case_id}{file_ending}")


def _log_colour_images(colour: dict, log, shown: int = 20) -> None:
    images = colour["images_with_colour"]
    if not images:
        return
    listed = ", ".join(f"{c} ({v['largest_channel_difference']}, {100 * v['colour_pixel_share']:.2g}%)"
                       for c, v in list(images.items())[:shown])
    more = f" and {len(images) - shown} more" if len(images) > shown else ""
    fate = "kept as colour" if colour["channels"] == "rgb" else "converted to grey (their channels' mean)"
    log(f"{len(images)} image(s) with colour content, {fate}: {listed}{more} [largest channel difference, share "
        f"of colour pixels; all in conversion_log.json]")


def _write_metadata(written: list, skipped: list, spec: DatasetSpec, temp: Path, channels: int,
                    file_ending: str, colour: dict) -> None:
    training = [c for c in written if c.split != "test"]
    test = [c for c in written if c.split == "test"]
    _save_json(temp / "dataset.json", _dataset_json(spec, channels, file_ending, len(training), len(test)))
    _save_reports(temp, training)
    _save_reports(temp / "imagesTs", test)
    _save_json(temp / "case_names.json", {c.case_id: c.source_name for c in written})
    _save_json(temp / "conversion_log.json", {
        "split_of_case": {c.case_id: c.split for c in written},
        "skipped": [{"file": str(p.file), "reason": p.message} for p in skipped],
        "channels": colour,
    })
    if spec.official_split:
        # nnU-Net 2.8 copies a raw-folder splits_final.json into nnUNet_preprocessed when planning
        _save_json(temp / "splits_final.json", _official_splits(written))


def _dataset_json(spec: DatasetSpec, channels: int, file_ending: str, n_train: int, n_test: int) -> dict:
    channel_names = {"0": "R", "1": "G", "2": "B"} if channels == 3 else {"0": spec.channel_name}
    labels = {"background": 0}
    labels.update({name: index + 1 for index, name in enumerate(spec.label_names)})
    return {
        "name": spec.name,
        "description": spec.description,
        "reference": spec.reference,
        "channel_names": channel_names,
        "labels": labels,
        "numTraining": n_train,
        "numTest": n_test,
        "file_ending": file_ending,
        "reports_file": "reports.json",
        "reports_original_file": "reports_original.json",
        "test_reports_file": "imagesTs/reports.json",
        "tgc_laterality": spec.laterality,
        "tgc_knowledge_domain": spec.knowledge_domain,
    }


def _save_reports(folder: Path, cases: list) -> None:
    _save_json(folder / "reports.json", {c.case_id: normalize_report(c.report) for c in cases})
    _save_json(folder / "reports_original.json", {c.case_id: c.report for c in cases})


def _official_splits(written: list) -> list:
    return [{"train": sorted(c.case_id for c in written if c.split == "train"),
             "val": sorted(c.case_id for c in written if c.split == "val")}]


def _save_json(path: Path, data) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")


def _move_into_place(temp: Path, target: Path) -> None:
    """Rename ``temp`` to ``target``; an existing target is set aside first and removed last."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.rename(target, old)
    try:
        os.rename(temp, target)
    except OSError:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        shutil.rmtree(old)


def _update_preprocessed_splits(written: list, spec: DatasetSpec, log) -> None:
    splits = spec.preprocessed_splits
    if splits is None:
        return
    if spec.official_split:
        splits.parent.mkdir(parents=True, exist_ok=True)
        partial = splits.with_name(splits.name + ".partial")
        _save_json(partial, _official_splits(written))
        os.replace(partial, splits)
        log(f"official split written to {splits} (fold 0; copy kept in {spec.target / 'splits_final.json'})")
    elif splits.exists():
        # a split file from an earlier conversion would name cases that may no longer exist
        splits.unlink()
        log(f"removed the earlier {splits}; nnU-Net will create its 5-fold split")
