"""Text-aware prediction: nnU-Net's predictor, fed each case's report.

``nnUNetv2_predict`` always builds a plain ``nnUNetPredictor`` and only ever calls ``network(x)``.
When that predictor loads a TGC model it asks the trainer class to build the network; the trainer
then turns the calling predictor into a :class:`TGCPredictor` (:func:`adopt_calling_predictor`). That
adoption exists for the stock command (and a user's own ``nnUNetPredictor``) only: the plugin's own
routes, final validation and ``nnunet-tgc ablate``, construct a TGCPredictor themselves.
From there on, every case is predicted with its own report:

* ``predict_from_files`` / ``predict_from_files_sequential`` (``-npp 0 -nps 0``) read
  ``reports.json`` from the input folder (or the reports given with :meth:`TGCPredictor.set_reports`)
  and check that every input case has one *before anything is written*;
* each case's logits are computed with its report; test-time mirroring mirrors the report too.

Python API: ``TGCPredictor(...).initialize_from_trained_model_folder(...)`` then
``set_reports({case: text})`` and ``predict_from_files(...)``, or ``predict_single_npy_array(..., text=...)``.
"""
import contextlib
import itertools
import os
from pathlib import Path
from typing import Dict, Mapping, Optional

import torch
from nnunetv2.configuration import default_num_processes
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
from nnunetv2.utilities.utils import create_lists_from_splitted_dataset_folder
from torch._dynamo import OptimizedModule

from ..text.cache import TextFeatureCache
from ..text.knowledge import dataset_knowledge
from ..text.laterality import mirror_text
from ..text.convention import DATASET_KEY, dataset_convention, prepare_reports, reconcile
from ..text.reports import (ALLOW_NO_REPORT_KEY, DEFAULT_REPORTS_FILE, LATERALITY_KEY, load_reports_with_options,
                            require_reports)
from .coordinates import append_coordinates, mirror_coordinates, split_coordinates
from .text_mirroring import text_axes


def _case_id(files, file_ending: str) -> str:
    """nnU-Net's case id of one case's channel files: the first file's name without _0000 and ending."""
    return os.path.basename(files[0])[:-(len(file_ending) + 5)]


def unwrap(network):
    """The TGCNet inside DDP / torch.compile wrappers."""
    network = getattr(network, "module", network)
    return network._orig_mod if isinstance(network, OptimizedModule) else network


def make_text_cache(network, dataset_json, source="dataset.json") -> TextFeatureCache:
    """The text path of ``network`` for reports of the dataset ``dataset_json`` describes: its knowledge
    domain decides which knowledge DATE reads and which words the places are read with."""
    net = unwrap(network)
    knowledge = dataset_knowledge(dataset_json, source)
    return TextFeatureCache(net.towers, knowledge if net.date.use_knowledge else None, vocabulary=knowledge,
                            features_without_places=net.places_only_in_map)


class TGCPredictor(nnUNetPredictor):
    # class-level defaults: a stock nnUNetPredictor adopted by __class__ assignment has no __init__ run
    reports: Optional[Dict[str, str]] = None
    text_cache: Optional[TextFeatureCache] = None
    current_report: Optional[str] = None   # set only by _report_of_one_case, for one case
    _queued = None                          # [(output file, report)] of a predict_from_files run
    report_options: Dict = {}

    # ------------------------------------------------------------------ which report for which case
    def set_reports(self, reports: Mapping[str, Optional[str]], allow_no_report: bool = False,
                    laterality: Optional[str] = None) -> None:
        """Reports by case id for the next predictions (instead of ``reports.json`` in the input folder).

        ``allow_no_report``: a value None or "" predicts that case without a report (models trained with
        report dropout only). ``laterality``: whose left/right the reports mean ("image", "patient",
        "unknown"; default: the training dataset's convention).
        """
        if allow_no_report and self._network_built() and not self.supports_no_report:
            raise ValueError(self._no_report_refusal("set_reports(..., allow_no_report=True)"))
        self.reports = dict(reports)
        self.report_options = {ALLOW_NO_REPORT_KEY: bool(allow_no_report)}
        if laterality is not None:
            self.report_options[LATERALITY_KEY] = laterality

    def _network_built(self) -> bool:
        return getattr(self, "network", None) is not None

    @property
    def supports_no_report(self) -> bool:
        """True when the loaded model can segment a case without a report: trained with report dropout (a learned
        "no report" input) or with the image route (which segments every report that places nothing, and no
        report at all, from the image alone)."""
        net = unwrap(self.network)
        return net.date.supports_no_report or net.image_route

    def _no_report_refusal(self, what: str) -> str:
        return (f"{what}: this model was trained without report dropout and without the image route, so it cannot "
                f"segment a case without a report. Give every case its report, or train a variant that can "
                f"(nnUNetTrainerTGC with its default image route, or nnUNetTrainerTGC_reportDropout; see "
                f"documentation/text.md).")

    def prepared_reports(self, reports: Mapping[str, Optional[str]], options: Mapping, source,
                         announce: bool = True) -> Dict[str, str]:
        """Every report as the model reads it (nnunet_tgc.text.convention.prepare_report): normalised and
        mapped from the convention declared in ``options`` (default: the training dataset's) to the internal
        one. Refuses no-report values unless ``options`` allow them and the model supports it."""
        allow = bool(options.get(ALLOW_NO_REPORT_KEY))
        if allow and not self.supports_no_report:
            raise ValueError(self._no_report_refusal(f"{source} allows cases without a report"))
        trained = dataset_convention(self.dataset_json, "the model's dataset.json")
        declared = options.get(LATERALITY_KEY)
        convention = reconcile(declared or trained, trained, source)
        if announce:
            origin = f"declared by {LATERALITY_KEY} there" if declared else f"the training dataset's {DATASET_KEY}"
            print(f"TGC-Net: reports of {source} read with laterality convention {convention!r} ({origin}); "
                  f"{sum(not r for r in reports.values())} case(s) without a report")
        return prepare_reports(reports, convention)

    def _reports_for(self, list_of_lists_or_source_folder) -> Dict[str, str]:
        ending = self.dataset_json["file_ending"]
        if isinstance(list_of_lists_or_source_folder, (str, os.PathLike)):
            folder = Path(list_of_lists_or_source_folder)
            files = create_lists_from_splitted_dataset_folder(str(folder), ending)
        else:
            files = list_of_lists_or_source_folder
            folder = Path(files[0][0]).parent if files else Path(".")
        case_ids = [_case_id(f, ending) for f in files]
        if self.reports is not None:
            reports, options, source = self.reports, self.report_options, "the reports given to TGCPredictor.set_reports"
        else:
            source = folder / DEFAULT_REPORTS_FILE
            if not source.is_file():
                raise FileNotFoundError(
                    f"TGC-Net needs a report for every input case, but {source} does not exist. Put a reports.json "
                    f"({{\"<case id>\": \"<report>\"}}) next to the input images (see documentation/text.md).")
            reports, options = load_reports_with_options(source)
        allow = bool(options.get(ALLOW_NO_REPORT_KEY))
        return self.prepared_reports(require_reports(reports, case_ids, source, allow_no_report=allow), options, source)

    # nnU-Net records its arguments with inspect.signature(self.<method>) + locals(), so these
    # overrides keep the exact parameter names of nnunetv2 2.8.1
    def predict_from_files(self, list_of_lists_or_source_folder, output_folder_or_list_of_truncated_output_files,
                           save_probabilities=False, overwrite=True, num_processes_preprocessing=default_num_processes,
                           num_processes_segmentation_export=default_num_processes,
                           folder_with_segs_from_prev_stage=None, num_parts=1, part_id=0):
        self._case_reports = self._reports_for(list_of_lists_or_source_folder)  # fails before any output
        with self._reports_consumed():
            return super().predict_from_files(
                list_of_lists_or_source_folder, output_folder_or_list_of_truncated_output_files, save_probabilities,
                overwrite, num_processes_preprocessing, num_processes_segmentation_export,
                folder_with_segs_from_prev_stage, num_parts, part_id)

    def predict_from_files_sequential(self, list_of_lists_or_source_folder,
                                      output_folder_or_list_of_truncated_output_files, save_probabilities=False,
                                      overwrite=True, folder_with_segs_from_prev_stage=None):
        self._case_reports = self._reports_for(list_of_lists_or_source_folder)
        with self._reports_consumed():
            return super().predict_from_files_sequential(
                list_of_lists_or_source_folder, output_folder_or_list_of_truncated_output_files, save_probabilities,
                overwrite, folder_with_segs_from_prev_stage)

    @contextlib.contextmanager
    def _reports_consumed(self):
        """After a file-based run no report stays queued or current, so a later call cannot silently reuse one."""
        try:
            yield
        finally:
            self._queued, self.current_report = None, None

    def predict_from_list_of_npy_arrays(self, *args, **kwargs):
        raise NotImplementedError(
            "TGC-Net needs each image's report, which predict_from_list_of_npy_arrays cannot carry: use "
            "predict_single_npy_array(image, properties, text=...) per image, or predict_from_files with reports.")

    def _manage_input_and_output_lists(self, *args, **kwargs):
        lists, outputs, prev = super()._manage_input_and_output_lists(*args, **kwargs)
        # the cases nnU-Net will predict (after its own overwrite filtering), in its order, with their reports
        ending = self.dataset_json["file_ending"]
        outputs_or_none = outputs if outputs is not None else [None] * len(lists)
        self._queued = [(out, self._case_reports[_case_id(f, ending)]) for f, out in zip(lists, outputs_or_none)]
        return lists, outputs, prev

    def _dequeue_report(self, output_file=None) -> str:
        """The queued report of the case written to ``output_file`` (default: the next case in list order)."""
        index = 0 if output_file is None else [o for o, _ in self._queued].index(output_file)
        return self._queued.pop(index)[1]

    def predict_from_data_iterator(self, data_iterator, *args, **kwargs):
        return super().predict_from_data_iterator(self._items_with_reports(data_iterator), *args, **kwargs)

    def _items_with_reports(self, data_iterator):
        """nnU-Net's loop over preprocessed cases, each predicted while its own report is current. The
        preprocessing workers may deliver cases out of order, so the report follows each item's 'ofile'."""
        for item in data_iterator:
            if not self._queued:  # a caller's own iterator (no predict_from_files)
                yield item
                continue
            with self._report_of_one_case(self._dequeue_report(item.get("ofile")), "predict_from_files"):
                yield item

    def predict_logits_from_preprocessed_data(self, data: torch.Tensor) -> torch.Tensor:
        if self.current_report is None and self._queued:
            # predict_from_files_sequential (-npp 0 -nps 0) predicts the queued cases in list order
            with self._report_of_one_case(self._dequeue_report(), "predict_from_files_sequential"):
                return super().predict_logits_from_preprocessed_data(data)
        if self.current_report is None:
            raise RuntimeError("TGC-Net needs the case's report: use predict_from_files with reports.json or "
                               "set_reports(), or predict_single_npy_array(..., text=...)")
        return super().predict_logits_from_preprocessed_data(data)

    def predict_single_npy_array(self, input_image, image_properties, segmentation_previous_stage=None,
                                 output_file_truncated=None, save_or_return_probabilities=False, text=None,
                                 allow_no_report=False, laterality=None):
        if not allow_no_report and (not text or not str(text).strip()):
            raise ValueError("predict_single_npy_array needs text=<the case's report> for TGC-Net (or "
                             "allow_no_report=True with a model trained with report dropout)")
        options = {ALLOW_NO_REPORT_KEY: allow_no_report, **({LATERALITY_KEY: laterality} if laterality else {})}
        report = self.prepared_reports({"case": text}, options, "predict_single_npy_array", announce=False)["case"]
        with self._report_of_one_case(report, "predict_single_npy_array"):
            return super().predict_single_npy_array(input_image, image_properties, segmentation_previous_stage,
                                                    output_file_truncated, save_or_return_probabilities)

    @contextlib.contextmanager
    def _report_of_one_case(self, report: str, caller: str):
        """The one place a report becomes current: ``report`` (as the model reads it, ``prepared_reports``;
        NO_REPORT only where the options allowed it) is current while one preprocessed case is predicted,
        and no report is afterwards. nnU-Net's sliding-window methods have no parameter for it, so
        ``_internal_maybe_mirror_and_predict`` reads the current report for each window and mirrored pass.
        Every route sets it here: files (``_items_with_reports``, the sequential path in
        ``predict_logits_from_preprocessed_data``), ``predict_single_npy_array``, ``ablate``
        (``predict_logits_with_report``) and the trainer's final validation (``predict_sliding_window_with_report``)."""
        if report is None:
            raise ValueError(f"{caller}: no report for this case")
        self.current_report = report
        try:
            yield
        finally:
            self.current_report = None

    def _one_explicit_report(self, report: str, caller: str):
        if not report or not str(report).strip():
            raise ValueError(f"{caller} needs a non-empty report")
        return self._report_of_one_case(report, caller)

    def predict_logits_with_report(self, data: torch.Tensor, report: str) -> torch.Tensor:
        """Logits of one preprocessed case with ``report``, averaged over the loaded folds (``nnunet-tgc
        ablate`` preprocesses a case once and predicts it with several reports)."""
        with self._one_explicit_report(report, "predict_logits_with_report"):
            return self.predict_logits_from_preprocessed_data(data)

    def predict_sliding_window_with_report(self, data: torch.Tensor, report: str) -> torch.Tensor:
        """nnU-Net's sliding-window logits of one preprocessed case with ``report``, from the network as it is
        (no fold's parameters are loaded): the trainer's final validation, whose network is the one it trained."""
        with self._one_explicit_report(report, "predict_sliding_window_with_report"):
            return self.predict_sliding_window_return_logits(data)

    # ------------------------------------------------------------------ the forward passes with text
    def encoded(self, report: str):
        if self.text_cache is None:
            self.text_cache = make_text_cache(self.network, self.dataset_json, "the model's dataset.json")
        return self.text_cache.batch([report], self.device)

    def predict_sliding_window_return_logits(self, input_image: torch.Tensor):
        """nnU-Net's sliding-window prediction of one whole preprocessed case, with every pixel's position
        in that case appended as two channels before nnU-Net pads it and cuts its windows
        (``coordinates.py``); the windows' network calls split them off again."""
        return super().predict_sliding_window_return_logits(append_coordinates(input_image))

    @torch.inference_mode()
    def _internal_maybe_mirror_and_predict(self, x: torch.Tensor) -> torch.Tensor:
        """nnU-Net's window prediction with test-time mirroring: each mirrored pass gets the mirrored report
        and the mirrored image's coordinates."""
        report = self.current_report
        image, coordinates = split_coordinates(x)
        prediction = self.network(image, self.encoded(report), coordinates)
        mirror_axes = self.allowed_mirroring_axes if self.use_mirroring else None
        if mirror_axes:
            lateral, vertical = text_axes(self.dataset_json)
            combos = [c for i in range(len(mirror_axes)) for c in itertools.combinations(mirror_axes, i + 1)]
            for axes in combos:
                mirrored = self.encoded(mirror_text(report, axes, lateral, vertical))
                dims = [a + 2 for a in axes]
                mirrored_coordinates = torch.stack([mirror_coordinates(c, axes) for c in coordinates])
                prediction += torch.flip(self.network(torch.flip(image, dims), mirrored, mirrored_coordinates), dims)
            prediction /= len(combos) + 1
        return prediction


def adopt_calling_predictor(frame) -> None:
    """Turn the stock ``nnUNetPredictor`` that is building a TGC network into a TGCPredictor.

    ``nnUNetv2_predict`` hard-codes ``nnUNetPredictor`` and loads the trainer class by name; the
    trainer's ``build_network_architecture`` is the only plugin code it runs before predicting, and no
    argument of any call it makes names the case being predicted. The
    predictor is the ``self`` of the calling frame (``initialize_from_trained_model_folder``);
    TGCPredictor adds no state that ``__init__`` must set, so switching its class is safe.
    """
    caller = frame.f_locals.get("self") if frame is not None else None
    if isinstance(caller, nnUNetPredictor) and not isinstance(caller, TGCPredictor):
        caller.__class__ = TGCPredictor


