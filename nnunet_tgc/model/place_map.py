"""The place map: where a report's places lie, in the whole image's coordinates.

A report states places (cells of a side x zone grid, read by ``nnunet_tgc.text.places``); the map
turns them into log-odds of a lesion at every pixel, from the pixel's normalised (row, column)
position in the whole image. Each cell has its own learned region, a smooth function of the
position (coefficients of a low-frequency Fourier basis, :func:`fourier_basis`), and a report's map
is the soft union of its cells' regions:

    P(lesion at p) = 1 - prod_c (1 - sigmoid(z_c(p)))^a_c,    z_c(p) = <w_c, phi(p)> + b(extra)

with ``a_c`` the report's cell weights and ``extra`` the rest of its place vector (whether it places
anything). The map says where, not how much: a report's count does not enter it, so "one infected area"
does not dim the map of a small lesion until the network erases it, and a report that counts nothing
gets the same map as one that does (the image says how much; the count still reaches DATE's tokens).
The pieces compose: a report naming upper-left and lower-left gets the union of two learned regions,
whether or not that combination occurred in training, and any wording that states the same places gets
the same map.

The map is linear in its parameters for given places, so it is fitted to the training masks in
seconds before the network trains (:func:`fit_place_map`): informative from the first step.
"""
from dataclasses import dataclass
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .alignment_loss import soft_map_loss

# the place vector the network reads (``nnunet_tgc.text.places.place_vector`` writes it): a weight per
# cell of a 2 x 3 grid (sides x zones), then whether the report places nothing
PLACE_CELLS = 6
PLACE_EXTRA = 1
PLACE_VECTOR_SIZE = PLACE_CELLS + PLACE_EXTRA


def says_nothing_of_places(places: torch.Tensor) -> torch.Tensor:
    """places (B, PLACE_VECTOR_SIZE) -> (B,) bool: the report places nothing (its extra feature) and rules no
    cell out (every cell open), so it says nothing of where lesions are ("Pulmonary infection."; not "No
    right-sided opacity.", which rules the right side out)."""
    return (places[:, PLACE_CELLS] > 0.5) & (places[:, :PLACE_CELLS] > 0.5).all(dim=1)


def fourier_basis(coordinates: torch.Tensor, frequencies: int) -> torch.Tensor:
    """coordinates (B, 2, h, w) in [0, 1] (row, column) -> (B, h, w, 4F + 1): sin/cos of pi * 2**k * y
    and x for k < F, and a constant. Low frequencies only (the finest period is 2**(1-F) of the image):
    the map is fitted on a coarse grid and read at full resolution, where higher frequencies would put
    unsupervised ripples between the fitted cells."""
    c = coordinates.float().permute(0, 2, 3, 1)                                    # (B, h, w, 2)
    freqs = torch.pi * 2.0 ** torch.arange(frequencies, device=c.device, dtype=torch.float32)
    y, x = c[..., :1] * freqs, c[..., 1:] * freqs
    return torch.cat([y.sin(), y.cos(), x.sin(), x.cos(), torch.ones_like(y[..., :1])], dim=-1)


def image_grid(batch: int, h: int, w: int, device=None) -> torch.Tensor:
    """(batch, 2, h, w): the normalised (row, column) of every pixel's centre, (i + 0.5) / n."""
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"))
    return grid[None].expand(batch, -1, -1, -1)


def resize_coordinates(coordinates: torch.Tensor, size) -> torch.Tensor:
    """Coordinates at another resolution: each coarse cell gets the mean position of its pixels."""
    if tuple(coordinates.shape[2:]) == tuple(size):
        return coordinates
    return F.adaptive_avg_pool2d(coordinates.float(), size)


class PlaceMap(nn.Module):
    def __init__(self, num_cells: int, num_extra: int, frequencies: int = 4):
        super().__init__()
        self.num_cells, self.frequencies = num_cells, frequencies
        # small random regions: distinct cells give distinct maps from the start (the fit before training
        # replaces them); the extra feature (placed or not) shifts every cell
        self.cell_regions = nn.Parameter(torch.randn(num_cells, 4 * frequencies + 1) * 0.1)
        self.extra_offset = nn.Linear(num_extra, 1, bias=False)
        nn.init.zeros_(self.extra_offset.weight)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        offset = state_dict.get(prefix + "extra_offset.weight")
        if offset is not None and offset.shape != self.extra_offset.weight.shape:
            raise RuntimeError(
                f"the checkpoint's place map reads {offset.shape[-1]} extra place features (a count among them); "
                f"this version's reads {self.extra_offset.weight.shape[-1]} (whether the report places anything: "
                f"the count left the map, documentation/results.md section 9). Retrain the model with this version.")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, places: torch.Tensor, coordinates: torch.Tensor) -> torch.Tensor:
        """places (B, num_cells + num_extra), coordinates (B, 2, h, w) -> log-odds (B, 1, h, w), float32."""
        # float32 under autocast too: log(1 - exp(-s)) needs the precision near s = 0
        with torch.autocast(coordinates.device.type, enabled=False):
            places = places.float()
            weights, extra = places[:, :self.num_cells], places[:, self.num_cells:]
            z = fourier_basis(coordinates, self.frequencies) @ self.cell_regions.float().T  # (B, h, w, cells)
            z = z + (extra @ self.extra_offset.weight.float().T)[:, None, None, :]
            # -log(1 - P) summed over the report's cells; P = 1 - exp(-s), and logit(P) = s + log(1 - exp(-s))
            s = (F.softplus(z) * weights[:, None, None, :]).sum(-1).clamp_min(1e-4)
            return (s + torch.log(-torch.expm1(-s)))[:, None]


@dataclass
class PlaceTargets:
    """Per distinct place vector (or report): the vector (N, P), the mean foreground share of its
    cases on a grid of the whole image (N, 1, h, w), the mean share of valid (non-ignore) area
    (N, 1, h, w), and its weight in the fit (N,): its number of cases (slices), times the share of training
    draws it stands for where some reports are also drawn without their places (``nnunet/place_fit.py``)."""
    places: torch.Tensor
    share: torch.Tensor
    valid: torch.Tensor
    count: torch.Tensor


def fit_place_map(place_map: PlaceMap, targets: PlaceTargets, steps: int = 300, lr: float = 5e-2
                  ) -> Dict[str, float]:
    """Fit ``place_map`` to ``targets`` in place with full-batch Adam; -> losses before and after.

    Cases with the same places share one target (the loss over cases equals the loss over distinct
    place vectors with their mean mask, weighted by their count), so the cost does not grow with the
    dataset."""
    size = tuple(targets.share.shape[2:])
    coordinates = image_grid(targets.places.shape[0], *size, device=targets.share.device)
    weight = (targets.valid > 0).float() * targets.count[:, None, None, None].float()
    opt = torch.optim.Adam([p for p in place_map.parameters() if p.requires_grad], lr=lr)

    def loss_now() -> torch.Tensor:
        return soft_map_loss(place_map(targets.places, coordinates), targets.share, weight)

    with torch.no_grad():
        before = float(loss_now())
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = loss_now()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(loss_now())
    return {"loss_before": before, "loss_after": after, "groups": int(targets.places.shape[0]),
            "cases": round(float(targets.count.sum()))}


class PlaceEvidence(nn.Module):
    """The report's places as evidence on the output: at every pixel, how much the report's place map raises or
    lowers the log-odds of a lesion over the map of a report that places nothing (``evidence`` = the two maps'
    log-odds difference: about 0 where the report says nothing new, strongly negative on a side it leaves out),
    times a learned weight per output channel, added to the logits.

    The places reach the other layers as features the decoder may weigh against the words' (DATE, VLCM); here
    they move the output itself, so what a report's places rule out stays ruled out however it is worded. The
    weights start as Bayes' rule for evidence independent of the image (1 on every channel but the first, which
    is nnU-Net's background when the labels are classes; with regions it is a region and learns its weight from
    0), and training scales them. A 1x1 convolution named ``seg_layers``: its shape depends on the number of
    classes, so ``-pretrained_weights`` leaves it to the new run (``tgc_net.py``)."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.seg_layers = nn.Conv2d(1, num_classes, 1)
        with torch.no_grad():
            self.seg_layers.weight.fill_(1.0)
            if num_classes > 1:  # channel 0: the background of class labels
                self.seg_layers.weight[0] = 0.0
            self.seg_layers.bias.zero_()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints of the networks before the evidence (documentation/results.md section 21) hold none: they load
        # with weights and bias 0, which adds nothing, so they predict exactly as they were trained
        if prefix + "seg_layers.weight" not in state_dict and prefix + "seg_layers.bias" not in state_dict:
            state_dict[prefix + "seg_layers.weight"] = torch.zeros_like(self.seg_layers.weight)
            state_dict[prefix + "seg_layers.bias"] = torch.zeros_like(self.seg_layers.bias)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, logits: torch.Tensor, evidence: torch.Tensor) -> torch.Tensor:
        """logits (B, classes, h, w), evidence (B, 1, h, w) log-odds difference -> logits with the evidence added."""
        return logits + self.seg_layers(evidence.to(logits.dtype))


def place_logits_at(place_map: Optional[PlaceMap], places: torch.Tensor, coordinates: torch.Tensor,
                    cache: dict, size) -> torch.Tensor:
    """The map at one resolution, computed once per forward pass (``cache`` keyed by size)."""
    size = tuple(size)
    if places is None:
        raise ValueError("the reports' encoding carries no places: encode reports with "
                         "nnunet_tgc.text.cache.TextFeatureCache, which reads them (text/places.py)")
    if size not in cache:
        cache[size] = place_map(places, resize_coordinates(coordinates, size))
    return cache[size]
