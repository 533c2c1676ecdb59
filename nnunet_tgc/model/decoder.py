"""nnU-Net's U-Net decoder over the SSE skips, with deep supervision and text gates.

The decoder *is* dynamic-network-architectures' ``UNetDecoder`` (the class nnU-Net's PlainConvUNet
and ResidualEncoderUNet use), built with the plans' operators and convs per stage at the reduced
widths; its modules keep their names (``transpconvs``, ``stages``, ``seg_layers``), so nnU-Net's
``-pretrained_weights`` loader finds and skips the segmentation heads as it does for its own networks.

With ``deep_supervision`` on, forward returns one logit map per decoder stage, highest resolution
first (what nnU-Net's DeepSupervisionWrapper and ``_get_deep_supervision_scales`` expect); off, only
the full-resolution logits. nnU-Net toggles it through ``network.decoder.deep_supervision``.
Each stage's features are gated by VLCM's similarity map: ``f + g * f * sigmoid(sim)`` with a gate
``g`` per stage that starts at zero. A network without VLCM (the no-VLCM ablation) has no similarity map
and builds its decoder without gates (``text_gates=False``): every parameter takes part in every step,
which DistributedDataParallel requires (``nnunet/ddp.py``).
"""
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from dynamic_network_architectures.building_blocks.unet_decoder import UNetDecoder
from torch import nn

from .cnn import CNNConfig


class TGCDecoder(UNetDecoder):
    def __init__(self, features: Sequence[int], strides: Sequence, kernel_sizes: Sequence,
                 n_conv_per_stage: Sequence[int], num_classes: int, deep_supervision: bool,
                 cnn: Optional[CNNConfig] = None, text_gates: bool = True):
        """``text_gates``: the gates that let VLCM's similarity map into the stages (False: a decoder
        that is never given a similarity map)."""
        cnn = cnn or CNNConfig()
        super().__init__(cnn.decoder_spec(features, strides, kernel_sizes), num_classes, list(n_conv_per_stage),
                         deep_supervision, nonlin_first=cnn.nonlin_first)
        self.apply(cnn.initialize)
        self.text_gates = nn.Parameter(torch.zeros(len(features) - 1)) if text_gates else None

    def forward(self, skips: List[torch.Tensor], similarity: Optional[torch.Tensor] = None):
        if similarity is not None and self.text_gates is None:
            raise ValueError("this decoder was built without text gates (text_gates=False) and takes no "
                             "similarity map")
        x = skips[-1]
        outputs = []
        for s, (up, stage, head) in enumerate(zip(self.transpconvs, self.stages, self.seg_layers)):
            x = stage(torch.cat([up(x), skips[-(s + 2)]], dim=1))
            if similarity is not None:
                gate = torch.sigmoid(F.interpolate(similarity, size=x.shape[2:], mode="bilinear",
                                                   align_corners=False))
                x = x + self.text_gates[s] * x * gate  # text_gates[s] is 0-dim: no float32 promotion
            if self.deep_supervision or s == len(self.stages) - 1:
                outputs.append(head(x))
        return outputs[::-1] if self.deep_supervision else outputs[-1]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        if self.text_gates is None:
            # no-VLCM checkpoints of earlier versions hold gates that never received a gradient (still
            # their initial zeros, a no-op): dropped, so those checkpoints predict and serve as
            # -pretrained_weights; continuing such a run with --c fails (its optimizer state has one more tensor)
            state_dict.pop(prefix + "text_gates", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
