"""The place map fitted to the training masks before training (model/place_map.py and
nnunet/place_fit.py): targets grouped by report, mirrored with their reports, and a fit that puts
the map on the places each report states, composing cells into combinations it never saw."""
import numpy as np
import pytest
import torch

from nnunet_tgc.model.place_map import PLACE_CELLS, PLACE_EXTRA, PlaceMap, PlaceTargets, fit_place_map, image_grid
from nnunet_tgc.nnunet.place_fit import GRID, grouped_targets, mirror_subsets, pooled_masks
from nnunet_tgc.text.knowledge import KnowledgeBase
from nnunet_tgc.text.places import place_vector, read_places


class _Dataset:
    """What nnU-Net's dataset classes give: load_case(key) -> (data, seg (1, *spatial), seg_prev, properties)."""

    def __init__(self, segs):
        self.segs = segs

    def load_case(self, key):
        return None, self.segs[key], None, {}


def _half(h, w, side):
    m = np.zeros((h, w), dtype=np.int16)
    if side == "left":
        m[:, : w // 2] = 1
    else:
        m[:, w // 2:] = 1
    return m


def test_mirror_subsets_cover_every_combination():
    assert mirror_subsets(()) == [()]
    assert sorted(mirror_subsets((0, 1))) == [(), (0,), (0, 1), (1,)]


def test_pooled_masks_sum_slices_and_exclude_the_ignore_label():
    image = _half(64, 64, "left")[None, None]                       # a 2D case: one slice
    volume = np.stack([_half(64, 64, "left"), np.zeros((64, 64), np.int16)])[None]  # two slices
    ignored = _half(64, 64, "left")[None, None].copy()
    ignored[..., 32:, :] = 2                                        # bottom half: ignore label
    masks = pooled_masks(_Dataset({"a": image, "b": volume, "c": ignored}), ["a", "b", "c"], ignore_label=2,
                         progress=lambda msg: None)
    share, valid, n = masks["a"]
    assert n == 1 and share.shape == (1, *GRID)
    assert torch.allclose(share[0, :, :16], torch.ones(32, 16)) and float(share[0, :, 16:].sum()) == 0
    share, valid, n = masks["b"]
    assert n == 2 and float(share[0, 0, 0]) == 1.0 and float(valid.sum()) == 2 * GRID[0] * GRID[1]
    share, valid, n = masks["c"]
    assert float(valid[0, 16:].sum()) == 0 and float(valid[0, :16].mean()) == 1.0
    assert float(share[0, :16, :16].mean()) == 1.0


def test_grouped_targets_average_by_report_and_mirror_with_the_report():
    left = torch.zeros(1, 4, 4)
    left[..., :2] = 1
    half_left = left * 0.5
    masks = {"a": (left, torch.ones(1, 4, 4), 1), "b": (half_left, torch.ones(1, 4, 4), 1),
             "c": (left, torch.ones(1, 4, 4), 1)}
    reports = {"a": "Lesion in the left lung.", "b": "Lesion in the left lung.", "c": "Lesion in the right lung."}
    texts, share, valid, count = grouped_targets(reports, masks, (), 1, 0)
    assert texts == ["Lesion in the left lung.", "Lesion in the right lung."]
    assert count.tolist() == [2, 1]
    assert torch.allclose(share[0], (left + half_left) / 2) and torch.allclose(share[1], left)
    # mirroring along the lateral axis: every case also counts, flipped, for its mirrored report
    texts, share, valid, count = grouped_targets(reports, masks, (1,), 1, 0)
    assert texts == ["Lesion in the left lung.", "Lesion in the right lung."]
    assert count.tolist() == [3, 3]
    flipped_c = torch.flip(left, [2])  # "right" case mirrored -> "left" report, mask on the other side
    assert torch.allclose(share[0], (left + half_left + flipped_c) / 3)
    assert torch.allclose(share[1], (torch.flip(left, [2]) + torch.flip(half_left, [2]) + left) / 3)


def _side_share(logits):
    p = torch.sigmoid(logits)
    half = p.shape[-1] // 2
    return p[..., :half].sum(dim=(1, 2, 3)) / p.sum(dim=(1, 2, 3))


def _places(*texts):
    kb = KnowledgeBase.load().for_domain("chest")
    return torch.tensor([place_vector(read_places(t, kb)) for t in texts])


def _zone_mask(h, w, side, zones):
    m = torch.zeros(h, w)
    cols = slice(0, w // 2) if side == "left" else slice(w // 2, w)
    for z in zones:
        i = ("upper", "middle", "lower").index(z)
        m[i * h // 3:(i + 1) * h // 3, cols] = 0.6
    return m


def test_fit_composes_cells_into_an_unseen_combination():
    """Fitted on reports naming one zone each (upper left, lower left, lower right), the map of "upper
    and lower left lung" (never in the targets) covers both left zones and not the middle, nor the right;
    a rewording with a lobe abbreviation reads the same places and gets the same map."""
    torch.manual_seed(0)
    h = w = 12
    texts = ["upper left lung.", "lower left lung.", "lower right lung.", "middle right lung."]
    cells = [("left", ["upper"]), ("left", ["lower"]), ("right", ["lower"]), ("right", ["middle"])]
    share = torch.stack([_zone_mask(h, w, s, z) for s, z in cells])[:, None]
    targets = PlaceTargets(_places(*texts), share, torch.ones_like(share), torch.tensor([20.0, 20.0, 20.0, 20.0]))
    place_map = PlaceMap(PLACE_CELLS, PLACE_EXTRA)
    result = fit_place_map(place_map, targets, steps=300)
    assert result["loss_after"] < result["loss_before"] and result["groups"] == 4 and result["cases"] == 80
    with torch.no_grad():
        unseen = torch.sigmoid(place_map(_places("Upper and lower left lung."), image_grid(1, h, w)))[0, 0]
        lobes = torch.sigmoid(place_map(_places("LUL and LLL opacities."), image_grid(1, h, w)))[0, 0]
    left, right = unseen[:, : w // 2], unseen[:, w // 2:]
    assert left[:4].mean() > 0.4 and left[8:].mean() > 0.4       # both named zones
    assert left[4:8].mean() < 0.2 and right.mean() < 0.2          # not the middle, not the other side
    assert torch.allclose(unseen, lobes)


def test_fit_puts_the_map_on_the_side_each_report_names():
    torch.manual_seed(0)
    h = w = 8
    share = torch.zeros(2, 1, h, w)
    share[0, ..., : w // 2] = 0.6
    share[1, ..., w // 2:] = 0.6
    places = _places("Left lung.", "Right lung.")
    targets = PlaceTargets(places.clone(), share, torch.ones_like(share), torch.tensor([30.0, 10.0]))
    place_map = PlaceMap(PLACE_CELLS, PLACE_EXTRA)
    fit_place_map(place_map, targets, steps=200)
    after = _side_share(place_map(places, image_grid(2, h, w))).detach()
    assert float(after[0]) > 0.9 and float(after[1]) < 0.1, after
    assert torch.equal(targets.places, places)  # the place vectors are inputs, not fitted


def test_a_checkpoint_whose_place_map_read_counts_is_refused_with_what_to_do():
    old = {"cell_regions": torch.zeros(PLACE_CELLS, 17), "extra_offset.weight": torch.zeros(1, 6)}
    with pytest.raises(RuntimeError, match="count left the map.*Retrain"):
        PlaceMap(PLACE_CELLS, PLACE_EXTRA).load_state_dict(old)
