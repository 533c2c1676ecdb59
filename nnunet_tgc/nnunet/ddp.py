"""nnU-Net's ``-num_gpus N`` (DistributedDataParallel, one process per rank) for TGC-Net.

nnU-Net wraps its network as ``DDP(network, device_ids=[rank])``. Two things differ for TGC-Net:

* not every trainable parameter takes part in every step: an ablation leaves some out of the graph
  (the no-VLCM variant's decoder text gates, VLCM's coarser map when the alignment loss is off), and
  DDP without ``find_unused_parameters`` stops at the second step ("Parameter indices which did not
  receive grad"). The cost is one traversal of the autograd graph per step, small next to the ViT.
* nnU-Net assumes CUDA; with the gloo backend and no GPU each rank trains on the CPU (that is how
  the tests run two ranks).

The random stream that mirrors images with their reports is seeded per fold, rank and epoch: ranks
draw different flips (as their data loaders draw different samples), and a run continued with
``--c`` draws at epoch e what an uninterrupted run draws there.
"""
import contextlib

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

TEXT_RNG_SEED = 12345


def tgc_ddp(module: torch.nn.Module, device_ids=None, **kwargs) -> DistributedDataParallel:
    """DDP as nnU-Net builds it, with unused parameters allowed (and no device ids on the CPU)."""
    on_gpu = any(p.is_cuda for p in module.parameters())
    return DistributedDataParallel(module, device_ids=device_ids if on_gpu else None, find_unused_parameters=True,
                                   **kwargs)


@contextlib.contextmanager
def tgc_ddp_wrapping(trainer_module):
    """While nnU-Net's ``initialize`` runs, its ``DDP(...)`` call builds :func:`tgc_ddp` instead."""
    original = trainer_module.DDP
    trainer_module.DDP = tgc_ddp
    try:
        yield
    finally:
        trainer_module.DDP = original


def rank_device(device: torch.device) -> torch.device:
    """nnU-Net sets rank r to cuda:r; on a machine without CUDA (gloo) every rank trains on the CPU."""
    return torch.device("cpu") if device.type == "cuda" and not torch.cuda.is_available() else device


def text_rng(fold, rank: int, epoch: int) -> np.random.Generator:
    """The stream that decides which samples are mirrored (with their reports) in one epoch of one rank."""
    return np.random.default_rng([TEXT_RNG_SEED, fold if isinstance(fold, int) else 99, rank, epoch])
