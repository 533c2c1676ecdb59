"""``nnunet-tgc ablate MODEL_FOLDER -i IMAGES -l LABELS -f 0``: how much does the report change the answer?

Predicts a labelled folder through the plugin's predictor with the correct reports and with altered
ones (left/right swapped, upper/lower swapped, shuffled between cases, one generic report, the same
facts reworded in several styles, no report where the model supports it), and writes per variant
Dice/IoU/pooled Dice, empty predictions, the same per report category and the side share, each also
split by whether the case's report occurs in the model's training reports (documentation/evaluation.md).
Your own reports (a second reader's, a rewording you wrote) are variants too: ``--reports NAME=FILE``.
Every variant's reports go through OUT/<variant>/reports.json and the predictor's own
``prepared_reports``, as a user's reports.json does. Each case is preprocessed once and predicted with
every variant's report; finished work is kept, so a rerun resumes.

Outputs in OUT (default MODEL_FOLDER/fold_F/ablation_<images folder name>): OUT/<variant>/ (predictions,
the reports used, ablation_metrics.json), ablation.md, ablation.json and ablation.png. A model of a
plain nnU-Net trainer is predicted once (variant ``image_only``) and measured the same way.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..text.reports import (DEFAULT_REPORTS_FILE, LATERALITY_KEY, ReportsFileError, load_reports_with_options,
                            require_reports)
from ..text.report_variants import (DEFAULT_GENERIC_REPORT, REWORDED, REWORDED_AGGREGATE, VARIANT_DESCRIPTIONS,
                                    VARIANTS, declared_convention, make_variant, reworded)
from .ablation_metrics import case_record, mean_of_summaries, summarize_variant
from .ablation_report import draw_figure, markdown_table
from .metrics import label_reader, read_label_map
from .training_split import training_split

MANIFEST = ".ablate_created"      # every file this command wrote in OUT, one relative path a line
SETTINGS = "ablate_settings.json"  # what the predictions in OUT were made with
METRICS = "ablation_metrics.json"
METRICS_VERSION = 2               # per-case records of another version are measured again
NOT_SUPPORTED = "not supported by this model"
IMAGE_ONLY = "image_only"
_OWN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class AblationError(ValueError):
    """Bad input or an output folder that cannot be used; the message names the file or case."""


@dataclass
class Job:
    model_folder: Path
    fold: str
    checkpoint: str
    images: Path
    labels: Path
    out: Path
    dataset_json: dict
    files: dict                      # case -> [channel files]
    label_files: dict                # case -> ground-truth file
    reports: dict                    # case -> correct report
    laterality: str                  # whose left the reports mean: image / patient / unknown
    lateral_axis: object             # array axis of the read images that runs left-right (None: unknown)
    options: dict = field(default_factory=dict)    # what IMAGES/reports.json declares (tgc_laterality)
    settings: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)       # variant -> {declared, unchanged, reason}
    split: dict = field(default_factory=dict)      # seen/unseen in training (training_split)
    own: dict = field(default_factory=dict)        # --reports: variant -> OwnReports

    @property
    def ending(self) -> str:
        return self.dataset_json["file_ending"]


# ---------------------------------------------------------------- command line

def add_parser(subparsers) -> None:
    p = subparsers.add_parser("ablate", help="predict a labelled folder with altered reports and measure "
                                             "what the text does", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_folder", type=Path, help="trained model: nnUNet_results/DatasetXXX/TRAINER__PLANS__CONF")
    p.add_argument("-i", "--images", type=Path, required=True,
                   help="nnU-Net-style image folder (CASE_0000.png ...) holding reports.json")
    p.add_argument("-l", "--labels", type=Path, required=True, help="ground-truth folder (CASE.png ...)")
    p.add_argument("-f", "--fold", required=True, help="fold to use (0-4 or all)")
    p.add_argument("-o", "--output", type=Path, help="output folder (default MODEL_FOLDER/fold_F/ablation_<IMAGES name>)")
    p.add_argument("-chk", "--checkpoint", default="checkpoint_final.pth")
    p.add_argument("--variants", nargs="+", choices=[*VARIANTS, REWORDED_AGGREGATE], default=list(VARIANTS),
                   help=f"report variants (default all: {' '.join(VARIANTS)}; '{REWORDED_AGGREGATE}' stands for "
                        f"every reworded_<style>)")
    p.add_argument("--reports", action="append", default=[], metavar="NAME=FILE",
                   help="your own variant (repeatable): FILE is a reports.json with a report for every case of -i "
                        "(and \"tgc_laterality\" if its left/right is not that of IMAGES/reports.json), predicted and "
                        "measured as variant NAME (lower case, digits, _)")
    p.add_argument("--seed", type=int, default=0, help="seed of the shuffled and reworded variants")
    p.add_argument("--generic-report", default=DEFAULT_GENERIC_REPORT, help="the generic variant's report")
    p.add_argument("--panels", type=int, default=4, help="example cases in the figure (default 4)")
    p.add_argument("--disable-tta", action="store_true", help="no test-time mirroring (as nnUNetv2_predict's)")
    p.add_argument("-device", "--device", default="cpu", choices=("cpu", "cuda", "mps"))
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        report = ablate(args)
    except (AblationError, ReportsFileError, ValueError) as err:  # MissingReportError is a ValueError too
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(markdown_table(report))
    print(f"written: {report['out']}/ablation.md, ablation.json, ablation.png")
    return 0


def ablate(args) -> dict:
    """The whole command; every input is checked before anything is written."""
    if args.panels < 0:
        raise AblationError(f"--panels must be 0 or more, got {args.panels}")
    job = prepare(args)
    outputs = Outputs(job.out)
    requested = requested_variants(args.variants) + list(job.own)
    outputs.refuse_foreign([job.out / SETTINGS, job.out / "ablation.md", job.out / "ablation.json",
                            job.out / "ablation.png"]
                           + [p for v in [*requested, IMAGE_ONLY] for p in variant_paths(job, v)])
    previous = outputs.settings(job.settings)
    job.split = training_split(job.model_folder, job.fold, job.dataset_json, job.reports,
                               job.options.get(LATERALITY_KEY), job.images / DEFAULT_REPORTS_FILE)
    log(split_line(job.split))
    variants = plan_variants(job, args, requested, previous)
    forget_stale(job, variants, outputs)
    todo = missing_predictions(job, variants, outputs)
    predictor = None
    if any(todo.values()) or previous.get("model_kind") is None:
        predictor = load_predictor(job, args)
        job.settings.update(model_kind="tgc" if is_tgc(predictor) else "plain",
                            supports_no_report=bool(getattr(predictor, "supports_no_report", False)))
        variants = plan_variants(job, args, requested, job.settings)
        forget_stale(job, variants, outputs)
        todo = missing_predictions(job, variants, outputs)
    else:
        job.settings.update(model_kind=previous["model_kind"], supports_no_report=previous["supports_no_report"])
    outputs.write_json(job.out / SETTINGS, job.settings)
    runnable = {n: r for n, r in variants.items() if r is not None}
    predict_all(predictor, job, {n: runnable[n] for n in runnable if todo[n]}, todo, outputs)
    # a variant with new predictions is measured again; a finished one keeps its metrics file
    summaries = {n: evaluate_variant(job, n, r, outputs, fresh=bool(todo[n])) for n, r in runnable.items()}
    return write_report(job, args, variants, summaries, outputs)


# ---------------------------------------------------------------- inputs

def prepare(args) -> Job:
    model_folder = Path(args.model_folder).resolve()
    dataset_json, configuration = check_model_folder(model_folder, str(args.fold), args.checkpoint)
    images, labels = Path(args.images).resolve(), Path(args.labels).resolve()
    files, label_files = list_cases(images, labels, dataset_json["file_ending"])
    reports, options = read_reports(images, list(files))
    own = own_reports(args.reports, list(files))
    laterality = options.get(LATERALITY_KEY) or dataset_json.get(LATERALITY_KEY, "unknown")
    out = Path(args.output).resolve() if args.output else model_folder / f"fold_{args.fold}" / f"ablation_{images.name}"
    job = Job(model_folder, str(args.fold), args.checkpoint, images, labels, out, dataset_json, files,
              label_files, reports, laterality, lateral_array_axis(dataset_json, configuration), options, own=own)
    job.settings = {"model_folder": str(model_folder), "fold": job.fold, "checkpoint": args.checkpoint,
                    "images": str(images), "labels": str(labels), "seed": args.seed,
                    "generic_report": args.generic_report, "tta": not args.disable_tta}
    return job


def check_model_folder(model_folder: Path, fold: str, checkpoint: str) -> tuple:
    """(dataset.json, configuration dict) of a trained model folder, or an error saying what is missing."""
    for name in ("dataset.json", "plans.json"):
        if not (model_folder / name).is_file():
            raise AblationError(f"{model_folder} is not a trained nnU-Net model folder: {name} is missing (expected "
                                f"nnUNet_results/DatasetXXX/TRAINER__PLANS__CONFIGURATION)")
    ckpt = model_folder / f"fold_{fold}" / checkpoint
    if not ckpt.is_file():
        folds = sorted(p.name for p in model_folder.glob("fold_*") if (p / checkpoint).is_file())
        raise AblationError(f"{ckpt} not found: fold {fold} has no {checkpoint} (folds with one: "
                            f"{', '.join(folds) or 'none'}; choose another -f or -chk)")
    plans = json.loads((model_folder / "plans.json").read_text())
    config_name = model_folder.name.split("__")[-1]
    if config_name not in plans.get("configurations", {}):
        raise AblationError(f"{model_folder}: the folder name does not end in a configuration of its plans.json "
                            f"({', '.join(plans.get('configurations', {}))}); keep nnU-Net's TRAINER__PLANS__CONF name")
    return json.loads((model_folder / "dataset.json").read_text()), plans["configurations"][config_name]


def list_cases(images: Path, labels: Path, ending: str) -> tuple:
    """({case: [channel files]}, {case: label file}); every image needs a label and vice versa."""
    from nnunetv2.utilities.utils import create_lists_from_splitted_dataset_folder
    for folder, what in ((images, "image"), (labels, "label")):
        if not folder.is_dir():
            raise AblationError(f"{what} folder {folder} not found")
    lists = create_lists_from_splitted_dataset_folder(str(images), ending)
    files = {os.path.basename(f[0])[: -(len(ending) + 5)]: f for f in lists}
    if not files:
        raise AblationError(f"{images}: no images CASE_0000{ending} (the model's file ending is {ending})")
    label_files = {p.name[: -len(ending)]: p for p in labels.iterdir() if p.name.endswith(ending)}
    no_label = sorted(set(files) - set(label_files))
    no_image = sorted(set(label_files) - set(files))
    if no_label:
        raise AblationError(f"{len(no_label)} case(s) of {images} have no label in {labels}: "
                            f"{', '.join(no_label[:10])} (expected e.g. {labels / (no_label[0] + ending)})")
    if no_image:
        raise AblationError(f"{len(no_image)} label(s) in {labels} have no image in {images}: "
                            f"{', '.join(no_image[:10])} (expected e.g. {images / (no_image[0] + '_0000' + ending)})")
    return files, label_files


def read_reports(images: Path, cases: list) -> tuple:
    """(correct reports of ``cases``, the file's laterality option: {} or {"tgc_laterality": ...}) from
    IMAGES/reports.json."""
    path = images / DEFAULT_REPORTS_FILE
    if not path.is_file():
        raise AblationError(f"{path} not found: the ablation needs every case's report (a JSON object "
                            f"{{\"<case id>\": \"<report>\"}} next to the images), also for a plain nnU-Net model")
    reports, options = load_reports_with_options(path)
    options = {k: v for k, v in options.items() if k == LATERALITY_KEY}
    return require_reports(reports, cases, path), options


@dataclass(frozen=True)
class OwnReports:
    """A variant of the user's (``--reports NAME=FILE``)."""
    path: Path
    reports: dict
    declared: object  # the file's "tgc_laterality", None: that of IMAGES/reports.json


def own_reports(specs: list, cases: list) -> dict:
    """{variant: OwnReports} of the ``--reports NAME=FILE`` arguments; each name new, each file complete."""
    own = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep or not file:
            raise AblationError(f"--reports {spec!r}: expected NAME=FILE, e.g. --reports second_reader=reports_b.json")
        if not _OWN_NAME.match(name) or name in (*VARIANTS, IMAGE_ONLY, REWORDED_AGGREGATE) or name in own:
            raise AblationError(f"--reports {spec!r}: the name must be new (not a built-in variant, not given twice) "
                                f"and lower case letters, digits and _ (it names OUT/{name}/)")
        path = Path(file).resolve()
        if not path.is_file():
            raise AblationError(f"--reports {name}: {path} not found")
        reports, options = load_reports_with_options(path)
        own[name] = OwnReports(path, require_reports(reports, cases, path), options.get(LATERALITY_KEY))
    return own


def variant_description(job: Job, name: str) -> str:
    return f"your reports, {job.own[name].path.name}" if name in job.own else VARIANT_DESCRIPTIONS[name]


def split_line(split: dict) -> str:
    if split.get("status") == "ok":
        return (f"seen/unseen in training: {split['n_seen']} case(s) whose report occurs in fold {split['fold']}'s "
                f"{split['n_training_cases']} training reports ({split['n_training_texts']} distinct texts, "
                f"{split['reports_file']}), {split['n_unseen']} whose report does not "
                f"({split['n_unseen_known_places']} stating known places, {split['n_unseen_new_places']} new places)")
    return f"seen/unseen in training: not computed ({split.get('reason')})"


def lateral_array_axis(dataset_json: dict, configuration: dict):
    """Axis of nnU-Net's read arrays (z, y, x) that runs left-right, None if unknown.

    ``text_axes`` numbers the configuration's spatial axes, which are the last ones of the array.
    """
    from ..nnunet.text_mirroring import text_axes
    lateral, _ = text_axes(dataset_json)
    return None if lateral is None else 3 - len(configuration["patch_size"]) + int(lateral)


# ---------------------------------------------------------------- variants and model

def requested_variants(names) -> list:
    """The variants asked for, in VARIANTS order, "reworded" expanded to every reworded_<style>."""
    names = set(names)
    if REWORDED_AGGREGATE in names:
        names |= set(REWORDED)
    return [v for v in VARIANTS if v in names]


def plan_variants(job: Job, args, requested: list, model: dict) -> dict:
    """{variant: its reports, or None if it cannot be run}; a plain model gets image_only. ``job.info``
    gets each variant's declared convention, the cases the rewording left unchanged, and why a variant
    cannot be run."""
    if model.get("model_kind") == "plain":
        job.info = {IMAGE_ONLY: {}}
        return {IMAGE_ONLY: dict(job.reports)}
    variants, job.info = {}, {}
    for name in requested:
        info = job.info[name] = {}
        if name == "none" and not model.get("supports_no_report"):
            variants[name], info["reason"] = None, NOT_SUPPORTED
            continue
        if name in job.own:
            info["declared"], variants[name] = job.own[name].declared, dict(job.own[name].reports)
            continue
        try:
            info["declared"] = declared_convention(name, job.laterality)
        except ValueError as err:
            variants[name], info["reason"] = None, f"not possible: {err}"
            continue
        if name in REWORDED:
            result = reworded(name, job.reports, args.seed)
            variants[name], info["unchanged"] = result.reports, result.unchanged
        else:
            variants[name] = make_variant(name, job.reports, args.seed, args.generic_report)
    return variants


def reports_file(job: Job, name: str, reports: dict) -> dict:
    """The content of OUT/<variant>/reports.json: the variant's reports and the convention they declare (a
    reworded_patient variant its own, the others what IMAGES/reports.json declares), as a user writes it."""
    if name == "none":
        return dict(reports)
    declared = job.info.get(name, {}).get("declared")
    return {**({LATERALITY_KEY: declared} if declared else job.options), **reports}


def given_convention(job: Job, name: str) -> str:
    """Whose left/right the reports of variant ``name`` mean."""
    return job.info.get(name, {}).get("declared") or job.laterality


def is_tgc(predictor) -> bool:
    from ..nnunet.predictor import TGCPredictor
    return isinstance(predictor, TGCPredictor)


def predictor_class(model_folder: Path) -> type:
    """TGCPredictor for a model a TGC trainer trained, nnU-Net's own predictor for any other: the trainer is
    the first part of the folder's name (nnU-Net's TRAINER__PLANS__CONFIGURATION), found by name on
    nnUNet_extTrainer as nnUNetv2_predict finds it."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name
    from ..nnunet.predictor import TGCPredictor
    from ..nnunet.trainer import nnUNetTrainerTGC
    name = model_folder.name.split("__")[0]
    try:
        trainer = recursive_find_trainer_class_by_name(name)
    except RuntimeError as err:
        raise AblationError(f"{model_folder}: cannot find its trainer {name} ({str(err)[:300]}); put the folder of "
                            f"a custom trainer on nnUNet_extTrainer") from err
    return TGCPredictor if issubclass(trainer, nnUNetTrainerTGC) else nnUNetPredictor


def load_predictor(job: Job, args):
    """The model's predictor (``predictor_class``), its fold loaded."""
    import torch
    from ..nnunet.env import _append_path, ext_trainer_dir
    # the trainer is found by name on nnUNet_extTrainer, as for nnUNetv2_predict
    os.environ["nnUNet_extTrainer"] = _append_path(os.environ.get("nnUNet_extTrainer"), str(ext_trainer_dir()))
    device = torch.device(args.device)
    predictor = predictor_class(job.model_folder)(
        use_mirroring=not args.disable_tta, perform_everything_on_device=device.type == "cuda", device=device,
        verbose=False, verbose_preprocessing=False, allow_tqdm=False)
    fold = job.fold if job.fold == "all" else int(job.fold)
    try:
        predictor.initialize_from_trained_model_folder(str(job.model_folder), (fold,), job.checkpoint)
    except RuntimeError as err:  # strict load_state_dict: the checkpoint does not fit the installed code
        raise AblationError(f"{job.model_folder / f'fold_{job.fold}' / job.checkpoint} does not fit the network "
                            f"the installed code builds ({str(err)[:600]}); predict with the version that trained "
                            f"it") from err
    log(f"model: {job.model_folder.name} fold {job.fold} ({'TGC-Net' if is_tgc(predictor) else 'plain nnU-Net'}), "
        f"test-time mirroring {'off' if args.disable_tta else 'on'}")
    return predictor


# ---------------------------------------------------------------- outputs

class Outputs:
    """OUT and the files this command created there: only those are ever replaced or reused."""

    def __init__(self, out: Path):
        self.out = out
        manifest = out / MANIFEST
        self.created = set(manifest.read_text().split("\n")) - {""} if manifest.is_file() else set()

    def _rel(self, path: Path) -> str:
        return str(Path(path).relative_to(self.out))

    def has(self, path: Path) -> bool:
        return self._rel(path) in self.created and Path(path).is_file()

    def refuse_foreign(self, paths) -> None:
        foreign = [p for p in paths if Path(p).exists() and self._rel(p) not in self.created]
        if foreign:
            raise AblationError(f"{foreign[0]} exists and was not written by nnunet-tgc ablate"
                                f"{f' ({len(foreign)} such files)' if len(foreign) > 1 else ''}; it is never "
                                f"overwritten: choose another output folder (-o) or move the file away")

    def claim(self, path: Path) -> None:
        rel = self._rel(path)
        if rel not in self.created:
            self.out.mkdir(parents=True, exist_ok=True)
            with open(self.out / MANIFEST, "a") as fh:
                fh.write(rel + "\n")
            self.created.add(rel)

    def write_json(self, path: Path, data) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.claim(path)
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    def settings(self, requested: dict) -> dict:
        """Settings of the earlier run in OUT ({} if none); other settings would mix stale predictions in."""
        path = self.out / SETTINGS
        if not self.has(path):
            return {}
        previous = json.loads(path.read_text())
        changed = [k for k, v in requested.items() if previous.get(k) != v]
        if changed:
            raise AblationError(f"{self.out} holds an ablation made with other settings ({', '.join(changed)}: "
                                f"{[previous.get(k) for k in changed]}, now {[requested[k] for k in changed]}); "
                                f"choose another output folder (-o) or delete that one")
        return previous


def variant_paths(job: Job, variant: str) -> list:
    folder = job.out / variant
    return [folder / METRICS, folder / DEFAULT_REPORTS_FILE] + [prediction_path(job, variant, c) for c in job.reports]


def forget_stale(job: Job, variants: dict, outputs: "Outputs") -> None:
    """A variant whose reports.json in OUT differs from its reports now (the rewording changed, say) is
    predicted again: its predictions and metrics (all written by this command) are removed first."""
    for name, reports in variants.items():
        path = job.out / name / DEFAULT_REPORTS_FILE
        if reports is None or not outputs.has(path):
            continue
        if json.loads(path.read_text(encoding="utf-8")) == reports_file(job, name, reports):
            continue
        log(f"{name}: its reports differ from those in {path}; predicting it again")
        for stale in [job.out / name / METRICS, path] + [prediction_path(job, name, c) for c in job.reports]:
            if outputs.has(stale):
                stale.unlink()


def missing_predictions(job: Job, variants: dict, outputs: "Outputs") -> dict:
    """{runnable variant: its cases without a finished prediction}."""
    return {name: [c for c in sorted(job.reports) if not outputs.has(prediction_path(job, name, c))]
            for name, reports in variants.items() if reports is not None}


def prediction_path(job: Job, variant: str, case: str) -> Path:
    return job.out / variant / f"{case}{job.ending}"


# ---------------------------------------------------------------- prediction

def predict_all(predictor, job: Job, variants: dict, todo: dict, outputs: Outputs) -> None:
    """Predict the missing cases of every variant, each case preprocessed once for all text variants."""
    for name, reports in variants.items():
        outputs.write_json(job.out / name / DEFAULT_REPORTS_FILE, reports_file(job, name, reports))
    with_text = {n: r for n, r in variants.items() if n != "none"}
    cases = sorted({c for n in with_text for c in todo[n]})
    if cases:
        log(f"predicting {len(cases)} case(s) with {len(with_text)} variant(s): {', '.join(with_text)}")
        _predict_cases(predictor, job, with_text, todo, cases, outputs)
    if "none" in variants and todo["none"]:
        _predict_without_report(predictor, job, todo["none"], outputs)


def _predict_cases(predictor, job: Job, variants: dict, todo: dict, cases: list, outputs: Outputs) -> None:
    import torch
    from tqdm import tqdm
    pending = {n: set(todo[n]) for n in variants}
    preprocessor = predictor.configuration_manager.preprocessor_class(verbose=False)
    tgc = is_tgc(predictor)
    texts = {name: model_reports(predictor, job, name) for name in variants} if tgc else {}
    step = max(1, len(cases) // 10)
    for i, case in enumerate(tqdm(cases, desc="ablate", unit="case", disable=not sys.stderr.isatty()), start=1):
        data, _, properties = preprocessor.run_case(job.files[case], None, predictor.plans_manager,
                                                    predictor.configuration_manager, predictor.dataset_json)
        data = torch.from_numpy(data)
        for name, reports in variants.items():
            if case not in pending[name]:
                continue
            logits = predictor.predict_logits_with_report(data, texts[name][case]) if tgc \
                else predictor.predict_logits_from_preprocessed_data(data)
            _export(predictor, job, name, case, logits.cpu(), properties, outputs)
        if i % step == 0 or i == len(cases):
            log(f"  {i}/{len(cases)} cases predicted")


def model_reports(predictor, job: Job, name: str) -> dict:
    """The reports of variant ``name`` as the network reads them, the way a user's reports.json gets there:
    OUT/<variant>/reports.json read with its options, then the predictor's ``prepared_reports``
    (normalisation, and the declared convention reconciled with the training dataset's and mapped to the
    internal one)."""
    path = job.out / name / DEFAULT_REPORTS_FILE
    reports, options = load_reports_with_options(path)
    return predictor.prepared_reports(require_reports(reports, sorted(job.reports), path), options, path)


def _export(predictor, job: Job, variant: str, case: str, logits, properties, outputs: Outputs) -> None:
    """Write one prediction under a temporary name, then rename: no half-written file counts as done."""
    from nnunetv2.inference.export_prediction import export_prediction_from_logits
    final = prediction_path(job, variant, case)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.parent / f".partial_{case}"
    export_prediction_from_logits(logits, properties, predictor.configuration_manager, predictor.plans_manager,
                                  predictor.dataset_json, str(partial), False, num_threads_torch=1)
    os.replace(f"{partial}{job.ending}", final)
    outputs.claim(final)


def _predict_without_report(predictor, job: Job, cases: list, outputs: Outputs) -> None:
    """The ``none`` variant through the predictor's no-report contract (set_reports(..., allow_no_report=True))."""
    import shutil
    import tempfile
    log(f"predicting {len(cases)} case(s) without a report")
    predictor.set_reports({c: None for c in cases}, allow_no_report=True)
    with tempfile.TemporaryDirectory(prefix=".none_", dir=job.out) as tmp:
        predictor.predict_from_files_sequential([job.files[c] for c in cases], [str(Path(tmp) / c) for c in cases])
        for case in cases:
            final = prediction_path(job, "none", case)
            final.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(Path(tmp) / f"{case}{job.ending}"), final)
            outputs.claim(final)
    predictor.reports = None


# ---------------------------------------------------------------- metrics and report

def evaluate_variant(job: Job, variant: str, reports: dict, outputs: Outputs, fresh: bool = False) -> dict:
    """Per-case records and summary of one variant (read back from OUT/<variant>/ablation_metrics.json
    when the variant was finished before)."""
    path = job.out / variant / METRICS
    records = None
    if outputs.has(path) and not fresh:
        stored = json.loads(path.read_text())
        records = stored["per_case"] if stored.get("metrics_version") == METRICS_VERSION else None
    if records is None:
        records = measure_variant(job, variant, reports)
    seen, places_seen = job.split.get("seen"), job.split.get("places_seen")
    for r in records:  # the per-case flags of the correct report: the same cases in every variant
        r["seen"] = None if seen is None else seen[r["case"]]
        r["places_seen"] = None if places_seen is None else places_seen[r["case"]]
    result = {"variant": variant, "description": variant_description(job, variant), "metrics_version": METRICS_VERSION,
              "summary": summarize_variant(records), "per_case": records}
    outputs.write_json(path, result)
    return result


def measure_variant(job: Job, variant: str, reports: dict) -> list:
    reader = label_reader(job.ending, next(iter(job.label_files.values())))
    records = []
    for case in sorted(job.reports):
        gt = read_label_map(reader, job.label_files[case])
        pred = read_label_map(reader, prediction_path(job, variant, case))
        if gt.shape != pred.shape:
            raise AblationError(f"case {case}: prediction shape {pred.shape} differs from the label's {gt.shape} "
                                f"({job.label_files[case]})")
        records.append(case_record(case, pred, gt, job.reports[case], reports[case], job.lateral_axis,
                                   job.laterality, given_convention(job, variant)))
    return records


def write_report(job: Job, args, variants: dict, results: dict, outputs: Outputs) -> dict:
    report = {
        "model_folder": str(job.model_folder), "fold": job.fold, "checkpoint": job.checkpoint,
        "images": str(job.images), "labels": str(job.labels), "out": str(job.out),
        "command": " ".join(["nnunet-tgc", *sys.argv[1:]]) if Path(sys.argv[0]).name == "nnunet-tgc"
        else " ".join(sys.argv),
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "n_cases": len(job.reports),
        "model_kind": job.settings["model_kind"], "laterality": job.laterality, "lateral_axis": job.lateral_axis,
        "seed": args.seed, "generic_report": args.generic_report, "tta": not args.disable_tta,
        "training_split": {k: v for k, v in job.split.items() if k not in ("seen", "places_seen")},
        "variants": {}, "aggregates": {},
    }
    for name in variants:
        info = job.info.get(name, {})
        extra = {"declared_laterality": info.get("declared") or job.options.get(LATERALITY_KEY)}
        if "unchanged" in info:
            extra.update(n_unchanged=len(info["unchanged"]), unchanged_cases=info["unchanged"])
        if name in results:
            report["variants"][name] = {"status": "done", "description": variant_description(job, name),
                                        "predictions": str(job.out / name), **extra, **results[name]}
        else:
            report["variants"][name] = {"status": info.get("reason", NOT_SUPPORTED),
                                        "description": variant_description(job, name), **extra}
    styles = [n for n in REWORDED if n in results]
    if styles:
        report["aggregates"][REWORDED_AGGREGATE] = {
            "description": VARIANT_DESCRIPTIONS[REWORDED_AGGREGATE], "variants": styles,
            "n_unchanged": sum(len(job.info[n]["unchanged"]) for n in styles),
            "summary": mean_of_summaries([results[n]["summary"] for n in styles])}
    outputs.write_json(job.out / "ablation.json", report)
    md = job.out / "ablation.md"
    outputs.claim(md)
    md.write_text(markdown_table(report), encoding="utf-8")
    png = job.out / "ablation.png"
    outputs.claim(png)
    draw_figure(report, panel_cases(job, results, args.panels), png)
    return report


def panel_cases(job: Job, results: dict, n: int) -> list:
    """Up to ``n`` cases for the figure, one-sided reports with a lesion first, spread over the list."""
    if not results or n == 0:
        return []
    records = next(iter(results.values()))["per_case"]
    preferred = [r["case"] for r in records if r["correct_side"] and r["n_gt"] > 0]
    others = [r["case"] for r in records if r["case"] not in preferred]
    chosen = [preferred[int(i)] for i in np.linspace(0, len(preferred) - 1, min(n, len(preferred)))] \
        if preferred else []
    chosen += others[: n - len(chosen)]
    shown = [v for v in ("correct", "swap_lr") if v in results] or list(results)[:2]
    reader = label_reader(job.ending, next(iter(job.label_files.values())))
    return [_panel(job, reader, case, shown) for case in chosen]


def _panel(job: Job, reader, case: str, variants: list) -> dict:
    gt = read_label_map(reader, job.label_files[case])
    z = int(np.argmax((gt != 0).reshape(gt.shape[0], -1).sum(1)))  # the slice with most lesion (2D: the only one)
    image, _ = reader.read_images(job.files[case])
    titles = {"correct": "prediction, correct report", "swap_lr": "prediction, left/right swapped"}
    predictions = [(titles.get(v, f"prediction, {v}"), read_label_map(reader, prediction_path(job, v, case))[z] != 0)
                   for v in variants]
    return {"case": case, "report": job.reports[case], "image": np.asarray(image)[0, z], "gt": gt[z] != 0,
            "predictions": predictions}


def log(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] ablate: {message}", flush=True)
