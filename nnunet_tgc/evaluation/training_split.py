"""Seen or unseen in training: does a case's own report text occur among the model's training reports?

A model that recalls its training sentences scores well on cases whose report it has seen and
worse on the others; one that reads the report does not care. ``nnunet-tgc ablate`` splits every
variant's results by this per-case flag, computed from the case's *correct* report, so the two
groups hold the same cases in every variant (and for a plain nnU-Net model, which reads no report
but whose dataset has them).

A text can be new in two ways: a new wording of a set of places (side x zone cells) that some
training report states, or a set of places no training report states; a drop on unseen texts can
come from either. So each case also gets ``places_seen``: its report's place vector
(:func:`nnunet_tgc.text.places.place_vector`, read with the knowledge the dataset declares, as the
trainer reads it) equals that of some training report.

The training reports are those of the fold's training cases (``$nnUNet_preprocessed/<dataset>/
splits_final.json``, the fold of the model folder's ``fold_X``; fold ``all``: every case of the
reports file) in the dataset's reports file (:func:`nnunet_tgc.text.reports.find_training_reports`,
as the trainer reads them). Both sides are compared as the model reads them: after
:func:`nnunet_tgc.text.convention.prepare_reports`, the training reports in the dataset's
convention (dataset.json's ``tgc_laterality``), the case's report in the convention its reports
file declares (default: the dataset's), reconciled as the predictor does.

When the split cannot be computed (no nnUNet_preprocessed, no splits file, a fold not in it, no
reports file, a training case without a report, conventions that cannot be reconciled, a knowledge
domain the knowledge base lacks) the result
says so with a reason; it is never silently left out.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Optional

from ..text.convention import LateralityConventionError, dataset_convention, prepare_report, prepare_reports, reconcile
from ..text.knowledge import KnowledgeBase, KnowledgeBaseError, dataset_knowledge
from ..text.places import place_vector, read_places
from ..text.reports import ReportsFileError, find_training_reports, load_reports_with_options

OK, UNAVAILABLE = "ok", "unavailable"
GROUPS = ("seen", "unseen")


def seen_cases(case_reports: Mapping[str, str], case_convention: str, training_reports: Mapping[str, str],
               training_convention: str) -> dict:
    """{case: True if its report, as the model reads it, equals a training report as the model read it}."""
    known = set(prepare_reports(training_reports, training_convention).values())
    return {case: prepare_report(text, case_convention) in known for case, text in case_reports.items()}


def places_seen_cases(case_reports: Mapping[str, str], case_convention: str, training_reports: Mapping[str, str],
                      training_convention: str, knowledge: KnowledgeBase) -> dict:
    """{case: True if its report, as the model reads it, states the places a training report states}."""
    texts = set(prepare_reports(training_reports, training_convention).values())  # many cases share a text
    known = {_places(text, knowledge) for text in texts}
    return {case: _places(prepare_report(text, case_convention), knowledge) in known
            for case, text in case_reports.items()}


def _places(prepared: str, knowledge: KnowledgeBase) -> tuple:
    return tuple(place_vector(read_places(prepared, knowledge)))


def unavailable(reason: str) -> dict:
    return {"status": UNAVAILABLE, "reason": reason, "seen": None, "places_seen": None}


def training_split(model_folder: Path, fold: str, dataset_json: Mapping, case_reports: Mapping[str, str],
                   declared: Optional[str], source="the reports") -> dict:
    """The seen/unseen and places-seen flags of every case in ``case_reports`` (the correct reports, whose
    file declares ``declared`` or nothing), with where the training reports came from; or why they cannot
    be computed."""
    try:
        name = _dataset_name(Path(model_folder))
        training_cases, splits_file = _training_cases(name, str(fold))
        reports_file = find_training_reports(name)
        reports, _ = load_reports_with_options(reports_file)
    except (_Unavailable, ReportsFileError) as err:
        return unavailable(str(err))
    except (ValueError, RuntimeError) as err:  # nnU-Net cannot resolve the dataset name, say
        return unavailable(f"the training reports of {model_folder} cannot be found ({type(err).__name__}: {err})")
    if training_cases is None:  # fold "all": every case of the dataset
        training_cases = sorted(reports)
    missing = [c for c in training_cases if not isinstance(reports.get(c), str) or not reports[c].strip()]
    if missing:
        return unavailable(f"{len(missing)} training case(s) of fold {fold} have no report in {reports_file} "
                           f"({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''})")
    try:
        trained = dataset_convention(dataset_json, f"{model_folder}/dataset.json")
        convention = reconcile(declared or trained, trained, source)
        knowledge = dataset_knowledge(dataset_json, f"{model_folder}/dataset.json")
    except (LateralityConventionError, KnowledgeBaseError) as err:
        return unavailable(str(err))
    training = {c: reports[c] for c in training_cases}
    seen = seen_cases(case_reports, convention, training, trained)
    places_seen = places_seen_cases(case_reports, convention, training, trained, knowledge)
    return {"status": OK, "reason": None, "seen": seen, "places_seen": places_seen,
            "dataset": name, "fold": str(fold),
            "splits_file": None if splits_file is None else str(splits_file), "reports_file": str(reports_file),
            "n_training_cases": len(training_cases),
            "n_training_texts": len({prepare_report(reports[c], trained) for c in training_cases}),
            "n_seen": sum(seen.values()), "n_unseen": sum(not s for s in seen.values()),
            "n_unseen_known_places": sum(not seen[c] and places_seen[c] for c in seen),
            "n_unseen_new_places": sum(not seen[c] and not places_seen[c] for c in seen)}


class _Unavailable(Exception):
    pass


def _dataset_name(model_folder: Path) -> str:
    plans = model_folder / "plans.json"
    try:
        name = json.loads(plans.read_text()).get("dataset_name")
    except (OSError, ValueError):
        name = None
    return name or model_folder.parent.name  # nnUNet_results/DatasetXXX_Name/TRAINER__PLANS__CONF


def _training_cases(name: str, fold: str) -> tuple:
    """(training case ids of ``fold``, the splits file); (None, None) for fold "all"."""
    if fold == "all":
        return None, None
    root = os.environ.get("nnUNet_preprocessed")
    if not root:
        raise _Unavailable("nnUNet_preprocessed is not set, so the fold's training cases (splits_final.json) "
                           "are unknown")
    path = Path(root) / name / "splits_final.json"
    if not path.is_file():
        raise _Unavailable(f"{path} not found: the fold's training cases are unknown")
    try:
        splits = json.loads(path.read_text())
        return list(splits[int(fold)]["train"]), path
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise _Unavailable(f"{path} has no training cases for fold {fold} ({type(err).__name__}: {err})") from None
