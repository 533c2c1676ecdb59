"""VLCM's similarity maps and their supervision (the alignment loss) on tensors alone."""
import pytest
import torch

from nnunet_tgc.model import EncodedText, create_tgc_net, create_towers
from nnunet_tgc.model.alignment_loss import foreground_share, similarity_map_loss
from nnunet_tgc.model.place_map import PLACE_CELLS, PLACE_EXTRA, PlaceMap, image_grid

from _text import encode_reports

PLANS = dict(features_per_stage=[16, 32, 64, 128], strides=[[1, 1]] + [[2, 2]] * 3,
             kernel_sizes=[[3, 3]] * 4, n_conv_per_stage=[1] * 4, n_conv_per_stage_decoder=[1] * 3)
LEFT = "Unilateral pulmonary infection, one infected area, lower left lung."
RIGHT = "Unilateral pulmonary infection, one infected area, lower right lung."


def test_foreground_share_by_hand():
    target = torch.zeros(1, 1, 4, 4)
    target[0, 0, 0, 0] = 1          # one of four pixels of the top-left cell
    target[0, 0, 2:, 2:] = 1        # the whole bottom-right cell
    share, valid = foreground_share(target, (2, 2))
    assert share[0, 0].tolist() == [[0.25, 0.0], [0.0, 1.0]]
    assert valid.min().item() == 1.0


def test_ignore_label_cells_get_no_weight_and_do_not_dilute_the_share():
    target = torch.zeros(1, 1, 2, 4)
    target[0, 0, :, 0] = 1
    target[0, 0, :, 1] = 9          # the ignore label fills half of the left cell
    target[0, 0, :, 2:] = 9         # and all of the right cell
    share, valid = foreground_share(target, (1, 2), ignore_label=9)
    assert share[0, 0].tolist() == [[1.0, 0.0]]
    assert valid[0, 0].tolist() == [[0.5, 0.0]]
    # an all-ignore cell does not count: any logit there gives the same loss
    a = torch.tensor([[[[5.0, -5.0]]]])
    b = torch.tensor([[[[5.0, 7.0]]]])
    assert similarity_map_loss([a], target, ignore_label=9) == pytest.approx(similarity_map_loss([b], target, 9).item())


def test_regions_target_counts_any_region_as_foreground():
    target = torch.zeros(1, 2, 2, 2)
    target[0, 0, 0, 0] = 1
    target[0, 1, 1, 1] = 1
    share, _ = foreground_share(target, (1, 1))
    assert share.item() == pytest.approx(0.5)


def test_loss_prefers_the_map_that_matches_the_mask():
    target = torch.zeros(2, 1, 8, 8)
    target[:, :, :, :4] = 1                     # the left half
    right = torch.full((2, 1, 4, 4), -6.0)
    right[..., :2] = 6.0
    wrong = right.flip(-1)
    assert similarity_map_loss([right], target) < 0.2 < similarity_map_loss([wrong], target)
    # several maps: the mean of their losses
    both = similarity_map_loss([right, wrong], target)
    assert both.item() == pytest.approx((similarity_map_loss([right], target) + similarity_map_loss([wrong], target)).item() / 2)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return create_tgc_net("tiny", 1, 2, towers=create_towers("tiny"), verbose=False, **PLANS)


def encode(net, texts):
    return encode_with(net.towers, texts)


def encode_with(towers, texts):
    return encode_reports(towers, texts)


def test_forward_returns_one_similarity_map_per_calibrated_scale_and_the_place_map(net):
    result = net(torch.randn(2, 1, 64, 64), encode(net, [LEFT, RIGHT]), return_similarity=True)
    out, sims = result.segmentation, result.similarity_maps
    assert len(out) == 3 and out[0].shape == (2, 2, 64, 64)
    # no stage at stride 16 or 32 in these small plans: the two deepest stages (strides 4 and 8) are
    # calibrated; the last map is the place map alone, at the finest calibrated scale
    assert [tuple(s.shape) for s in sims] == [(2, 1, 16, 16), (2, 1, 8, 8), (2, 1, 16, 16)]
    assert not torch.allclose(sims[0][0], sims[0][1])          # the maps depend on the report
    assert not torch.allclose(sims[2][0], sims[2][1])


def test_the_place_map_reaches_every_skip_from_the_first_step(net):
    """Same image, two reports: the segmentation differs at initialisation already (the place map is
    zero-initialised but reads the count and cells), and the place embedding of every stage gets a
    gradient from the segmentation loss alone."""
    net.zero_grad()
    x = torch.randn(1, 1, 64, 64).expand(2, 1, 64, 64)
    out = net(x, encode(net, [LEFT, RIGHT]))
    assert not torch.allclose(out[0][0], out[0][1])
    out[0][:, 1].mean().backward()
    assert all(e.weight.grad is not None and e.weight.grad.abs().sum() > 0 for e in net.place_embeds)


def test_place_map_learns_the_side_in_a_hundred_sgd_steps():
    """nnU-Net's optimiser (SGD 1e-2, momentum 0.99, Nesterov), the alignment loss, reports whose
    only difference is the side: the map's mass moves to the named side within 100 steps, at any
    resolution (it is a function of normalised coordinates)."""
    torch.manual_seed(0)
    towers = create_towers("tiny")
    place_map = PlaceMap(PLACE_CELLS, PLACE_EXTRA)
    places = encode_with(towers, [LEFT, RIGHT]).places
    target = torch.zeros(2, 1, 28, 28)
    target[0, :, 10:26, 2:12] = 1     # a lower-left lesion (image side)
    target[1, :, 10:26, 16:26] = 1
    opt = torch.optim.SGD(place_map.parameters(), lr=1e-2, momentum=0.99, nesterov=True)
    for _ in range(100):
        opt.zero_grad()
        similarity_map_loss([place_map(places, image_grid(2, 14, 14))], target).backward()
        opt.step()
    with torch.no_grad():
        prob = torch.sigmoid(place_map(places, image_grid(2, 14, 14)))
        finer = torch.sigmoid(place_map(places, image_grid(2, 28, 28)))
    for p in (prob, finer):
        left = p[..., :p.shape[-1] // 2].sum((1, 2, 3)) / p.sum((1, 2, 3))
        assert left[0] > 0.8 and left[1] < 0.2, left


def test_alignment_loss_trains_vlcm_and_the_similarity_head_gets_a_gradient(net):
    net.zero_grad()
    x, text = torch.randn(2, 1, 64, 64), encode(net, [LEFT, RIGHT])
    target = torch.zeros(2, 1, 64, 64)
    target[0, :, :, :32] = 1
    target[1, :, :, 32:] = 1
    result = net(x, text, return_similarity=True)
    out, sims = result.segmentation, result.similarity_maps
    (similarity_map_loss(sims, target) + out[0].mean()).backward()
    assert net.vlcm.report_proj[1].weight.grad.abs().sum() > 0
    assert net.vlcm.log_scale.grad is not None
    assert net.similarity_to_logits.seg_layers.weight.grad.abs().sum() > 0  # zero at init, but trainable from the first step


def test_the_report_decides_the_side_after_a_short_training():
    """Identical images, masks on the side the report names: only the text can lower the loss. After a
    short training the map puts its mass on the named side, and swapping the words moves it."""
    torch.manual_seed(0)
    net = create_tgc_net("tiny", 1, 2, towers=create_towers("tiny"), verbose=False, **PLANS)
    texts = [LEFT, RIGHT] * 2
    text = encode(net, texts)
    x = torch.randn(1, 1, 32, 32).expand(4, 1, 32, 32).contiguous()
    target = torch.zeros(4, 1, 32, 32)
    target[0::2, :, :, :16] = 1   # "left" = the image's left half (columns 0-15)
    target[1::2, :, :, 16:] = 1
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=3e-3)
    for _ in range(60):
        opt.zero_grad()
        sims = net(x, text, return_similarity=True).similarity_maps
        similarity_map_loss(sims, target).backward()
        opt.step()
    with torch.no_grad():
        sims = net(x[:2], encode(net, [LEFT, RIGHT]), return_similarity=True).similarity_maps
    prob = torch.sigmoid(sims[0])
    left_share = prob[..., :prob.shape[-1] // 2].sum((1, 2, 3)) / prob.sum((1, 2, 3))
    assert left_share[0] > 0.8 and left_share[1] < 0.2, left_share
