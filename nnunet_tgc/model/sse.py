"""SSE, the Semantic-Structural Synergy Encoder.

A trainable CNN branch, nnU-Net's planned encoder at reduced width (its class, operators, kernel
sizes, strides and convs or residual blocks per stage, see ``cnn.py``), keeps full-resolution
structure; taps of the frozen CLIP ViT bring semantics. Each tap
is normalised, projected by a 1x1 conv to the width of one CNN stage, resampled to that stage's
resolution (shallow taps to high resolution) and added through a learned gate that starts at zero,
so training begins as a plain CNN and lets the ViT in as far as it helps.

With the CNN branch switched off (ablation), every stage is built from the ViT taps alone. With the
taps switched off (ablation), the CNN branch is the whole encoder: the ViT then reaches the network only
through VLCM's dense image features.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ChannelLayerNorm
from .cnn import CNNConfig


class TapFusion(nn.Module):
    def __init__(self, vit_width: int, out_channels: int, gated: bool = True):
        super().__init__()
        self.proj = nn.Sequential(ChannelLayerNorm(vit_width), nn.Conv2d(vit_width, out_channels, 1))
        # zero gate: the ControlNet/LLaMA-Adapter trick, training starts from the CNN alone. A 0-dim
        # scalar, not shape (1,): under autocast a (1,)-shaped float32 tensor promotes the product to float32
        self.gate = nn.Parameter(torch.zeros(())) if gated else None

    def forward(self, tap: torch.Tensor, size) -> torch.Tensor:
        y = F.interpolate(self.proj(tap), size=size, mode="bilinear", align_corners=False)
        return y if self.gate is None else self.gate * y


def assign_taps_to_stages(cumulative_strides: Sequence[int], n_taps: int) -> List[int]:
    """Tap k goes to the stage whose total stride is closest (in octaves) to 4 * 2**k: with the usual
    four taps of a 12-block ViT, blocks 3/6/9/12 feed strides 4/8/16/32."""
    log_strides = torch.log2(torch.tensor(cumulative_strides, dtype=torch.float))
    out = []
    for k in range(n_taps):
        dist = (log_strides - (k + 2)).abs()
        best = torch.nonzero(dist == dist.min()).flatten()
        out.append(int(best[-1]))  # tie -> the deeper stage
    return out


class SSE(nn.Module):
    def __init__(self, in_channels: int, features: Sequence[int], strides: Sequence, kernel_sizes: Sequence,
                 n_conv_per_stage: Sequence[int], vit_width: int, n_taps: int, use_cnn_branch: bool = True,
                 cnn: Optional[CNNConfig] = None, use_vit_taps: bool = True):
        """``n_conv_per_stage``: convs per stage (PlainConvUNet plans) or residual blocks per stage
        (ResidualEncoderUNet plans, ``cnn.residual``). ``use_vit_taps=False``: the CNN branch alone, no tap
        fusion (needs the CNN branch)."""
        super().__init__()
        if not (use_cnn_branch or use_vit_taps):
            raise ValueError("SSE needs the CNN branch or the ViT taps: with neither it has no encoder")
        cnn = cnn or CNNConfig()
        self.use_cnn_branch = use_cnn_branch
        self.axis_strides = []  # total stride of every stage, per axis
        total = (1, 1)
        for s in strides:
            total = tuple(t * si for t, si in zip(total, s))
            self.axis_strides.append(total)
        # the stage each ViT tap is added to (none without taps)
        self.tap_stage = assign_taps_to_stages([max(t) for t in self.axis_strides], n_taps) if use_vit_taps else []
        if use_cnn_branch:
            self.encoder = cnn.encoder(in_channels, features, strides, kernel_sizes, n_conv_per_stage)
            self.fusions = nn.ModuleList(TapFusion(vit_width, features[st]) for st in self.tap_stage)
        else:
            # ViT-only encoder: each stage reads the tap assigned to the nearest stage and refines it
            self.stage_tap = [self._nearest_tap(i) for i in range(len(features))]
            self.fusions = nn.ModuleList(TapFusion(vit_width, f, gated=False) for f in features)
            self.stages = nn.ModuleList(cnn.conv_stack(1, f, f, k, 1) for f, k in zip(features, kernel_sizes))

    def _nearest_tap(self, stage: int) -> int:
        return min(range(len(self.tap_stage)), key=lambda k: (abs(self.tap_stage[k] - stage), -k))

    def stage_size(self, image_size, stage: int):
        return tuple(-(-d // s) for d, s in zip(image_size, self.axis_strides[stage]))

    def forward(self, image: torch.Tensor, taps: List[torch.Tensor]) -> List[torch.Tensor]:
        """image (B, C, H, W), taps [(B, vit_width, h, w)] -> the feature map of every stage (the skips)."""
        skips = []
        if not self.use_cnn_branch:
            for i, (fuse, stage) in enumerate(zip(self.fusions, self.stages)):
                skips.append(stage(fuse(taps[self.stage_tap[i]], self.stage_size(image.shape[2:], i))))
            return skips
        x = image if getattr(self.encoder, "stem", None) is None else self.encoder.stem(image)
        for i, stage in enumerate(self.encoder.stages):
            x = stage(x)
            for k, st in enumerate(self.tap_stage):
                if st == i:
                    x = x + self.fusions[k](taps[k], x.shape[2:])
            skips.append(x)
        return skips
