"""One factory for TGC-Net: a named backbone plus nnU-Net-shaped stage lists -> a network.

The settings of the frozen towers are arguments, in open_clip's ``pretrained=`` style, resolved here and
passed on (the model package reads no environment variable; the nnU-Net glue reads them once,
``nnunet_tgc.nnunet.env.model_settings``, and passes them in):

* ``weights``: None (default) = the backbone's default pretrained weights (open_clip's download and cache;
  the tiny backbone: its fixed seed), a path = a local checkpoint file or open_clip ``local-dir`` folder,
  ``"random"`` = random weights (tests and measurements) -- ``nnUNet_TGC_clip_weights`` in nnU-Net;
* ``tower_dtype``: the dtype of the frozen towers on CUDA, "float16" (default), "bfloat16" or "float32"
  (the CPU always uses float32) -- ``nnUNet_TGC_tower_dtype``;
* ``allow_knowledge_mismatch``: False (default) refuses a knowledge base other than the loaded checkpoint's,
  True warns and continues -- ``nnUNet_TGC_allow_knowledge_mismatch``.
"""
import logging
import os
from typing import Optional, Sequence, Union

import torch

from .backbones import create_clip, get_backbone_spec
from .clip_towers import DEFAULT_TOWER_DTYPE, FrozenCLIP
from .cnn import CNNConfig
from .tgc_net import TGCNet
from .tower_input import ChannelToUnit

log = logging.getLogger(__name__)


def create_towers(backbone: str, weights: Union[str, os.PathLike, None] = None,
                  tower_dtype: Union[str, torch.dtype] = DEFAULT_TOWER_DTYPE,
                  allow_knowledge_mismatch: bool = False) -> FrozenCLIP:
    """The frozen CLIP towers of ``backbone`` (settings: see the module docstring)."""
    clip_model, tokenizer, source = create_clip(backbone, weights=weights)
    return FrozenCLIP(clip_model, tokenizer, backbone, source, get_backbone_spec(backbone).taps,
                      tower_dtype=tower_dtype, allow_knowledge_mismatch=allow_knowledge_mismatch)


def reduced_widths(features: Sequence[int], width_factor: float, minimum: int = 8) -> list:
    return [max(minimum, int(round(f * width_factor))) for f in features]


def create_tgc_net(backbone: str, in_channels: int, num_classes: int, features_per_stage: Sequence[int],
                   strides: Sequence, kernel_sizes: Sequence, n_conv_per_stage: Sequence[int],
                   n_conv_per_stage_decoder: Sequence[int], deep_supervision: bool = True,
                   width_factor: float = 0.5, use_cnn_branch: bool = True, use_knowledge: bool = True,
                   use_vlcm: bool = True, towers: Optional[FrozenCLIP] = None, verbose: bool = True,
                   use_place_map: bool = True, learn_no_report: bool = False, cnn: Optional[CNNConfig] = None,
                   place_input: bool = True,
                   tower_input: Optional[Sequence[ChannelToUnit]] = None,
                   weights: Union[str, os.PathLike, None] = None,
                   tower_dtype: Union[str, torch.dtype] = DEFAULT_TOWER_DTYPE,
                   allow_knowledge_mismatch: bool = False, places_only_in_map: bool = False,
                   use_vit_taps: bool = True, image_route: bool = True, image_route_stages: int = 0,
                   place_evidence: bool = True, route_mix: float = 0.0) -> TGCNet:
    """Build TGC-Net from plain arguments (nnU-Net's planned stages, but no nnU-Net objects).

    ``width_factor`` scales nnU-Net's planned stage widths for the CNN branch and decoder: the frozen
    ViT carries the semantics, so the trainable CNN can be narrower than nnU-Net's own U-Net.
    ``cnn`` is the plans' architecture (PlainConvUNet or ResidualEncoderUNet and its operators; default
    PlainConvUNet's); for residual plans ``n_conv_per_stage`` is the plans' ``n_blocks_per_stage``.
    ``tower_input``: per input channel, how it maps to [0, 1] for the frozen ViT (``tower_input.py``; default:
    standardised per image, as nnU-Net's z-score leaves it).
    ``weights``, ``tower_dtype``, ``allow_knowledge_mismatch``: how the frozen towers are built (module
    docstring; defaults: the backbone's pretrained weights, float16 on CUDA, refuse a knowledge mismatch);
    used only when ``towers`` is None (towers passed in keep their own).
    """
    strides = [tuple(s) if isinstance(s, (list, tuple)) else (s, s) for s in strides]
    kernel_sizes = [tuple(k) if isinstance(k, (list, tuple)) else (k, k) for k in kernel_sizes]
    if towers is None:
        towers = create_towers(backbone, weights=weights, tower_dtype=tower_dtype,
                               allow_knowledge_mismatch=allow_knowledge_mismatch)
    net = TGCNet(towers, in_channels, num_classes,
                 reduced_widths(features_per_stage, width_factor), strides, kernel_sizes, n_conv_per_stage,
                 n_conv_per_stage_decoder, deep_supervision, use_cnn_branch, use_knowledge, use_vlcm,
                 use_place_map=use_place_map, learn_no_report=learn_no_report,
                 cnn=(cnn or CNNConfig()).scaled(lambda widths: reduced_widths(widths, width_factor)),
                 place_input=place_input, tower_input=tower_input, places_only_in_map=places_only_in_map,
                 use_vit_taps=use_vit_taps, image_route=image_route, image_route_stages=image_route_stages,
                 place_evidence=place_evidence, route_mix=route_mix)
    if verbose:
        c = net.parameter_counts()
        print(f"TGC-Net ({backbone}, weights {net.towers.weights_source}): {c['total']:,} parameters, "
              f"{c['trainable']:,} trainable, {c['frozen']:,} frozen")
    return net
