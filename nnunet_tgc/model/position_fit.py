"""Fit VLCM's text-position map to the training masks before the network trains.

The text-position map (``vlcm.TextPositionPrior``) says where a report points, from the report
alone. Trained only alongside the segmentation network, it is uninformative for the first hundreds
of steps, so the CNN branch learns to segment without it and reads it late, if at all. A drawn map
of the report's side and zones, given to plain nnU-Net as a second input channel, is informative
from the first step, and gained 8 Dice points on QaTa under the benchmark budget
(documentation/architecture.md, "Making the report count").

The map needs no image: it is a function of the report and the position. So before the first
epoch it is fitted on its own to every training case's mask (the foreground share of each cell of
a coarse grid, VLCM's alignment loss), with full-batch Adam. Cases are grouped by report: the
loss over cases equals the loss over distinct reports with their mean mask, each weighted by its
number of cases, so the cost is that of a few hundred distinct reports, whatever the dataset size.
Nothing here knows a language: the map reads the frozen text encodings, as in training.
"""
from dataclasses import dataclass
from typing import Dict

import torch

from .alignment_loss import soft_map_loss


@dataclass
class PositionTargets:
    """Per distinct report: its position features (N, 2D), the mean foreground share of its cases
    on a grid (N, 1, h, w), the mean share of valid (non-ignore) area (N, 1, h, w), and its number
    of cases (N,)."""
    features: torch.Tensor
    share: torch.Tensor
    valid: torch.Tensor
    count: torch.Tensor


def fit_position_prior(prior: torch.nn.Module, targets: PositionTargets, steps: int = 300, lr: float = 1e-2,
                       weight_decay: float = 0.0) -> Dict[str, float]:
    """Fit ``prior`` (a ``TextPositionPrior``) to ``targets`` in place; -> losses before and after.

    Only the prior's own parameters move; the report features are fixed inputs (DATE's output at
    the start of training).
    """
    size = tuple(targets.share.shape[2:])
    weight = (targets.valid > 0).float() * targets.count[:, None, None, None].float()
    params = [p for p in prior.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)

    def loss_now() -> torch.Tensor:
        return soft_map_loss(prior(targets.features, size), targets.share, weight)

    with torch.no_grad():
        before = float(loss_now())
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = loss_now()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(loss_now())
    return {"loss_before": before, "loss_after": after, "reports": int(targets.features.shape[0]),
            "cases": int(targets.count.sum())}

