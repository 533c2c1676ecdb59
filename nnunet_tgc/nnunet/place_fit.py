"""The training cases' masks as targets for the place map, read from nnU-Net's preprocessed data.

Before the first epoch the trainer fits the network's place map (``model/place_map.py``) to the
masks of the fold's training cases, so that the report says where to look from the first step on.
This module gathers what that fit needs: every training case's segmentation, pooled to a coarse
grid of the whole image (the frame the place map is read in, ``coordinates.py``), grouped by its
report; mirrored copies with mirrored reports along the axes training mirrors; and each distinct
report's place vector, read by the text path the network uses (``TextFeatureCache``).
"""
import time
from collections import defaultdict
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch

from ..model.alignment_loss import foreground_share
from ..model.place_map import PlaceTargets
from ..text.laterality import mirror_text
from ..text.withheld import withheld_versions

GRID = (32, 32)


def mirror_subsets(axes: Sequence[int]) -> List[Tuple[int, ...]]:
    """Every subset of the mirror axes (each is equally likely in training: each axis flips with p=1/2)."""
    subsets = [()]
    for a in axes:
        subsets += [s + (a,) for s in subsets]
    return subsets


def pooled_masks(dataset, keys: Sequence[str], ignore_label=None, progress: Callable[[str], None] = print):
    """-> {key: (share, valid)}: every case's slices pooled to GRID, summed over slices, and its slice count.

    ``dataset`` is an nnU-Net dataset (``load_case(key)`` -> data, seg, seg_prev, properties); the seg of
    a case is (1, *spatial) with the 2d configuration's spatial axes last (a 2D image has one slice).
    """
    out, t0 = {}, time.perf_counter()
    for i, key in enumerate(keys):
        seg = np.asarray(dataset.load_case(key)[1][0])
        slices = torch.from_numpy(seg.reshape(-1, *seg.shape[-2:]).astype(np.int16))[:, None]
        share, valid = foreground_share(slices, GRID, ignore_label)
        out[key] = (share.sum(0), valid.sum(0), slices.shape[0])
        if (i + 1) % 500 == 0:
            progress(f"place map fit: read {i + 1}/{len(keys)} training masks ({time.perf_counter() - t0:.0f} s)")
    return out


def grouped_targets(case_reports: Dict[str, str], masks: dict, mirror_axes: Sequence[int], lateral, vertical):
    """-> (texts, share (N, 1, h, w), valid (N, 1, h, w), count (N,)): the mean pooled mask of every distinct
    (possibly mirrored) report, over the cases and slices that carry it, and how many slices that is."""
    sums = defaultdict(lambda: [0.0, 0.0, 0])
    for key, (share, valid, n) in masks.items():
        for flipped in mirror_subsets(mirror_axes):
            dims = [a + 1 for a in flipped]  # pooled maps are (1, h, w)
            text = mirror_text(case_reports[key], flipped, lateral, vertical)
            entry = sums[text]
            entry[0] = entry[0] + (torch.flip(share, dims) if dims else share)
            entry[1] = entry[1] + (torch.flip(valid, dims) if dims else valid)
            entry[2] += n
    texts = sorted(sums)
    count = torch.tensor([sums[t][2] for t in texts], dtype=torch.float)
    share = torch.stack([sums[t][0] for t in texts]) / count[:, None, None, None]
    valid = torch.stack([sums[t][1] for t in texts]) / count[:, None, None, None]
    return texts, share, valid, count


def training_place_targets(text_cache, dataset, case_reports: Dict[str, str], keys: Sequence[str],
                           mirror_axes, lateral, vertical, device, ignore_label=None, unplaced_rate: float = 0.0,
                           uncounted_rate: float = 0.0, progress: Callable[[str], None] = print) -> PlaceTargets:
    """The fit's targets: every distinct training report (and mirrored copy) with its cases' mean mask; with
    ``unplaced_rate`` or ``uncounted_rate`` > 0 also the same cases under their reports without places, without
    counts, or without both (``text/withheld.py``), each weighted as often as training draws it, so that
    "placed nothing" maps to where lesions lie in general."""
    masks = pooled_masks(dataset, keys, ignore_label, progress)
    texts, shares, valids, counts = [], [], [], []
    for withhold, draws in withheld_versions(unplaced_rate, uncounted_rate):
        reports = {k: withhold(t, text_cache.vocabulary) for k, t in case_reports.items()}
        t, share, valid, count = grouped_targets(reports, masks, mirror_axes, lateral, vertical)
        texts += t
        shares.append(share)
        valids.append(valid)
        counts.append(count * draws)
    places = torch.cat([text_cache.encode(t).places for t in texts])
    return PlaceTargets(places.to(device), torch.cat(shares).to(device), torch.cat(valids).to(device),
                        torch.cat(counts).to(device))
