"""nnU-Net's U-Net decoder over the SSE skips, with deep supervision and text gates.

With ``deep_supervision`` on, forward returns one logit map per decoder stage, highest resolution
first (what nnU-Net's DeepSupervisionWrapper and ``_get_deep_supervision_scales`` expect); off, only
the full-resolution logits. nnU-Net toggles it through ``network.decoder.deep_supervision``.
Each stage's features are gated by VLCM's similarity map: ``f + g * f * sigmoid(sim)`` with a gate
``g`` per stage that starts at zero.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import conv_blocks


class TGCDecoder(nn.Module):
    def __init__(self, features: Sequence[int], strides: Sequence, kernel_sizes: Sequence,
                 n_conv_per_stage: Sequence[int], num_classes: int, deep_supervision: bool):
        super().__init__()
        self.deep_supervision = deep_supervision
        n = len(features)
        self.upsample, self.stages, self.heads = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for s in range(1, n):  # decoder stage s-1 restores the resolution of encoder stage n-1-s
            deep, skip = features[n - s], features[n - 1 - s]
            stride = strides[n - s]
            self.upsample.append(nn.ConvTranspose2d(deep, skip, stride, stride, bias=True))
            self.stages.append(conv_blocks(n_conv_per_stage[s - 1], 2 * skip, skip, kernel_sizes[n - 1 - s], 1))
            self.heads.append(nn.Conv2d(skip, num_classes, 1))
        self.text_gates = nn.Parameter(torch.zeros(n - 1))

    def forward(self, skips: List[torch.Tensor], similarity: Optional[torch.Tensor] = None):
        x = skips[-1]
        outputs = []
        for s, (up, stage, head) in enumerate(zip(self.upsample, self.stages, self.heads)):
            x = stage(torch.cat([up(x), skips[-(s + 2)]], dim=1))
            if similarity is not None:
                gate = torch.sigmoid(F.interpolate(similarity, size=x.shape[2:], mode="bilinear",
                                                   align_corners=False))
                x = x + self.text_gates[s] * x * gate
            if self.deep_supervision or s == len(self.stages) - 1:
                outputs.append(head(x))
        return outputs[::-1] if self.deep_supervision else outputs[-1]
