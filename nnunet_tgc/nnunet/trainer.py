"""nnU-Net trainers for TGC-Net.

nnU-Net's own training loop, loss, deep supervision, splits and augmentation, with these changes:

* the network is TGC-Net (built from the plans' stages, see ``build_network_architecture``);
* every batch is paired with its cases' reports, looked up by the batch's ``keys`` and encoded once
  per distinct text (:class:`~nnunet_tgc.text.cache.TextFeatureCache`); the batch reaches the network
  as one :class:`~nnunet_tgc.model.network_input.TGCInput` (images, reports, coordinates), so nnU-Net's
  own train and validation steps call ``network(data)`` with the reports as part of their argument;
* mirroring keeps image and report consistent (``text_mirroring``), and rotations are limited to
  +-15 degrees, because a report's "upper left" means nothing in an image turned upside down;
* every pixel carries its position in the whole image through patches, augmentation and sliding
  windows (``coordinates.py``), where the network reads the report's place map;
* the final validation predicts every case with its own report.

nnU-Net's ``-pretrained_weights`` needs nothing here: its own loader transfers a TGC checkpoint by its
rules, because the network names its class-specific layers ``seg_layers`` (``model/tgc_net.py``).

Overrides of nnU-Net methods (each says why where it is defined): ``build_network_architecture``,
``_build_loss``, ``_do_i_compile``, ``plot_network_architecture``, ``initialize``, ``on_train_start``,
``get_tr_and_val_datasets``, ``get_training_transforms``, ``on_train_epoch_start``, ``train_step``,
``validation_step``, ``configure_rotation_dummyDA_mirroring_and_inital_patch_size`` and
``perform_actual_validation``. Two of them, ``initialize`` and ``perform_actual_validation``, are copies of
nnU-Net 2.8.1's methods with marked differences (a test pins the source of the originals).

Variants follow nnU-Net's habit: subclasses that change one class attribute.
"""
import multiprocessing
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from time import sleep

import numpy as np
import torch
import torch.distributed as dist
from batchgenerators.utilities.file_and_folder_operations import join, maybe_mkdir_p
from nnunetv2.configuration import default_num_processes
from nnunetv2.evaluation.evaluate_predictions import compute_metrics_on_folder
from nnunetv2.inference.export_prediction import export_prediction_from_logits, resample_and_save
from nnunetv2.inference.sliding_window_prediction import compute_gaussian
from nnunetv2.paths import nnUNet_preprocessed
from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from nnunetv2.utilities.file_path_utilities import check_workers_alive_and_busy
from nnunetv2.utilities.label_handling.label_handling import convert_labelmap_to_one_hot, determine_num_input_channels
from nnunetv2.training.data_augmentation.compute_initial_patch_size import get_patch_size

from ..model.alignment_loss import similarity_map_loss
from ..model.factory import create_tgc_net
from ..model.network_input import SegmentationAndMaps, TGCInput
from ..model.place_map import fit_place_map
from ..text.convention import dataset_convention, prepare_reports
from ..text.knowledge import dataset_domain
from ..text.synonyms import reword_batch
from ..text.withheld import withhold_batch
from ..text.reports import ReportsFileError, find_training_reports, load_reports_with_options, require_reports
from .architecture import tgc_architecture_from_plans, tower_input_from_plans
from .ddp import ddp_wrap, rank_device, text_rng
from .env import model_settings
from .predictor import TGCPredictor, adopt_calling_predictor, make_text_cache, unwrap
from .coordinates import DatasetWithCoordinates, spatial_only, split_coordinates
from .place_fit import training_place_targets
from .report_dropout import drop_reports
from .text_mirroring import consistent_mirror_axes, mirror_batch, text_axes

__all__ = ["nnUNetTrainerTGC", "nnUNetTrainerTGC_tiny", "nnUNetTrainerTGC_BiomedCLIP",
           "nnUNetTrainerTGC_noCNN", "nnUNetTrainerTGC_noViTTaps", "nnUNetTrainerTGC_noKnowledge",
           "nnUNetTrainerTGC_noVLCM",
           "nnUNetTrainerTGC_noTextMirroring", "nnUNetTrainerTGC_bothAxesMirroring",
           "nnUNetTrainerTGC_noAlignmentLoss", "nnUNetTrainerTGC_100epochs", "nnUNetTrainerTGC_tiny_5epochs",
           "nnUNetTrainerTGC_tiny_demo", "nnUNetTrainerTGC_reportDropout",
           "nnUNetTrainerTGC_noPlaceFit", "nnUNetTrainerTGC_noPlaceMap", "nnUNetTrainerTGC_noSynonyms",
           "nnUNetTrainerTGC_noUnplaced", "nnUNetTrainerTGC_noUncounted", "nnUNetTrainerTGC_noLateralityWords",
           "nnUNetTrainerTGC_noPlaceEvidence", "nnUNetTrainerTGC_placesOnlyInMap",
           "nnUNetTrainerTGC_noImageRoute"]


def limited_rotation(rotation, patch_size, max_rotation_deg: float):
    """nnU-Net's rotation range limited to +-``max_rotation_deg`` -> (rotation, the initial patch sized for it
    and for scaling by 0.85 to 1.25): TGC-Net's augmentation ("upper left" means nothing upside down)."""
    limit = np.deg2rad(max_rotation_deg)
    rotation = (max(rotation[0], -limit), min(rotation[1], limit))
    return rotation, get_patch_size(patch_size, rotation, rotation, rotation, (0.85, 1.25))


class WithAuxiliaryLosses:
    """nnU-Net's segmentation loss, plus ``alignment_weight`` x the loss on the similarity and place maps, plus
    ``image_route_weight`` x the segmentation loss of the image route's logits, for what the network returned
    (training steps ask for them; see ``nnUNetTrainerTGC._network_input``)."""

    def __init__(self, segmentation_loss, ignore_label, alignment_weight: float, image_route_weight: float = 1.0):
        self.segmentation_loss, self.ignore_label = segmentation_loss, ignore_label
        self.alignment_weight, self.image_route_weight = alignment_weight, image_route_weight

    def __call__(self, output, target):
        if not isinstance(output, SegmentationAndMaps):
            return self.segmentation_loss(output, target)
        loss = self.segmentation_loss(output.segmentation, target)
        if output.similarity_maps and self.alignment_weight > 0:
            full_res = target[0] if isinstance(target, list) else target
            loss = loss + self.alignment_weight * similarity_map_loss(output.similarity_maps, full_res,
                                                                      self.ignore_label)
        if output.image_only is not None:
            loss = loss + self.image_route_weight * self.segmentation_loss(output.image_only, target)
        return loss


class nnUNetTrainerTGC(nnUNetTrainer):
    tgc_backbone = "ViT-B-16"
    tgc_width_factor = 0.5       # CNN branch and decoder at half nnU-Net's planned widths
    tgc_use_cnn_branch = True    # ablations: switch one module off
    tgc_use_vit_taps = True      # SSE adds the ViT's taps to the CNN stages
    tgc_use_knowledge = True
    tgc_use_vlcm = True
    tgc_text_mirroring = True    # False: never mirror (neither in training nor at test time)
    # left-right only: nobody reads a chest radiograph upside down, and on QaTa both axes scored below
    # no mirroring at all (documentation/architecture.md, "Mirroring")
    tgc_mirror_vertical = False
    tgc_max_rotation_deg = 15.0
    tgc_alignment_loss_weight = 1.0  # supervision of VLCM's similarity maps and the place map (0: none)
    tgc_use_place_map = True         # the report's place map (input channel, skips, VLCM's similarity)
    tgc_place_input = True           # the place map is also an input channel of the CNN branch
    tgc_places_only_in_map = False   # True: DATE and VLCM read the report without its places (only the map does)
    tgc_report_dropout = 0.0         # share of training samples given the learned "no report" input instead
    tgc_synonym_rate = 0.5           # share of training reports re-worded with the knowledge base's synonyms
    tgc_unplaced_rate = 0.15         # share of training reports with their places taken out (text/withheld.py)
    tgc_uncounted_rate = 0.25        # share of training reports with their counts taken out (text/withheld.py)
    # share of training reports without "unilateral"/"bilateral" where their places say it (text/withheld.py;
    # 0.5 in nnUNetTrainerTGC_noLateralityWords, not the default: documentation/results.md section 20)
    tgc_no_laterality_word_rate = 0.0
    tgc_fit_place_map = True         # fit the place map to the training masks before epoch 0
    tgc_place_fit_steps = 300        # full-batch Adam steps of that fit
    tgc_image_route = True           # a report placing nothing gets the image route, trained on every sample
    tgc_image_route_weight = 1.0     # weight of the image route's segmentation loss (the routed output's is 1)
    tgc_image_route_stages = 0       # the decoder's finest stages the image route has of its own (0: all shared)
    tgc_place_evidence = True        # the report's place map also added to the text route's logits (PlaceEvidence)
    tgc_route_mix = 0.0              # share of the image route with the place evidence in a placed report's logits

    def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        if self.is_ddp and rank_device(self.device) != self.device:  # -num_gpus with gloo on a CPU machine
            self.device, self.grad_scaler = rank_device(self.device), None
            print(f"Rank {self.local_rank}: no CUDA, training on the CPU")

    # ------------------------------------------------------------------------------ network
    @classmethod
    def build_network_architecture(cls, plans_manager, configuration_manager, num_input_channels,
                                   num_output_channels, enable_deep_supervision=True):
        # nnU-Net calls this on the class at prediction and on the instance in training; a classmethod
        # serves both and lets variants configure the network through class attributes
        adopt_calling_predictor(sys._getframe(1))
        # the CNN branch and decoder follow the plans' architecture class and operators (default or ResEnc)
        stages, cnn = tgc_architecture_from_plans(
            configuration_manager, f"plans {plans_manager.plans_name}, architecture of this configuration")
        # the frozen ViT reads the images with its own input statistics, mapped from nnU-Net's normalisation
        tower_input = tower_input_from_plans(plans_manager, configuration_manager, num_input_channels,
                                             f"plans {plans_manager.plans_name}")
        return create_tgc_net(
            cls.tgc_backbone, num_input_channels, num_output_channels, **stages, cnn=cnn,
            deep_supervision=enable_deep_supervision, width_factor=cls.tgc_width_factor,
            use_cnn_branch=cls.tgc_use_cnn_branch, use_knowledge=cls.tgc_use_knowledge,
            use_vlcm=cls.tgc_use_vlcm, use_place_map=cls.tgc_use_place_map,
            learn_no_report=cls.tgc_report_dropout > 0, place_input=cls.tgc_place_input, tower_input=tower_input,
            places_only_in_map=cls.tgc_places_only_in_map, use_vit_taps=cls.tgc_use_vit_taps,
            image_route=cls.tgc_image_route, image_route_stages=cls.tgc_image_route_stages,
            place_evidence=cls.tgc_place_evidence, route_mix=cls.tgc_route_mix,
            **model_settings())  # the environment's weights, tower dtype and knowledge policy, read here once

    def _build_loss(self):
        # always wrapped: the output decides which terms there are (``_network_input`` asks the network for
        # them), so whether there is an image route is read in one place, the network
        return WithAuxiliaryLosses(super()._build_loss(), self.label_manager.ignore_label,
                                   self.tgc_alignment_loss_weight, self.tgc_image_route_weight)

    def _do_i_compile(self):
        # off unless asked for: text batches vary in token count, which recompiles; measured gains
        # on GPU are still to be established (documentation/architecture.md)
        return super()._do_i_compile() and os.environ.get("nnUNet_compile", "").lower() in ("true", "1", "t")

    def plot_network_architecture(self):
        pass  # hiddenlayer traces network(x) with one input; TGC-Net needs (image, text)

    # ------------------------------------------------------------------------------ reports
    def initialize(self):
        """Replaces ``nnUNetTrainer.initialize`` (nnU-Net 2.8): the same steps in the same order, for one
        difference, the DDP wrapping, plus TGC's own set-up around them.

        nnU-Net wraps with ``DDP(network, device_ids=[self.local_rank])`` inline, which a module on the CPU
        refuses (``-num_gpus`` with gloo on a machine without CUDA: how the tests train two ranks); a method
        cannot change that call short of replacing a module global. Here :func:`.ddp.ddp_wrap` does nnU-Net's
        wrapping (SyncBatchNorm conversion, ``device_ids=[local_rank]`` on CUDA) with ``device_ids=None``
        only for a network on the CPU, and no ``find_unused_parameters``: every parameter TGC-Net creates
        takes part in every step (``tests/test_ddp_parameters.py``). Everything else that reads ``is_ddp``
        is in nnU-Net's own methods, called as nnU-Net calls them: the batch size and oversampling per rank
        (``_set_batch_size_and_oversample``) and the loss's DDP dice and deep-supervision weights
        (``_build_loss``). A test holds the source of the nnU-Net method this copies, so that an nnU-Net
        release that changes it is noticed.

        Before: the reports are loaded (a missing report fails in seconds, before anything is built).
        After: the text cache, the text sampling stream (mirroring, synonyms, place-free reports, dropout), and
        the parameter counts in the log."""
        if self.was_initialized:
            raise RuntimeError("You have called self.initialize even though the trainer was already initialized. "
                               "That should not happen.")
        self._load_case_reports()
        # --- nnUNetTrainer.initialize from here to the logger's config
        # DDP: the batch size and oversampling of this rank (there are no distributed samplers)
        self._set_batch_size_and_oversample()
        self.num_input_channels = determine_num_input_channels(self.plans_manager, self.configuration_manager,
                                                               self.dataset_json)
        self.network = self.build_network_architecture(
            self.plans_manager, self.configuration_manager, self.num_input_channels,
            self.label_manager.num_segmentation_heads, self.enable_deep_supervision).to(self.device)
        if self._do_i_compile():
            self.print_to_log_file('Using torch.compile...')
            self.network = torch.compile(self.network)
        self.optimizer, self.lr_scheduler = self.configure_optimizers()
        if self.is_ddp:
            self.network = ddp_wrap(self.network, self.local_rank)
        self.loss = self._build_loss()
        self.dataset_class = infer_dataset_class(self.preprocessed_dataset_folder)
        self.was_initialized = True
        self.logger.update_config({"hparas": {
            "initial_lr": self.initial_lr,
            "weight_decay": self.weight_decay,
            "oversample_foreground_percent": self.oversample_foreground_percent,
            "probabilistic_oversampling": self.probabilistic_oversampling,
            "num_iterations_per_epoch": self.num_iterations_per_epoch,
            "num_val_iterations_per_epoch": self.num_val_iterations_per_epoch,
            "num_epochs": self.num_epochs,
            "enable_deep_supervision": self.enable_deep_supervision,
            "batch_size": self.configuration_manager.batch_size}})
        # --- TGC-Net
        self.text_cache = make_text_cache(self.network, self.dataset_json,
                                          f"dataset.json of {self.plans_manager.dataset_name}")
        self.text_rng = text_rng(self.fold, self.local_rank, self.current_epoch)
        self.print_to_log_file(
            f"TGC-Net trainable parameters: {unwrap(self.network).parameter_counts()}; per module: "
            f"{unwrap(self.network).module_parameter_counts()}")

    def _load_case_reports(self):
        self.reports_file = find_training_reports(self.plans_manager.dataset_name)
        dataset_class = infer_dataset_class(self.preprocessed_dataset_folder)
        case_ids = dataset_class.get_identifiers(self.preprocessed_dataset_folder)
        reports, options = load_reports_with_options(self.reports_file)
        if options:
            raise ReportsFileError(f"{self.reports_file}: the options {sorted(options)} are for the reports given "
                                   f"at prediction; a training dataset declares its laterality in dataset.json "
                                   f"('tgc_laterality') and every training case needs its report.")
        convention = dataset_convention(self.dataset_json, f"dataset.json of {self.plans_manager.dataset_name}")
        # the one normalisation every report gets before the model reads it (text/convention.py)
        self.case_reports = prepare_reports(require_reports(reports, case_ids, self.reports_file), convention)
        self.print_to_log_file(f"Reports: {len(self.case_reports)} cases, "
                               f"{len(set(self.case_reports.values()))} distinct texts, from {self.reports_file}; "
                               f"laterality convention {convention!r} mapped to the image side; knowledge domain "
                               f"{dataset_domain(self.dataset_json)!r} (dataset.json's 'tgc_knowledge_domain')")

    def on_train_start(self):
        super().on_train_start()
        # keep the reports with plans.json and dataset.json, so the results folder documents the run
        if self.local_rank == 0:
            shutil.copyfile(self.reports_file, Path(self.output_folder_base) / "reports.json")
        seconds = self.text_cache.warm_up(self.case_reports.values())
        self.print_to_log_file(f"Encoded {len(self.text_cache)} distinct reports once in {seconds:.1f} s")
        # a fresh run only: --c continues with the map it had
        if self.tgc_fit_place_map and self.current_epoch == 0 and unwrap(self.network).place_map is not None:
            self._fit_place_map()

    def _fit_place_map(self):
        """Fit the place map to the fold's training masks, so that the report says where to look from the
        first step on (``model/place_map.py``)."""
        t0 = time.perf_counter()
        network = unwrap(self.network)
        dataset, _ = self.get_tr_and_val_datasets()  # nnU-Net's own split of this fold
        train_keys = dataset.identifiers
        lateral, vertical = text_axes(self.dataset_json)
        targets = training_place_targets(self.text_cache, dataset, self.case_reports, train_keys,
                                         self.text_mirror_axes, lateral, vertical, self.device,
                                         self.label_manager.ignore_label, self.tgc_unplaced_rate,
                                         self.tgc_uncounted_rate,
                                         progress=self.print_to_log_file)
        result = fit_place_map(network.place_map, targets, steps=self.tgc_place_fit_steps)
        if self.is_ddp:  # every rank fitted the same data; rank 0's map is the one all ranks keep
            for p in network.place_map.parameters():
                dist.broadcast(p.data, src=0)
        self.print_to_log_file(
            f"TGC: place map fitted to the masks of {len(train_keys)} training cases ({result['groups']} "
            f"distinct reports, versions without places or counts included, mirrored along {self.text_mirror_axes}): loss "
            f"{result['loss_before']:.4f} -> {result['loss_after']:.4f} in {time.perf_counter() - t0:.1f} s")

    def get_tr_and_val_datasets(self):
        """nnU-Net's datasets of this fold, each case read with its pixels' coordinates in the whole image
        as two more channels (``coordinates.py``)."""
        dataset_tr, dataset_val = super().get_tr_and_val_datasets()
        return DatasetWithCoordinates(dataset_tr), DatasetWithCoordinates(dataset_val)

    @staticmethod
    def get_training_transforms(patch_size, rotation_for_DA, deep_supervision_scales, mirror_axes,
                                do_dummy_2d_data_aug, use_mask_for_norm=None, is_cascaded=False,
                                foreground_labels=None, regions=None, ignore_label=None):
        """nnU-Net's training transforms; the coordinate channels follow only its spatial transform."""
        return spatial_only(nnUNetTrainer.get_training_transforms(
            patch_size, rotation_for_DA, deep_supervision_scales, mirror_axes, do_dummy_2d_data_aug,
            use_mask_for_norm, is_cascaded, foreground_labels, regions, ignore_label))

    def _texts(self, keys):
        return [self.case_reports[k] for k in keys]

    def _network_input(self, image, texts, coordinates, training: bool) -> TGCInput:
        """The batch as the network's one argument: nnU-Net's steps call ``network(data)``, so ``data`` carries
        the reports' encoding and the pixels' coordinates with the images. Training steps also ask for the
        similarity and place maps, which the alignment loss supervises, and the image route's logits, which the
        segmentation loss supervises too; validation's loss is nnU-Net's (its ``validation_step`` reads the
        output as logits)."""
        net = unwrap(self.network)
        maps = training and (net.image_route or self.tgc_alignment_loss_weight > 0 and (
            net.vlcm is not None or net.place_map is not None))
        # re-worded texts are drawn anew every step: encoded, not kept
        remember = not training or self.tgc_synonym_rate == 0
        return TGCInput(image, self.text_cache.batch(texts, self.device, remember), coordinates, maps)

    # ------------------------------------------------------------------------------ steps
    def on_train_epoch_start(self):
        super().on_train_epoch_start()
        # per fold, rank and epoch: ranks mirror differently, and --c continues the stream where it was
        self.text_rng = text_rng(self.fold, self.local_rank, self.current_epoch)

    def train_step(self, batch: dict) -> dict:
        texts = self._texts(batch["keys"])
        batch["data"], coordinates = split_coordinates(batch["data"])
        if self.text_mirror_axes:
            lateral, vertical = text_axes(self.dataset_json)
            batch["data"], batch["target"], texts, coordinates = mirror_batch(
                batch["data"], batch["target"], texts, self.text_mirror_axes, lateral, vertical, self.text_rng,
                coordinates)
        texts = reword_batch(texts, self.tgc_synonym_rate, self.text_cache.vocabulary, self.text_rng)
        # a report may name no place (the network must then segment from the image) or count nothing
        texts = withhold_batch(texts, self.tgc_unplaced_rate, self.tgc_uncounted_rate, self.text_cache.vocabulary,
                               self.text_rng, self.tgc_no_laterality_word_rate)
        texts = drop_reports(texts, self.tgc_report_dropout, self.text_rng)
        batch["data"] = self._network_input(batch["data"], texts, coordinates, training=True)
        return super().train_step(batch)

    def validation_step(self, batch: dict) -> dict:
        image, coordinates = split_coordinates(batch["data"])
        batch["data"] = self._network_input(image, self._texts(batch["keys"]), coordinates, training=False)
        return super().validation_step(batch)

    # ------------------------------------------------------------------------------ augmentation
    text_mirror_axes = ()

    def configure_rotation_dummyDA_mirroring_and_inital_patch_size(self):
        rotation, dummy_2d, initial_patch_size, mirror_axes = \
            super().configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        rotation, initial_patch_size = limited_rotation(rotation, self.configuration_manager.patch_size,
                                                        self.tgc_max_rotation_deg)
        axes = consistent_mirror_axes(mirror_axes, self.dataset_json) if self.tgc_text_mirroring else ()
        if not self.tgc_mirror_vertical:
            axes = tuple(a for a in axes if a != text_axes(self.dataset_json)[1])
        self.text_mirror_axes = axes
        self.inference_allowed_mirroring_axes = axes or None
        self.print_to_log_file(f"TGC: rotation limited to +-{self.tgc_max_rotation_deg} deg; mirroring axes "
                               f"{axes} with the report mirrored alongside (nnU-Net's MirrorTransform is off)")
        # nnU-Net's MirrorTransform would flip images without their reports: train_step mirrors instead
        return rotation, dummy_2d, initial_patch_size, None

    # ------------------------------------------------------------------------------ final validation
    def perform_actual_validation(self, save_probabilities: bool = False):
        """Replaces ``nnUNetTrainer.perform_actual_validation`` (nnU-Net 2.8.1), copied step by step with two
        differences, each marked ``# TGC``: the predictor is a :class:`TGCPredictor` holding this run's text
        cache, and each validation case is predicted with its own report, handed to
        :meth:`TGCPredictor.predict_sliding_window_with_report` (the route every TGC prediction takes: the
        report is current for that case's sliding windows and their mirrored passes). nnU-Net builds its
        predictor and calls ``predict_sliding_window_return_logits(data)`` inline, so no smaller override can
        give the network a case's report. A test holds the source of the nnU-Net method this copies, so that
        an nnU-Net release that changes it is noticed."""
        self.set_deep_supervision_enabled(False)
        self.network.eval()

        if self.is_ddp and self.batch_size == 1 and self.enable_deep_supervision and self._do_i_compile():
            self.print_to_log_file("WARNING! batch size is 1 during training and torch.compile is enabled. If you "
                                   "encounter crashes in validation then this is because torch.compile forgets "
                                   "to trigger a recompilation of the model with deep supervision disabled. "
                                   "This causes torch.flip to complain about getting a tuple as input. Just rerun the "
                                   "validation with --val (exactly the same as before) and then it will work. "
                                   "Why? Because --val triggers nnU-Net to ONLY run validation meaning that the first "
                                   "forward pass (where compile is triggered) already has deep supervision disabled. "
                                   "This is exactly what we need in perform_actual_validation")

        # TGC: the text-aware predictor, with this run's text cache (its knowledge base bound)
        predictor = TGCPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=True,
                                 perform_everything_on_device=True, device=self.device, verbose=False,
                                 verbose_preprocessing=False, allow_tqdm=False)
        predictor.text_cache = self.text_cache
        predictor.manual_initialization(self.network, self.plans_manager, self.configuration_manager, None,
                                        self.dataset_json, self.__class__.__name__,
                                        self.inference_allowed_mirroring_axes)

        with multiprocessing.get_context("spawn").Pool(default_num_processes) as segmentation_export_pool:
            worker_list = [i for i in segmentation_export_pool._pool]
            validation_output_folder = join(self.output_folder, 'validation')
            maybe_mkdir_p(validation_output_folder)

            _, val_keys = self.do_split()
            if self.is_ddp:
                last_barrier_at_idx = len(val_keys) // dist.get_world_size() - 1

                val_keys = val_keys[self.local_rank:: dist.get_world_size()]

            dataset_val = self.dataset_class(self.preprocessed_dataset_folder, val_keys,
                                             folder_with_segs_from_previous_stage=self.folder_with_segs_from_previous_stage)

            next_stages = self.configuration_manager.next_stage_names

            if next_stages is not None:
                _ = [maybe_mkdir_p(join(self.output_folder_base, 'predicted_next_stage', n)) for n in next_stages]

            results = []

            for i, k in enumerate(dataset_val.identifiers):
                proceed = not check_workers_alive_and_busy(segmentation_export_pool, worker_list, results,
                                                           allowed_num_queued=2)
                while not proceed:
                    sleep(0.1)
                    proceed = not check_workers_alive_and_busy(segmentation_export_pool, worker_list, results,
                                                               allowed_num_queued=2)

                self.print_to_log_file(f"predicting {k}")
                data, _, seg_prev, properties = dataset_val.load_case(k)

                data = data[:]

                if self.is_cascaded:
                    seg_prev = seg_prev[:]
                    data = np.vstack((data, convert_labelmap_to_one_hot(seg_prev, self.label_manager.foreground_labels,
                                                                        output_dtype=data.dtype)))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    data = torch.from_numpy(data)

                self.print_to_log_file(f'{k}, shape {data.shape}, rank {self.local_rank}')
                output_filename_truncated = join(validation_output_folder, k)

                # TGC: the case is predicted with its own report
                prediction = predictor.predict_sliding_window_with_report(data, self.case_reports[k])
                prediction = prediction.cpu()

                results.append(
                    segmentation_export_pool.starmap_async(
                        export_prediction_from_logits, (
                            (prediction, properties, self.configuration_manager, self.plans_manager,
                             self.dataset_json, output_filename_truncated, save_probabilities),
                        )
                    )
                )

                if next_stages is not None:
                    for n in next_stages:
                        next_stage_config_manager = self.plans_manager.get_configuration(n)
                        expected_preprocessed_folder = join(nnUNet_preprocessed, self.plans_manager.dataset_name,
                                                            next_stage_config_manager.data_identifier)
                        dataset_class = infer_dataset_class(expected_preprocessed_folder)

                        try:
                            tmp = dataset_class(expected_preprocessed_folder, [k])
                            d, _, _, _ = tmp.load_case(k)
                        except FileNotFoundError:
                            self.print_to_log_file(
                                f"Predicting next stage {n} failed for case {k} because the preprocessed file is missing! "
                                f"Run the preprocessing for this configuration first!")
                            continue

                        target_shape = d.shape[1:]
                        output_folder = join(self.output_folder_base, 'predicted_next_stage', n)
                        output_file_truncated = join(output_folder, k)

                        results.append(segmentation_export_pool.starmap_async(
                            resample_and_save, (
                                (prediction, target_shape, output_file_truncated, self.plans_manager,
                                 self.configuration_manager,
                                 properties,
                                 self.dataset_json,
                                 default_num_processes,
                                 dataset_class),
                            )
                        ))
                if self.is_ddp and i < last_barrier_at_idx and (i + 1) % 20 == 0:
                    dist.barrier()

            _ = [r.get() for r in results]

        if self.is_ddp:
            dist.barrier()

        if self.local_rank == 0:
            metrics = compute_metrics_on_folder(join(self.preprocessed_dataset_folder_base, 'gt_segmentations'),
                                                validation_output_folder,
                                                join(validation_output_folder, 'summary.json'),
                                                self.plans_manager.image_reader_writer_class(),
                                                self.dataset_json["file_ending"],
                                                self.label_manager.foreground_regions if self.label_manager.has_regions else
                                                self.label_manager.foreground_labels,
                                                self.label_manager.ignore_label, chill=True,
                                                num_processes=default_num_processes * dist.get_world_size() if
                                                self.is_ddp else default_num_processes)
            for label in metrics["mean"]:
                self.logger.log_summary(f"final_val/class_{label}_dice", metrics["mean"][label]["Dice"])
            self.logger.log_summary("final_val/foreground_dice", metrics['foreground_mean']["Dice"])
            self.print_to_log_file("Validation complete", also_print_to_console=True)
            self.print_to_log_file("Mean Validation Dice: ", (metrics['foreground_mean']["Dice"]),
                                   also_print_to_console=True)

        self.set_deep_supervision_enabled(True)
        compute_gaussian.cache_clear()


# ---------------------------------------------------------------------------------- variants
class nnUNetTrainerTGC_tiny(nnUNetTrainerTGC):
    """Tiny random-weight CLIP (4 layers, width 64): CPU tests and the demo."""
    tgc_backbone = "tiny"


class nnUNetTrainerTGC_BiomedCLIP(nnUNetTrainerTGC):
    tgc_backbone = "BiomedCLIP"


class nnUNetTrainerTGC_noCNN(nnUNetTrainerTGC):
    """Ablation: SSE without its CNN branch (every stage from the ViT taps)."""
    tgc_use_cnn_branch = False


class nnUNetTrainerTGC_noViTTaps(nnUNetTrainerTGC):
    """Ablation: SSE without the ViT taps in the CNN stages (the CNN branch is the encoder; VLCM still reads
    the ViT)."""
    tgc_use_vit_taps = False


class nnUNetTrainerTGC_noKnowledge(nnUNetTrainerTGC):
    """Ablation: DATE without the knowledge base."""
    tgc_use_knowledge = False


class nnUNetTrainerTGC_noVLCM(nnUNetTrainerTGC):
    """Ablation: no VLCM; the report only modulates the bottleneck (FiLM)."""
    tgc_use_vlcm = False


class nnUNetTrainerTGC_noTextMirroring(nnUNetTrainerTGC):
    """No mirroring at all, in training or at test time."""
    tgc_text_mirroring = False


class nnUNetTrainerTGC_bothAxesMirroring(nnUNetTrainerTGC):
    """Mirror top-bottom too (with the report's upper/lower swapped), as nnU-Net mirrors 2D images."""
    tgc_mirror_vertical = True


class nnUNetTrainerTGC_noAlignmentLoss(nnUNetTrainerTGC):
    """Ablation: VLCM's similarity maps trained only through the segmentation loss."""
    tgc_alignment_loss_weight = 0.0


class nnUNetTrainerTGC_reportDropout(nnUNetTrainerTGC):
    """Report dropout: a fifth of the training samples get the learned "no report" input, so the model
    can also segment a case without a report (``allow_no_report`` at prediction). Without the image route, which
    would segment such a case itself: this is the other way to do without a report."""
    tgc_report_dropout = 0.2
    tgc_image_route = False


class nnUNetTrainerTGC_noPlaceFit(nnUNetTrainerTGC):
    """Ablation: the place map starts untrained (learnt only alongside the network)."""
    tgc_fit_place_map = False


class nnUNetTrainerTGC_noSynonyms(nnUNetTrainerTGC):
    """Ablation: training reports keep their own words (no synonyms; a share still loses its places)."""
    tgc_synonym_rate = 0.0


class nnUNetTrainerTGC_noUnplaced(nnUNetTrainerTGC):
    """Ablation: every training report keeps its places (a report that names none is never seen)."""
    tgc_unplaced_rate = 0.0


class nnUNetTrainerTGC_noUncounted(nnUNetTrainerTGC):
    """Ablation: every training report keeps its counts (a report that counts nothing is never seen)."""
    tgc_uncounted_rate = 0.0


class nnUNetTrainerTGC_noLateralityWords(nnUNetTrainerTGC):
    """Variant: half the training reports lose "unilateral"/"bilateral" where their places say it, so that
    one-sidedness is read from the places, not from a word every one-sided training report shares (measured on
    QaTa: other people's wordings read as the own reports, but a lower own-report Dice and side share in two of
    three runs; documentation/results.md section 20)."""
    tgc_no_laterality_word_rate = 0.5


class nnUNetTrainerTGC_noPlaceEvidence(nnUNetTrainerTGC):
    """Ablation: the report's places do not enter the logits as evidence, only as features (the place map in the
    CNN branch's input, the skips and VLCM): the default network before documentation/results.md section 21, whose
    side share moved with the wording."""
    tgc_place_evidence = False


class nnUNetTrainerTGC_placesOnlyInMap(nnUNetTrainerTGC):
    """Variant: DATE and VLCM read the report with its place terms taken out; only the place map reads places
    (measured on QaTa: no gain on unseen reports, more empty predictions; documentation/results.md section 9)."""
    tgc_places_only_in_map = True


class nnUNetTrainerTGC_noImageRoute(nnUNetTrainerTGC):
    """Ablation: no image route; a report that places nothing goes through the text route like any other
    (documentation/results.md section 15)."""
    tgc_image_route = False


class nnUNetTrainerTGC_noPlaceMap(nnUNetTrainerTGC):
    """Ablation: no place map; the report reaches the pixels through DATE and VLCM only (and without the image
    route, which reads from the report's places whether it places anything, and without the place evidence)."""
    tgc_use_place_map = False
    tgc_image_route = False
    tgc_place_evidence = False


class nnUNetTrainerTGC_100epochs(nnUNetTrainerTGC):
    def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 100


class nnUNetTrainerTGC_tiny_5epochs(nnUNetTrainerTGC_tiny):
    def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 5


class nnUNetTrainerTGC_tiny_demo(nnUNetTrainerTGC_tiny):
    """The README demo: 15 short epochs of the tiny backbone, a few minutes on a laptop CPU."""

    def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 15
        self.num_iterations_per_epoch = 25
        self.num_val_iterations_per_epoch = 5
