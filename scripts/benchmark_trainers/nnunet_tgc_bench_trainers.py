"""Short trainers for ``scripts/benchmark_qata.py``: identical schedules for plain nnU-Net and TGC-Net.

Put this folder on ``nnUNet_extTrainer`` (os.pathsep-joined with the plugin's own ext_trainers
folder); nnU-Net imports this one module by its bare name, so the folder holds no ``__init__.py``.

The classes are built from one table, ``BENCH_TRAINERS``: a class name, the trainer it shortens and
what it measures. Every name in it is one that documentation/ or ``benchmark_qata.py`` cites; a name
the documentation cites for a network the code can no longer build is not a class but an entry of
``REMOVED``, which says why (documentation/results.md says so next to its numbers).

The schedule comes from environment variables, read when a trainer is constructed, so that one
set of class names serves every benchmark size (``benchmark_qata.py`` sets them):

* ``TGC_BENCH_EPOCHS``      epochs                          (default 4)
* ``TGC_BENCH_ITERS``       training iterations per epoch   (default 100)
* ``TGC_BENCH_VAL_ITERS``   validation iterations per epoch (default 50, nnU-Net's)
* ``TGC_BENCH_BATCH``       batch size, replacing the plans' (default 8)

Every trainer writes the schedule and a ``bench:`` line per epoch to its training log with the
wall time of the training iterations alone (data loading included, the pseudo-Dice validation
iterations excluded), which ``benchmark_qata.py`` parses into seconds per iteration.
"""
import collections
import copy
import os
from time import perf_counter

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from nnunetv2.training.nnUNetTrainer.variants.data_augmentation.nnUNetTrainerNoMirroring import \
    nnUNetTrainerNoMirroring

from nnunet_tgc.nnunet.text_mirroring import text_axes
from nnunet_tgc.text.knowledge import dataset_knowledge
from nnunet_tgc.text.places import place_vector, read_places
from nnunet_tgc.nnunet.trainer import limited_rotation, nnUNetTrainerTGC, nnUNetTrainerTGC_tiny


def bench_schedule() -> dict:
    def read(name, default):
        value = int(os.environ.get(name, default))
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
        return value
    return {"num_epochs": read("TGC_BENCH_EPOCHS", 4),
            "num_iterations_per_epoch": read("TGC_BENCH_ITERS", 100),
            "num_val_iterations_per_epoch": read("TGC_BENCH_VAL_ITERS", 50),
            "batch_size": read("TGC_BENCH_BATCH", 8)}


class _BenchSchedule:
    """Mixin: the benchmark's epochs, iterations and batch size, and per-epoch timing lines."""

    def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.bench = bench_schedule()
        self.num_epochs = self.bench["num_epochs"]
        self.num_iterations_per_epoch = self.bench["num_iterations_per_epoch"]
        self.num_val_iterations_per_epoch = self.bench["num_val_iterations_per_epoch"]

    def _set_batch_size_and_oversample(self):
        # the plans' batch size is sized for a GPU; the benchmark fixes one for every trainer
        self.configuration_manager.configuration["batch_size"] = self.bench["batch_size"]
        super()._set_batch_size_and_oversample()

    def on_train_start(self):
        super().on_train_start()
        self.print_to_log_file(f"bench: schedule {self.bench} (batch size in use: {self.batch_size})")

    def on_train_epoch_start(self):
        super().on_train_epoch_start()
        self._bench_t0 = perf_counter()

    def on_train_epoch_end(self, train_outputs):
        elapsed = perf_counter() - self._bench_t0
        super().on_train_epoch_end(train_outputs)
        n = len(train_outputs)
        self.print_to_log_file(f"bench: epoch {self.current_epoch} train_iterations {n} seconds {elapsed:.3f} "
                               f"per_iteration {elapsed / max(1, n):.4f}")


class _NoMirroringHalfWidth(nnUNetTrainerNoMirroring):
    """Plain nnU-Net without mirroring, every stage of the plans at half its features (TGC-Net's CNN branch
    widths, ``tgc_width_factor = 0.5``): how much of plain nnU-Net's accuracy the width alone accounts for."""

    @staticmethod
    def build_network_architecture(plans_manager, configuration_manager, num_input_channels, num_output_channels,
                                   enable_deep_supervision=True):
        halved = copy.deepcopy(configuration_manager)  # the plans the run holds stay as planned
        arch = halved.configuration["architecture"]["arch_kwargs"]
        arch["features_per_stage"] = [max(1, f // 2) for f in arch["features_per_stage"]]
        return nnUNetTrainerNoMirroring.build_network_architecture(
            plans_manager, halved, num_input_channels, num_output_channels, enable_deep_supervision)


class _HalfWidthTGCAugmentation(nnUNetTrainer):
    """Plain nnU-Net at half width with TGC-Net's augmentation: rotation within 15 degrees, the initial patch
    sized for it (``trainer.limited_rotation``), and left-right mirroring only (the dataset's lateral axis,
    as TGC-Net mirrors it; nnU-Net's MirrorTransform does it here, there being no report to mirror). Whether the recipe or the
    network makes TGC-Net's image path weaker than plain nnU-Net's (results.md section 13)."""
    build_network_architecture = staticmethod(_NoMirroringHalfWidth.build_network_architecture)

    def configure_rotation_dummyDA_mirroring_and_inital_patch_size(self):
        rotation, dummy_2d, _, _ = super().configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        rotation, initial_patch_size = limited_rotation(rotation, self.configuration_manager.patch_size,
                                                        nnUNetTrainerTGC.tgc_max_rotation_deg)
        mirror_axes = tuple(a for a in text_axes(self.dataset_json)[:1] if a is not None)
        self.inference_allowed_mirroring_axes = mirror_axes or None
        return rotation, dummy_2d, initial_patch_size, mirror_axes


class _TGCTinyFullWidth(nnUNetTrainerTGC_tiny):
    """TGC-Net on the tiny CLIP with its CNN branch at the plans' full width."""
    tgc_width_factor = 1.0


class _TGCTinyAlmostAllUnplaced(nnUNetTrainerTGC_tiny):
    """TGC-Net on the tiny CLIP with 99 % of its training reports drawn without their places (the default
    draws 15 %): how well the network segments from the image when it is trained for that."""
    tgc_unplaced_rate = 0.99


class _TGCTinyAlmostAllUnplacedNoVLCM(_TGCTinyAlmostAllUnplaced):
    """The same without VLCM (its similarity maps, decoder gates and logit offset; the report enters through
    FiLM at the bottleneck, as ``nnUNetTrainerTGC_noVLCM``)."""
    tgc_use_vlcm = False


class _TGCTinyImageRouteHalfWeight(nnUNetTrainerTGC_tiny):
    """TGC-Net on the tiny CLIP with the image route's loss at half weight."""
    tgc_image_route_weight = 0.5


class _TGCTinyImageRouteDoubleWeight(nnUNetTrainerTGC_tiny):
    """TGC-Net on the tiny CLIP with the image route's loss at double weight."""
    tgc_image_route_weight = 2.0


class _TGCTinyNoLateralityWords(nnUNetTrainerTGC_tiny):
    """TGC-Net on the tiny CLIP, half its training reports without "unilateral"/"bilateral" (as
    nnUNetTrainerTGC_noLateralityWords)."""
    tgc_no_laterality_word_rate = 0.5


class _TGCTinyNoPlaceEvidence(nnUNetTrainerTGC_tiny):
    """TGC-Net on the tiny CLIP without the report's places as evidence on the logits (as
    nnUNetTrainerTGC_noPlaceEvidence: the default network before results.md section 21)."""
    tgc_place_evidence = False


class _TGCTinyImageRouteOwnStages(nnUNetTrainerTGC_tiny):
    """TGC-Net on the tiny CLIP whose image route has its own three finest decoder stages and its own heads."""
    tgc_image_route_stages = 3


class _TGCTinyImageRouteOwnLastStage(nnUNetTrainerTGC_tiny):
    """TGC-Net on the tiny CLIP whose image route has its own finest decoder stage and its own heads."""
    tgc_image_route_stages = 1


class _TGCTinyRouteMix(nnUNetTrainerTGC_tiny):
    """TGC-Net on the tiny CLIP whose placed reports get half the text route's logits and half the image route's
    with the report's place evidence (tgc_route_mix 0.5)."""
    tgc_route_mix = 0.5


class _DrawnByPlaces:
    """A training dataset whose loader draws each case with a weight 1 / sqrt(how many training cases state the
    same places): nnU-Net's loader draws uniformly from ``identifiers``, so each case is listed that many times
    (rounded, the most frequent set of places once)."""

    def __init__(self, dataset, repeats: dict):
        self._dataset = dataset
        self.identifiers = [case for case in dataset.identifiers for _ in range(repeats[case])]

    def __getattr__(self, name):
        return getattr(self._dataset, name)


class _TGCTinyBalancedPlaces(nnUNetTrainerTGC_tiny):
    """TGC-Net on the tiny CLIP whose training draws rare sets of places more often (``_DrawnByPlaces``)."""

    def get_tr_and_val_datasets(self):
        dataset_tr, dataset_val = super().get_tr_and_val_datasets()
        knowledge = dataset_knowledge(self.dataset_json)
        places = {c: tuple(place_vector(read_places(self.case_reports[c], knowledge))) for c in dataset_tr.identifiers}
        counts = collections.Counter(places.values())
        most = max(counts.values())
        repeats = {c: max(1, round((most / counts[p]) ** 0.5)) for c, p in places.items()}
        self.print_to_log_file(f"bench: {len(counts)} sets of places over {len(places)} training cases drawn with "
                               f"1 / sqrt(frequency) weights ({sum(repeats.values())} draw slots)")
        return _DrawnByPlaces(dataset_tr, repeats), dataset_val


# class name -> (the trainer it runs on the benchmark schedule, what it measures and who cites it)
BENCH_TRAINERS = {
    "nnUNetTrainerBench": (
        nnUNetTrainer,
        "Plain nnU-Net (nnUNetTrainer: mirroring along both axes in training, 4-pass test-time mirroring). "
        "benchmark_qata.py key 'nnunet'; results.md section 3 (not measured there)."),
    "nnUNetTrainerBench_NoMirroring": (
        nnUNetTrainerNoMirroring,
        "Plain nnU-Net without mirroring (nnUNetTrainerNoMirroring; chest X-rays are not left-right symmetric). "
        "benchmark_qata.py key 'nnunet_nomirror'; results.md sections 3 and 5."),
    "nnUNetTrainerTGC_tiny_Bench": (
        nnUNetTrainerTGC_tiny,
        "TGC-Net on the tiny random-weight CLIP: the current default network and its default mirroring. "
        "benchmark_qata.py key 'tgc_tiny'. results.md section 3 (2026-11-25) measured under this name the "
        "network of that day, which the code no longer builds."),
    "nnUNetTrainerTGC_Bench": (
        nnUNetTrainerTGC,
        "TGC-Net on CLIP ViT-B/16, the current default network (needs the weights, or "
        "nnUNet_TGC_clip_weights=random for timing). benchmark_qata.py key 'tgc_vitb_random'."),
    "nnUNetTrainerBench_NoMirroring_halfWidth": (
        _NoMirroringHalfWidth,
        "Plain nnU-Net without mirroring at half width (every stage's features halved, as TGC-Net's CNN branch). "
        "results.md section 12 (the place-free report's shortfall)."),
    "nnUNetTrainerBench_halfWidth_tgcAugmentation": (
        _HalfWidthTGCAugmentation,
        "Plain nnU-Net at half width with TGC-Net's augmentation (rotation within 15 degrees, left-right "
        "mirroring only). results.md section 13."),
    "nnUNetTrainerTGC_tiny_Bench_fullWidth": (
        _TGCTinyFullWidth,
        "TGC-Net on the tiny CLIP with the CNN branch at the plans' full width (tgc_width_factor 1.0 instead of "
        "0.5). results.md section 12."),
    "nnUNetTrainerTGC_tiny_Bench_almostAllUnplaced": (
        _TGCTinyAlmostAllUnplaced,
        "TGC-Net on the tiny CLIP trained with 99 % of its reports without places (tgc_unplaced_rate 0.99): the "
        "network's own image-only accuracy. results.md section 13."),
    "nnUNetTrainerTGC_tiny_Bench_almostAllUnplaced_noVLCM": (
        _TGCTinyAlmostAllUnplacedNoVLCM,
        "The same without VLCM: how much of the image-only shortfall VLCM accounts for. results.md section 13."),
    "nnUNetTrainerTGC_tiny_Bench_imageRoute": (
        nnUNetTrainerTGC_tiny,
        "TGC-Net on the tiny CLIP with the image route (a report that places nothing is segmented without the "
        "report), the name under which results.md section 15 measured it before it became the default; the same "
        "network as nnUNetTrainerTGC_tiny_Bench."),
    "nnUNetTrainerTGC_tiny_Bench_imageRouteHalfWeight": (
        _TGCTinyImageRouteHalfWeight,
        "The default network with the image route's segmentation loss at half weight (tgc_image_route_weight "
        "0.5): whether the text route keeps its side share. results.md section 15."),
    "nnUNetTrainerTGC_tiny_Bench_imageRouteDoubleWeight": (
        _TGCTinyImageRouteDoubleWeight,
        "The default network with the image route's segmentation loss at double weight (tgc_image_route_weight "
        "2.0): whether a report that places nothing gets nearer plain nnU-Net now that the place evidence keeps "
        "the text route's side share. results.md section 27."),
    "nnUNetTrainerTGC_tiny_Bench_imageRouteOwnStages": (
        _TGCTinyImageRouteOwnStages,
        "The default network whose image route has its own three finest decoder stages and heads "
        "(tgc_image_route_stages 3): whether the text route keeps its side share when the routes stop sharing "
        "the layers where they disagree. results.md section 16."),
    "nnUNetTrainerTGC_tiny_Bench_imageRouteOwnLastStage": (
        _TGCTinyImageRouteOwnLastStage,
        "The default network whose image route has its own finest decoder stage and heads (tgc_image_route_stages "
        "1): between sharing every stage and owning three. results.md section 16."),
    "nnUNetTrainerTGC_tiny_Bench_balancedPlaces": (
        _TGCTinyBalancedPlaces,
        "The default network whose training draws each case with weight 1 / sqrt(the number of training cases "
        "stating the same set of places): whether rare sets of places are read as well as frequent ones. "
        "results.md section 16."),
    "nnUNetTrainerTGC_tiny_Bench_noLateralityWords": (
        _TGCTinyNoLateralityWords,
        "The default network with half its training reports without their laterality words where their places "
        "say it (tgc_no_laterality_word_rate 0.5): results.md section 20, whose runs 7 to 9 trained it as "
        "nnUNetTrainerTGC_tiny_Bench on commit 5f18e77, where 0.5 was the default."),
    "nnUNetTrainerTGC_tiny_Bench_placeEvidence": (
        nnUNetTrainerTGC_tiny,
        "TGC-Net on the tiny CLIP with the report's places as evidence on the text route's logits "
        "(tgc_place_evidence), the name under which results.md section 21 measured it before it became the default; "
        "the same network as nnUNetTrainerTGC_tiny_Bench."),
    "nnUNetTrainerTGC_tiny_Bench_noPlaceEvidence": (
        _TGCTinyNoPlaceEvidence,
        "The default network without the place evidence (tgc_place_evidence False): the network of results.md "
        "sections 19 and 20's runs 1 to 6, then nnUNetTrainerTGC_tiny_Bench. results.md section 21."),
    "nnUNetTrainerTGC_tiny_Bench_routeMix": (
        _TGCTinyRouteMix,
        "The default network whose placed reports' logits are half the text route's and half the image route's "
        "with the report's place evidence (tgc_route_mix 0.5): whether a part that reads no words keeps "
        "rewordings from tipping small lesions to empty. results.md section 25."),
}


def _outside_probe(definition: str, section: int) -> str:
    """The REMOVED entry of a probe trained from a definition outside the repository."""
    return f"a probe defined outside the repository: {definition} (documentation/results.md section {section})"


# class names the documentation cites for networks the code can no longer build -> why there is no class
_TEXT_POSITION_MAP = ("VLCM's text-position map (TextPositionPrior) was replaced by the place map read from the "
                      "report's places; this network can no longer be built (documentation/results.md)")
REMOVED = {
    "nnUNetTrainerTGC_tiny_Bench_lateralMirroring":
        "attempt 1 (text-position map in the similarity and the skips, left-right mirroring); " + _TEXT_POSITION_MAP,
    "nnUNetTrainerTGC_tiny_Bench_lateralMirroring_positionInput":
        "attempt 2 (attempt 1 plus the map as an input channel); " + _TEXT_POSITION_MAP,
    "nnUNetTrainerTGC_tiny_Bench_lateralMirroring_reportDropout":
        "attempt 2 with report dropout 0.2; " + _TEXT_POSITION_MAP,
    "nnUNetTrainerTGC_tiny_Bench_lateralMirroring_positionFit":
        "attempt 3 (attempt 2 with the map fitted before epoch 0); " + _TEXT_POSITION_MAP,
    "nnUNetTrainerTGC_tiny_Bench_bothAxesMirroring_positionFit":
        "attempt 3 mirrored along both axes; " + _TEXT_POSITION_MAP,
    "nnUNetTrainerTGC_tiny_Bench_noMirroring_positionFit":
        "attempt 3 without mirroring; " + _TEXT_POSITION_MAP,
    "nnUNetTrainerTGC_tiny_Bench_unplacedUnmirrored":
        "a probe (samples drawn without places never mirrored) that was not adopted; its train_step copied the "
        "default's with the place-free draw moved before the mirroring, and is in commit c9f0f3f of this repository "
        "(documentation/results.md section 13)",
    "nnUNetTrainerTGC_tiny_Bench_almostAllUnplaced_noViTTaps": _outside_probe(
        "nnUNetTrainerTGC_tiny_Bench_almostAllUnplaced whose build_network_architecture froze every "
        "sse.fusions[k].gate at its initial 0 (requires_grad False), so that the ViT taps never entered the CNN "
        "stages", 13),
    "nnUNetTrainerTGC_tiny_Bench_probeNoViTTaps": _outside_probe(
        "nnUNetTrainerTGC_tiny_Bench whose initialize, after nnU-Net's set-up, froze every sse.fusions[k].gate at "
        "its initial 0 (requires_grad False); nnUNetTrainerTGC_noViTTaps builds the same function without the "
        "unused tap parameters", 14),
    "nnUNetTrainerTGC_tiny_Bench_probeNoPlaceInput": _outside_probe(
        "nnUNetTrainerTGC_tiny_Bench with tgc_place_input = False (the place map not an input channel of SSE's "
        "CNN branch); not adopted", 14),
    "nnUNetTrainerTGC_tiny_Bench_probeUnplacedFullMap": _outside_probe(
        "nnUNetTrainerTGC_tiny_Bench whose initialize, after nnU-Net's set-up, froze place_map.extra_offset at its "
        "initial 0 (requires_grad False), so that a report placing nothing got the map of every cell", 14),
    "nnUNetTrainerTGC_tiny_Bench_probeNoAlignmentLoss": _outside_probe(
        "nnUNetTrainerTGC_tiny_Bench with tgc_alignment_loss_weight = 0.0 (as nnUNetTrainerTGC_noAlignmentLoss); "
        "not adopted", 14),
    "nnUNetTrainerTGC_tiny_Bench_probePlacesOnlyInMap": _outside_probe(
        "nnUNetTrainerTGC_tiny_Bench with tgc_places_only_in_map = True (as nnUNetTrainerTGC_placesOnlyInMap); "
        "not adopted", 14),
    "nnUNetTrainerTGC_tiny_Bench_probeNoLateralWord": _outside_probe(
        "nnUNetTrainerTGC_tiny_Bench whose _network_input, in training only, took every term of the knowledge "
        "entries unilateral and bilateral out of half of the reports, where the places read stayed the same; "
        "the trainer option it became is nnUNetTrainerTGC_tiny_Bench_noLateralityWords (section 20)", 19),
    "nnUNetTrainerTGC_tiny_Bench_wordNoise":
        "a probe (half the training reports with words that state nothing left out or put in, "
        "tgc_word_noise_rate 0.5) that was not adopted; its module text/word_noise.py and the trainer option are in "
        "commit 1f1a055 of this repository (documentation/results.md section 18)",
}


def _bench_class(name: str, base: type, doc: str) -> type:
    return type(name, (_BenchSchedule, base), {"__doc__": doc, "__module__": __name__, "__qualname__": name})


for _name, (_base, _doc) in BENCH_TRAINERS.items():
    globals()[_name] = _bench_class(_name, _base, _doc)
del _name, _base, _doc

__all__ = [*BENCH_TRAINERS, "BENCH_TRAINERS", "REMOVED", "bench_schedule"]
