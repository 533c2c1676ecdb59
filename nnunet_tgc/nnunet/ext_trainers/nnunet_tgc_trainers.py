"""nnU-Net's door to the TGC trainers: put this folder on ``nnUNet_extTrainer``.

nnU-Net imports every module of an external trainer folder by its bare name, so this folder
holds only this one module, with a name no other package uses, and no ``__init__.py``. It
re-exports the trainers; the classes themselves live in :mod:`nnunet_tgc.nnunet.trainer`.
Set it up with ``eval "$(nnunet-tgc env)"``.
"""
from nnunet_tgc.nnunet.trainer import *  # noqa: F401,F403
