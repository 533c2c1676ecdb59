"""Mirroring that keeps image and report consistent.

Reports name sides and zones. A horizontally mirrored chest X-ray whose report still says "left"
teaches the network to ignore the text, so every mirrored sample gets a mirrored report: flipping
the image's left-right axis swaps left/right, flipping its top-bottom axis swaps upper/lower. An axis
whose meaning is unknown is not mirrored at all.

Which array axis is which: nnU-Net reads a 2D PNG as (rows, columns), so with its 2D mirror axes
(0, 1) the columns (axis 1) run left-right and the rows (axis 0) top-bottom. Other layouts declare
theirs in dataset.json: ``"tgc_lateral_axis"`` / ``"tgc_vertical_axis"`` (spatial axis index of the
2d configuration, or null).
"""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from ..text.laterality import mirror_text
from .coordinates import mirror_coordinates

NATURAL_IMAGE_ENDINGS = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")


def text_axes(dataset_json: dict) -> Tuple[Optional[int], Optional[int]]:
    """(lateral axis, vertical axis) of the 2d configuration's spatial axes, None where unknown."""
    natural = str(dataset_json.get("file_ending", "")).lower() in NATURAL_IMAGE_ENDINGS
    lateral = dataset_json.get("tgc_lateral_axis", 1 if natural else None)
    vertical = dataset_json.get("tgc_vertical_axis", 0 if natural else None)
    return lateral, vertical


def consistent_mirror_axes(requested: Sequence[int], dataset_json: dict) -> Tuple[int, ...]:
    """The subset of nnU-Net's mirror axes along which the report can follow the image."""
    known = {a for a in text_axes(dataset_json) if a is not None}
    return tuple(a for a in requested if a in known)


def mirror_batch(data: torch.Tensor, target, texts: Sequence[str], axes: Sequence[int],
                 lateral: Optional[int], vertical: Optional[int], rng: np.random.Generator,
                 coordinates: torch.Tensor):
    """Flip each sample along each of ``axes`` with probability 1/2 (as nnU-Net's MirrorTransform
    does) and mirror its report accordingly; its pixel coordinates become those of the mirrored image
    (``coordinates.mirror_coordinates``). ``target`` is a tensor or the deep-supervision list."""
    targets = target if isinstance(target, list) else [target]
    texts = list(texts)
    coordinates = coordinates.clone()
    for i in range(data.shape[0]):
        flipped = tuple(a for a in axes if rng.random() < 0.5)
        if not flipped:
            continue
        dims = [a + 1 for a in flipped]  # per-sample tensors are (C, *spatial)
        data[i] = torch.flip(data[i], dims)
        for t in targets:
            t[i] = torch.flip(t[i], dims)
        coordinates[i] = mirror_coordinates(coordinates[i], flipped)
        texts[i] = mirror_text(texts[i], flipped, lateral, vertical)
    return data, (targets if isinstance(target, list) else targets[0]), texts, coordinates
