"""VLCM, the Vision-Language Calibration Module.

At the coarse scales (by default the stages at strides 16 and 32), visual features are projected
into CLIP's joint space and added to CLIP's own dense image features (the ViT's patch tokens through
its projection head), so that pixels and report live in one space from the start. Then, per scale:

0. every pixel gets a code of its normalised position (reports name sides and zones, which a
   translation-equivariant CNN cannot tell apart),
1. the report tokens read the pixels (text adapted to this image),
2. the pixels read the adapted report tokens (image features steered by the text),
3. a calibrated similarity map, ``exp(log_scale) * cos(pixel, report) + bias`` (learned temperature
   and bias, as SigLIP calibrates its logits), scores every position against the report. The report
   vector first passes a learned projection (LayerNorm + linear): CLIP embeds "lower left lung" and
   "lower right lung" almost identically (cosine 0.94 on the tiny tower, higher on ViT-B/16), and
   the projection lets training stretch exactly the directions that tell sides and zones apart.

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

    def forward(self, feat, dense_clip, tokens, token_mask):
        b, c, h, w = feat.shape
        dense = F.interpolate(dense_clip, size=(h, w), mode="bilinear", align_corners=False)
        where = coordinate_encoding(h, w, POSITION_DIM, feat.device, feat.dtype)
        pixels = (self.to_joint(feat) + dense).flatten(2).transpose(1, 2) + self.position_joint(where)  # (B, hw, D)
        tokens = self.text_reads_pixels(tokens, pixels)                            # (B, 1+L, D)
        refined = self.pixels_read_text(feat.flatten(2).transpose(1, 2), tokens, token_mask,
                                        query_pos=self.position_query(where))
        refined = refined.transpose(1, 2).reshape(b, c, h, w)
        return refined, pixels, tokens


class TextPositionPrior(nn.Module):
    """Where the report points, whatever the image shows: a map of log-odds over normalised positions.

    The report (DATE's report token, with the mean of its matched knowledge entries) gives the
    coefficients of a fixed, smooth Fourier basis of the normalised position (``position_basis``):
    ``map(p) = <A(report), phi(p)>``. The map is linear in its
    parameters for a given report, so it is learnt in a few hundred SGD steps; a bilinear form of two
    MLPs (position x report), tried first, starts at a saddle and had not learnt the side after 400
    steps (documentation/architecture.md, "Making the report count"). Being a function of normalised
    coordinates, the map can be evaluated at any stage's resolution.
    """

    def __init__(self, joint_dim: int, hidden: int = 128, frequencies: int = 4):
        super().__init__()
        self.frequencies = frequencies
        basis = 4 * frequencies + 1
        self.norm = nn.LayerNorm(2 * joint_dim)
        self.linear = nn.Linear(2 * joint_dim, basis)
        self.mlp = nn.Sequential(nn.Linear(2 * joint_dim, hidden), nn.GELU(), nn.Linear(hidden, basis))

    @staticmethod
    def report_features(report: torch.Tensor, knowledge: torch.Tensor, knowledge_mask: torch.Tensor):
        """report (B, D), knowledge (B, K, D) with mask (B, K) -> (B, 2D): the report and its mean entry."""
        if knowledge.shape[1] == 0:
            return torch.cat([report, torch.zeros_like(report)], dim=1)
        m = knowledge_mask[..., None].to(knowledge.dtype)
        mean = (knowledge * m).sum(1) / m.sum(1).clamp_min(1)
        return torch.cat([report, mean.to(report.dtype)], dim=1)

    def forward(self, features: torch.Tensor, size) -> torch.Tensor:
        """features (B, 2D) from ``report_features`` -> logits (B, 1, h, w)."""
        x = self.norm(features)
        coef = self.linear(x) + self.mlp(x)                                       # (B, 4F + 1)
        basis = position_basis(*size, self.frequencies, features.device, features.dtype)
        return (coef @ basis.T).reshape(features.shape[0], 1, *size)


def position_basis(h: int, w: int, frequencies: int, device=None, dtype=None) -> torch.Tensor:
    """(h*w, 4F + 1): sin/cos of pi * 2**k * (y, x) for k < F at the cell centres, and a constant.

    Cell centres ((i + 0.5) / n) and low frequencies (the finest period is 2**(1-F) of the image) make
    the map the same function at every resolution: it is trained on coarse grids and read at full
    resolution, where higher frequencies would put unsupervised ripples between the trained cells."""
    freqs = torch.pi * 2.0 ** torch.arange(frequencies, device=device, dtype=torch.float32)
    ys = ((torch.arange(h, device=device) + 0.5) / h)[:, None].expand(h, w).reshape(-1, 1) * freqs
    xs = ((torch.arange(w, device=device) + 0.5) / w)[None, :].expand(h, w).reshape(-1, 1) * freqs
    basis = torch.cat([ys.sin(), ys.cos(), xs.sin(), xs.cos(), torch.ones_like(ys[:, :1])], dim=1)
    return basis.to(dtype) if dtype is not None else basis


class VLCM(nn.Module):
    def __init__(self, stage_channels: Sequence[int], joint_dim: int, inner_dim: int = 256, heads: int = 8,
                 init_temperature: float = 10.0, init_bias: float = 0.0, use_position_prior: bool = True):
        super().__init__()
        self.scales = nn.ModuleList(VLCMScale(c, joint_dim, inner_dim, heads) for c in stage_channels)
        self.position_prior = TextPositionPrior(joint_dim) if use_position_prior else None
        self.report_proj = nn.Sequential(nn.LayerNorm(joint_dim), nn.Linear(joint_dim, joint_dim))
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_temperature)))
        self.bias = nn.Parameter(torch.tensor(init_bias))

    def similarity(self, pixels: torch.Tensor, report: torch.Tensor, size) -> torch.Tensor:
        """pixels (B, hw, D), report (B, D) -> calibrated logits (B, 1, h, w)."""
        report = self.report_proj(report)
        cos = torch.einsum("bnd,bd->bn", F.normalize(pixels, dim=-1), F.normalize(report, dim=-1))
        return (self.log_scale.exp() * cos + self.bias).reshape(pixels.shape[0], 1, *size)

    def forward(self, feats: List[torch.Tensor], dense_clip: torch.Tensor, tokens: torch.Tensor,
                token_mask: torch.Tensor, report_features: Optional[torch.Tensor] = None
                ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """feats: encoder maps of the calibrated scales (finest first); tokens (B, 1+L, D) from DATE with
        the report embedding as token 0; ``report_features`` the input of the text-position map (from the
        report alone, before it read the pixels). -> refined maps, similarity logits (one per scale)."""
        refined, sims = [], []
        for scale, feat in zip(self.scales, feats):
            out, pixels, text = scale(feat, dense_clip, tokens, token_mask)
            refined.append(out)
            sim = self.similarity(pixels, text[:, 0], feat.shape[2:])
            if self.position_prior is not None and report_features is not None:
                sim = sim + self.position_prior(report_features, feat.shape[2:])
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
