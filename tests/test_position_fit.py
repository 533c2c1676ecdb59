"""The text-position map fitted to the training masks before training (model/position_fit.py and
nnunet/position_fit.py): targets grouped by report, mirrored with their reports, and a fit that puts
the map on the side each report names."""
import numpy as np
import pytest
import torch

from nnunet_tgc.model.position_fit import PositionTargets, fit_position_prior
from nnunet_tgc.model.vlcm import TextPositionPrior
from nnunet_tgc.nnunet.position_fit import GRID, grouped_targets, mirror_subsets, pooled_masks


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


def test_fit_puts_the_map_on_the_side_each_report_names():
    torch.manual_seed(0)
    dim = 16
    prior = TextPositionPrior(dim)
    features = torch.randn(2, 2 * dim)      # two reports: "left" and "right"
    h = w = 8
    share = torch.zeros(2, 1, h, w)
    share[0, ..., : w // 2] = 0.6
    share[1, ..., w // 2:] = 0.6
    targets = PositionTargets(features.clone(), share, torch.ones_like(share), torch.tensor([30.0, 10.0]))
    before = _side_share(prior(features, (h, w))).detach()
    result = fit_position_prior(prior, targets, steps=200)
    assert result["loss_after"] < result["loss_before"] and result["reports"] == 2 and result["cases"] == 40
    after = _side_share(prior(features, (h, w))).detach()
    assert float(after[0]) > 0.9 and float(after[1]) < 0.1, (before, after)
    assert torch.equal(targets.features, features)  # the report features are inputs, not fitted


def test_network_position_features_feed_its_own_map():
    from nnunet_tgc.model.factory import create_tgc_net
    from nnunet_tgc.nnunet.predictor import make_text_cache

    kw = dict(features_per_stage=[8, 16, 32], strides=[(1, 1), (2, 2), (2, 2)], kernel_sizes=[(3, 3)] * 3,
              n_conv_per_stage=[1] * 3, n_conv_per_stage_decoder=[1] * 2, verbose=False)
    net = create_tgc_net("tiny", 1, 2, **kw)
    cache = make_text_cache(net)
    text = cache.batch(["Unilateral pulmonary infection, one infected area, lower left lung.",
                        "Unilateral pulmonary infection, one infected area, lower right lung."])
    feats = net.position_features(text)
    assert feats.shape == (2, 2 * net.towers.joint_dim)
    assert not torch.allclose(feats[0], feats[1])
    no_vlcm = create_tgc_net("tiny", 1, 2, use_vlcm=False, towers=net.towers, **kw)
    assert no_vlcm.text_position_prior is None
    with pytest.raises(ValueError, match="no text-position map"):
        no_vlcm.position_features(text)
