"""Supervision of VLCM's similarity maps: where does the report apply in this image?

VLCM scores every position against the report (a calibrated cosine similarity). Without a loss of
its own, that map is only trained through the segmentation loss, which an image-only path already
satisfies: on real chest X-rays the text was ignored (documentation/architecture.md, "Making the
report count"). Here each map is supervised directly with the ground truth at its resolution, so
the only way to lower this loss on an image with two look-alike lungs is to read which side and
zone the report names.

Target: the share of foreground in every cell of the map (area pooling of the full-resolution
mask), a soft label. Loss: binary cross-entropy with those soft labels plus a soft Dice over the
batch, each map weighted equally.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F


def foreground_share(target: torch.Tensor, size, ignore_label: Optional[int] = None):
    """target (B, 1, H, W) label map, or (B, R, H, W) region channels -> (share (B, 1, h, w), valid
    (B, 1, h, w)): the fraction of foreground in each cell of an (h, w) grid, and the fraction of
    cells not marked with the ignore label (cells that are all ignore get no loss)."""
    if target.shape[1] == 1:
        labels = target.float()
        valid = torch.ones_like(labels) if ignore_label is None else (labels != ignore_label).float()
        fg = ((labels > 0) & (valid > 0)).float()
    else:  # regions (already binary channels): foreground is any region
        fg = (target > 0).any(dim=1, keepdim=True).float()
        valid = torch.ones_like(fg)
    pooled_valid = F.adaptive_avg_pool2d(valid, size)
    share = F.adaptive_avg_pool2d(fg, size) / pooled_valid.clamp_min(1e-6)
    return share.clamp(0, 1), pooled_valid


def similarity_map_loss(similarity_maps: Sequence[torch.Tensor], target: torch.Tensor,
                        ignore_label: Optional[int] = None, smooth: float = 1.0) -> torch.Tensor:
    """Mean over the maps of BCE(soft labels) + (1 - soft Dice); maps are logits (B, 1, h, w)."""
    losses = []
    for logits in similarity_maps:
        share, valid = foreground_share(target, logits.shape[2:], ignore_label)
        losses.append(soft_map_loss(logits, share, (valid > 0).float(), smooth))
    return torch.stack(losses).mean()


def soft_map_loss(logits: torch.Tensor, share: torch.Tensor, weight: torch.Tensor, smooth: float = 1.0):
    """BCE with the soft labels ``share`` plus (1 - soft Dice), every cell weighted by ``weight``
    (0 for cells that are all ignore label; a case count where cells stand for several cases)."""
    logits = logits.float()
    bce = (F.binary_cross_entropy_with_logits(logits, share, reduction="none") * weight).sum() \
        / weight.sum().clamp_min(1.0)
    prob = torch.sigmoid(logits) * weight
    dice = (2 * (prob * share).sum() + smooth) / (prob.sum() + (share * weight).sum() + smooth)
    return bce + 1 - dice
