"""nnunet_tgc: TGC-Net (text-guided segmentation on a frozen CLIP) inside nnU-Net v2.

The trainer classes are imported lazily so that ``import nnunet_tgc.model`` (pure PyTorch)
does not pull in nnU-Net.
"""
__version__ = "0.1.0"

_TRAINERS = ("nnUNetTrainerTGC", "nnUNetTrainerTGC_tiny")


def __getattr__(name):
    if name in _TRAINERS:
        from .nnunet import trainer
        return getattr(trainer, name)
    raise AttributeError(f"module 'nnunet_tgc' has no attribute {name!r}")


__all__ = list(_TRAINERS)
