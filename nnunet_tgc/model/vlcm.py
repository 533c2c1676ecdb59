"""VLCM, the Vision-Language Calibration Module.

At the coarse scales (by default the stages at strides 16 and 32), visual features are projected
into CLIP's joint space and added to CLIP's own dense image features (the ViT's patch tokens through
its projection head), so that pixels and report live in one space from the start. Then, per scale:

0. every pixel gets a code of its normalised position in the whole image (reports name sides and
   zones, which a translation-equivariant CNN cannot tell apart; a patch or a sliding window is not
   the image, so the position comes from the coordinates that travel with the pixels),
1. the report tokens read the pixels (text adapted to this image),
2. the pixels read the adapted report tokens (image features steered by the text),
3. a calibrated similarity map, ``exp(log_scale) * cos(pixel, report) + bias`` (learned temperature
   and bias, as SigLIP calibrates its logits), scores every position against the report. The report
   vector first passes a learned projection (LayerNorm + linear): CLIP embeds "lower left lung" and
   "lower right lung" almost identically (cosine 0.94 on the tiny tower, higher on ViT-B/16), and
   the projection lets training stretch exactly the directions that tell sides and zones apart.

The report's place map (``place_map.py``), computed by the network from the places the report
states, is added to each similarity map: the map says where the report points, the cosine where
the image matches it.

The refined features return to the encoder's skips. The similarity maps are supervised with the
ground truth (``alignment_loss.py``) and the finest one feeds the decoder (gates and a prior on the
logits, see ``tgc_net.py``): the map is where the report's words meet the pixels' positions.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import CrossAttention, coordinate_encoding
from .place_map import resize_coordinates


POSITION_DIM = 32


class VLCMScale(nn.Module):
    def __init__(self, channels: int, joint_dim: int, inner_dim: int, heads: int):
        super().__init__()
        self.to_joint = nn.Conv2d(channels, joint_dim, 1)
        # reports name absolute places (side, zone) while convolutions are translation-equivariant:
        # every pixel gets its normalised position, in the joint space and in its queries
        self.position_joint = nn.Linear(POSITION_DIM, joint_dim)
        self.position_query = nn.Linear(POSITION_DIM, channels)
        self.text_reads_pixels = CrossAttention(joint_dim, joint_dim, inner_dim, heads)
        self.pixels_read_text = CrossAttention(channels, joint_dim, inner_dim, heads)

    def forward(self, feat, dense_clip, tokens, token_mask, coordinates):
        b, c, h, w = feat.shape
        dense = F.interpolate(dense_clip, size=(h, w), mode="bilinear", align_corners=False)
        where = coordinate_encoding(resize_coordinates(coordinates, (h, w)), POSITION_DIM).to(feat.dtype)
        pixels = (self.to_joint(feat) + dense).flatten(2).transpose(1, 2) + self.position_joint(where)  # (B, hw, D)
        tokens = self.text_reads_pixels(tokens, pixels)                            # (B, 1+L, D)
        refined = self.pixels_read_text(feat.flatten(2).transpose(1, 2), tokens, token_mask,
                                        query_pos=self.position_query(where))
        refined = refined.transpose(1, 2).reshape(b, c, h, w)
        return refined, pixels, tokens


class VLCM(nn.Module):
    def __init__(self, stage_channels: Sequence[int], joint_dim: int, inner_dim: int = 256, heads: int = 8,
                 init_temperature: float = 10.0, init_bias: float = 0.0):
        super().__init__()
        self.scales = nn.ModuleList(VLCMScale(c, joint_dim, inner_dim, heads) for c in stage_channels)
        self.report_proj = nn.Sequential(nn.LayerNorm(joint_dim), nn.Linear(joint_dim, joint_dim))
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_temperature)))
        self.bias = nn.Parameter(torch.tensor(init_bias))

    def similarity(self, pixels: torch.Tensor, report: torch.Tensor, size) -> torch.Tensor:
        """pixels (B, hw, D), report (B, D) -> calibrated logits (B, 1, h, w)."""
        report = self.report_proj(report)
        cos = torch.einsum("bnd,bd->bn", F.normalize(pixels, dim=-1), F.normalize(report, dim=-1))
        return (self.log_scale.exp() * cos + self.bias).reshape(pixels.shape[0], 1, *size)

    def forward(self, feats: List[torch.Tensor], dense_clip: torch.Tensor, tokens: torch.Tensor,
                token_mask: torch.Tensor, coordinates: torch.Tensor,
                place_logits: Optional[Sequence[torch.Tensor]] = None
                ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """feats: encoder maps of the calibrated scales (finest first); tokens (B, 1+L, D) from DATE with
        the report embedding as token 0; coordinates (B, 2, H, W) of the input's pixels in the whole image;
        ``place_logits`` the report's place map at each scale (None: without one).
        -> refined maps, similarity logits (one per scale)."""
        refined, sims = [], []
        for i, (scale, feat) in enumerate(zip(self.scales, feats)):
            out, pixels, text = scale(feat, dense_clip, tokens, token_mask, coordinates)
            refined.append(out)
            sim = self.similarity(pixels, text[:, 0], feat.shape[2:])
            if place_logits is not None:
                sim = sim + place_logits[i].to(sim.dtype)
            sims.append(sim)
        return refined, sims


class TextFiLM(nn.Module):
    """The no-VLCM ablation: the report only scales and shifts the bottleneck channels (FiLM), the
    simplest conditioning that still lets the text in."""

    def __init__(self, channels: int, joint_dim: int):
        super().__init__()
        self.film = nn.Linear(joint_dim, 2 * channels)

    def forward(self, feat: torch.Tensor, report: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.film(report)[:, :, None, None].chunk(2, dim=1)
        return feat * (1 + gamma) + beta
