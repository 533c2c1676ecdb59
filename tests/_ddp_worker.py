"""One rank of the two-process DDP test (``test_nnunet_options.py``): gloo on the CPU.

Mirrors nnU-Net's ``run_ddp`` (which insists on CUDA and NCCL): join the process group, build the
trainer as ``get_trainer_from_args`` does, ``maybe_load_checkpoint``, ``run_training``. Runs

* every TGC trainer variant (its switches on the tiny backbone) for one short epoch;
* the tiny trainer for two epochs, recording the mirroring stream at each epoch start, with rank 1
  writing into a results folder of its own (so the test sees which files rank 1 wrote);
* one epoch, then ``--c`` for a second one, recording the stream of the continued epoch.

Usage: python _ddp_worker.py RANK WORLD DATASET_ID OUT_DIR (MASTER_ADDR/MASTER_PORT set).
"""
import copy
import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from batchgenerators.utilities.file_and_folder_operations import load_json

from nnunet_tgc.nnunet import trainer as tgc


class Short(tgc.nnUNetTrainerTGC_tiny):
    epochs = 1
    draws = None  # epoch -> first draws of the mirroring stream
    # every variant fits its place map (and rank 0's is broadcast), but a good fit is not what is tested here:
    # a few steps instead of 300 (the fit costs tens of CPU seconds per trainer, and there are 2 x 13 of them)
    tgc_place_fit_steps = 5

    def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = self.epochs
        self.num_iterations_per_epoch = 2
        self.num_val_iterations_per_epoch = 1

    def on_train_epoch_start(self):
        super().on_train_epoch_start()
        if self.draws is not None:  # peek at a copy: the training draws stay untouched
            self.draws[str(self.current_epoch)] = copy.deepcopy(self.text_rng).integers(0, 2 ** 31, 8).tolist()


def variants():
    """Every trainer in nnunet_tgc that switches a module or the augmentation (tgc_* other than the backbone)."""
    out = []
    for name in tgc.__all__:
        cls = getattr(tgc, name)
        if cls is not tgc.nnUNetTrainerTGC and any(k.startswith("tgc_") and k != "tgc_backbone" for k in vars(cls)):
            out.append(cls)
    return out


def train(cls, dataset, continue_training=False):
    """nnU-Net's run_ddp without the CUDA calls and the final validation."""
    from nnunetv2.paths import nnUNet_preprocessed
    from nnunetv2.run.run_training import maybe_load_checkpoint

    base = Path(os.fspath(nnUNet_preprocessed)) / dataset
    plans = load_json(str(base / "nnUNetPlans.json"))
    plans["continue_training"] = continue_training
    trainer = cls(plans=plans, configuration="2d", fold=0, dataset_json=load_json(str(base / "dataset.json")))
    maybe_load_checkpoint(trainer, continue_training, False, None)
    trainer.run_training()
    # separate launches in real use: no rank may look for a checkpoint before rank 0 has written it
    dist.barrier()
    return trainer


def main(rank: int, world: int, dataset_id: int, out: Path):
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    dataset = maybe_convert_to_dataset_name(dataset_id)
    result = {"variants": [], "trained": {}}
    for variant in variants():
        cls = type(f"{variant.__name__}_ddp", (Short, variant), {})
        trainer = train(cls, dataset)
        result["variants"].append(variant.__name__)
        result["trained"][variant.__name__] = {"train_loss": float(trainer.logger.get_value("train_losses", -1))}

    shared_results = os.environ["nnUNet_results"]
    if rank > 0:  # nnU-Net reads nnUNet_results when a trainer is made: rank 1's files land apart
        os.environ["nnUNet_results"] = str(out / f"res_rank{rank}")
    result["uninterrupted"] = {}
    train(type("nnUNetTrainerTGC_tiny_ddp", (Short,), {"epochs": 2, "draws": result["uninterrupted"]}), dataset)
    os.environ["nnUNet_results"] = shared_results

    result["continued"] = {}
    train(type("nnUNetTrainerTGC_tiny_ddp_resumed", (Short,), {"epochs": 1}), dataset)
    train(type("nnUNetTrainerTGC_tiny_ddp_resumed", (Short,), {"epochs": 2, "draws": result["continued"]}), dataset,
          continue_training=True)
    dist.destroy_process_group()
    (out / f"rank{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
