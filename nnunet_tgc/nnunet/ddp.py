"""nnU-Net's ``-num_gpus N`` (DistributedDataParallel, one process per rank) for TGC-Net.

nnU-Net wraps its network as ``DDP(convert_sync_batchnorm(network), device_ids=[local_rank])``, without
``find_unused_parameters``: every trainable parameter must receive a gradient in every step, or DDP
stops at the second step ("Expected to have finished reduction in the prior iteration"). TGC-Net keeps
to that: every variant creates only the parameters its forward pass and loss use (the no-VLCM
variant's decoder has no text gates, the report-dropout variant's "no report" vector takes part in
every step), which ``tests/test_ddp_parameters.py`` checks for every trainer variant. So
:func:`ddp_wrap` is nnU-Net's wrapping, with one difference: nnU-Net assumes CUDA, and with the gloo
backend and no GPU each rank trains on the CPU (that is how the tests run two ranks), where DDP takes
no ``device_ids``. ``nnUNetTrainerTGC.initialize`` calls it where nnU-Net's ``initialize`` wraps.

The random stream that mirrors images with their reports is seeded per fold, rank and epoch: ranks
draw different flips (as their data loaders draw different samples), and a run continued with
``--c`` draws at epoch e what an uninterrupted run draws there.
"""
import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

TEXT_RNG_SEED = 12345


def ddp_wrap(network: torch.nn.Module, local_rank: int) -> DistributedDataParallel:
    """``network`` wrapped as nnU-Net's ``initialize`` wraps it (SyncBatchNorm, then DDP with
    ``device_ids=[local_rank]``); on the CPU (gloo, no CUDA) without device ids, which DDP requires there."""
    network = torch.nn.SyncBatchNorm.convert_sync_batchnorm(network)
    on_cpu = all(p.device.type == "cpu" for p in network.parameters())
    return DistributedDataParallel(network, device_ids=None if on_cpu else [local_rank])


def rank_device(device: torch.device) -> torch.device:
    """nnU-Net sets rank r to cuda:r; on a machine without CUDA (gloo) every rank trains on the CPU."""
    return torch.device("cpu") if device.type == "cuda" and not torch.cuda.is_available() else device


def text_rng(fold, rank: int, epoch: int) -> np.random.Generator:
    """The stream that draws the text-side choices of one epoch of one rank: which samples are mirrored (with
    their reports), re-worded with synonyms, stripped of their places or (report dropout) given no report."""
    return np.random.default_rng([TEXT_RNG_SEED, fold if isinstance(fold, int) else 99, rank, epoch])
