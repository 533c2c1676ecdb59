"""Short trainers for ``scripts/benchmark_qata.py``: identical schedules for plain nnU-Net and TGC-Net.

Put this folder on ``nnUNet_extTrainer`` (os.pathsep-joined with the plugin's own ext_trainers
folder); nnU-Net imports this one module by its bare name, so the folder holds no ``__init__.py``.

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
import os
from time import perf_counter

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from nnunetv2.training.nnUNetTrainer.variants.data_augmentation.nnUNetTrainerNoMirroring import \
    nnUNetTrainerNoMirroring

from nnunet_tgc.nnunet.trainer import nnUNetTrainerTGC, nnUNetTrainerTGC_reportDropout, nnUNetTrainerTGC_tiny

__all__ = ["nnUNetTrainerBench", "nnUNetTrainerBench_NoMirroring", "nnUNetTrainerTGC_tiny_Bench",
           "nnUNetTrainerTGC_Bench", "nnUNetTrainerTGC_tiny_Bench_lateralMirroring",
           "nnUNetTrainerTGC_tiny_Bench_noMirroring", "nnUNetTrainerTGC_tiny_Bench_noAlignmentLoss",
           "nnUNetTrainerTGC_tiny_Bench_lateralMirroring_priorInit1",
           "nnUNetTrainerTGC_tiny_Bench_lateralMirroring_noPositionPrior",
           "nnUNetTrainerTGC_tiny_Bench_lateralMirroring_reportDropout",
           "nnUNetTrainerTGC_tiny_Bench_lateralMirroring_positionInput",
           "nnUNetTrainerTGC_tiny_Bench_lateralMirroring_noPositionInput",
           "nnUNetTrainerTGC_tiny_Bench_lateralMirroring_positionFit",
           "nnUNetTrainerTGC_tiny_Bench_bothAxesMirroring_positionFit", "nnUNetTrainerTGC_tiny_Bench_noMirroring_positionFit",
           "bench_schedule"]


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


class nnUNetTrainerBench(_BenchSchedule, nnUNetTrainer):
    """Plain nnU-Net (mirroring in training and at test time), benchmark schedule."""


class nnUNetTrainerBench_NoMirroring(_BenchSchedule, nnUNetTrainerNoMirroring):
    """Plain nnU-Net without mirroring (chest X-rays are not left-right symmetric)."""


class nnUNetTrainerTGC_tiny_Bench(_BenchSchedule, nnUNetTrainerTGC_tiny):
    """TGC-Net on the tiny random-weight CLIP, benchmark schedule."""


class nnUNetTrainerTGC_Bench(_BenchSchedule, nnUNetTrainerTGC):
    """TGC-Net on CLIP ViT-B/16 (needs the weights, or nnUNet_TGC_clip_weights=random), benchmark schedule."""


class nnUNetTrainerTGC_tiny_Bench_lateralMirroring(nnUNetTrainerTGC_tiny_Bench):
    """TGC-Net tiny, mirroring left-right only (with the report). This class and the variants below it
    measured attempts 1 and 2 of documentation/architecture.md, before the text-position map was fitted
    to the training masks: they keep that setting, so their names still say what they measured."""
    tgc_mirror_vertical = False
    tgc_fit_position_prior = False


class nnUNetTrainerTGC_tiny_Bench_noMirroring(nnUNetTrainerTGC_tiny_Bench):
    """TGC-Net tiny without any mirroring."""
    tgc_text_mirroring = False


class nnUNetTrainerTGC_tiny_Bench_noAlignmentLoss(nnUNetTrainerTGC_tiny_Bench):
    """TGC-Net tiny, VLCM's similarity maps without their own loss (the network before issue 7)."""
    tgc_alignment_loss_weight = 0.0


class nnUNetTrainerTGC_tiny_Bench_lateralMirroring_priorInit1(nnUNetTrainerTGC_tiny_Bench_lateralMirroring):
    """As above, with the similarity map added to the foreground logits at weight 1 from the start."""
    tgc_prior_init = 1.0


class nnUNetTrainerTGC_tiny_Bench_lateralMirroring_noPositionPrior(nnUNetTrainerTGC_tiny_Bench_lateralMirroring):
    """As above, without VLCM's text-position term (the similarity is the calibrated cosine alone)."""
    tgc_use_position_prior = False


class nnUNetTrainerTGC_tiny_Bench_lateralMirroring_reportDropout(nnUNetTrainerTGC_tiny_Bench_lateralMirroring):
    """As nnUNetTrainerTGC_tiny_Bench_lateralMirroring, with report dropout (a fifth of the samples get the
    learned "no report" input): the pair measures what dropout costs with the correct report."""
    tgc_report_dropout = nnUNetTrainerTGC_reportDropout.tgc_report_dropout


class nnUNetTrainerTGC_tiny_Bench_lateralMirroring_positionInput(nnUNetTrainerTGC_tiny_Bench_lateralMirroring):
    """As the lateral-mirroring bench trainer, the text-position map also an input channel of the CNN
    branch (explicit, so the bench name says what the run measured)."""
    tgc_position_input = True


class nnUNetTrainerTGC_tiny_Bench_lateralMirroring_noPositionInput(nnUNetTrainerTGC_tiny_Bench_lateralMirroring):
    """The text-position map in the skips and similarity maps only (the network of the first QaTa
    run of documentation/architecture.md's "Making the report count")."""
    tgc_position_input = False


class nnUNetTrainerTGC_tiny_Bench_lateralMirroring_positionFit(nnUNetTrainerTGC_tiny_Bench_lateralMirroring_positionInput):
    """As ..._positionInput, with the text-position map fitted to the training masks before epoch 0 (the
    default since attempt 3; explicit, so the bench name says what the run measured)."""
    tgc_fit_position_prior = True


class nnUNetTrainerTGC_tiny_Bench_bothAxesMirroring_positionFit(nnUNetTrainerTGC_tiny_Bench_lateralMirroring_positionFit):
    """The same, mirroring top-bottom too (with upper/lower swapped in the report)."""
    tgc_mirror_vertical = True


class nnUNetTrainerTGC_tiny_Bench_noMirroring_positionFit(nnUNetTrainerTGC_tiny_Bench_lateralMirroring_positionFit):
    """The same, without any mirroring (training and test time)."""
    tgc_text_mirroring = False
