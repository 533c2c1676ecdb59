"""The image route: a report that places nothing is segmented without the report, and that route is trained
on every sample (``model/tgc_net.py``, ``nnunet/trainer.py``)."""
import pytest
import torch

from nnunet_tgc.model import SegmentationAndMaps, TGCInput, create_tgc_net, create_towers
from nnunet_tgc.model.place_map import PLACE_VECTOR_SIZE, image_grid
from nnunet_tgc.nnunet.trainer import WithAuxiliaryLosses
from nnunet_tgc.text.knowledge import KnowledgeBase
from nnunet_tgc.text.places import place_vector, read_places

from _text import encode_reports

STAGES = dict(features_per_stage=[16, 32, 64, 64], strides=[[1, 1]] + [[2, 2]] * 3, kernel_sizes=[[3, 3]] * 4,
              n_conv_per_stage=[1] * 4, n_conv_per_stage_decoder=[1] * 3)
LEFT = "Unilateral pulmonary infection, one infected area, lower left lung."
PLACELESS = ["Pulmonary infection.", "Pulmonary infection, two infected areas.", "Abnormality."]


@pytest.fixture(scope="module")
def towers():
    return create_towers("tiny")


def make_net(towers, **kw):
    torch.manual_seed(0)
    net = create_tgc_net("tiny", 1, 2, towers=towers, verbose=False, **{**STAGES, **kw})  # the route: the default
    # the zero-initialised gates and logit offset would make the text route's VLCM invisible at the start
    with torch.no_grad():
        net.similarity_to_logits.seg_layers.weight.fill_(1.0)
        net.decoder.text_gates.fill_(1.0)
    return net.eval()


def test_the_image_route_reads_the_place_vector_of_a_report_that_places_nothing():
    """The route builds that vector itself (every cell possible, "places nothing"): the reader's own vector."""
    vector = place_vector(read_places("Pulmonary infection.", KnowledgeBase.load().for_domain("chest")))
    assert vector == [1.0] * PLACE_VECTOR_SIZE


def test_reports_that_place_nothing_give_the_same_segmentation(towers):
    net = make_net(towers)
    image = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        outs = [net(image, encode_reports(net.towers, [t]))[0] for t in PLACELESS]
        placed = net(image, encode_reports(net.towers, [LEFT]))[0]
    for out in outs[1:]:
        assert torch.equal(out, outs[0])  # the words of a placeless report never reach the pixels
    assert not torch.allclose(placed, outs[0])  # a placed report takes the text route


def test_a_mixed_batch_is_routed_per_sample(towers):
    net = make_net(towers)
    reports = [PLACELESS[0], LEFT, PLACELESS[1], LEFT.replace("left", "right")]
    images = torch.randn(len(reports), 1, 64, 64)
    read_by_date = []  # DATE runs in the text route only: the samples it reads are the ones that take it
    hook = net.date.register_forward_hook(lambda module, args, out: read_by_date.append(args[0].batch_size))
    with torch.no_grad():
        mixed = net(images, encode_reports(net.towers, reports))
        hook.remove()
        alone = [net(images[i:i + 1], encode_reports(net.towers, [t])) for i, t in enumerate(reports)]
    assert read_by_date[0] == 2  # the two placed reports, not the whole batch
    for i in range(len(reports)):
        for scale, single in zip(mixed, alone[i]):  # every deep-supervision scale, in the batch's order
            torch.testing.assert_close(scale[i:i + 1], single, rtol=1e-4, atol=1e-5)


def test_training_returns_the_image_route_for_every_sample(towers):
    net = make_net(towers).train()
    images = torch.randn(2, 1, 64, 64)
    out = net(TGCInput(images, encode_reports(net.towers, [LEFT, PLACELESS[1]]), return_similarity=True))
    assert isinstance(out, SegmentationAndMaps) and out.image_only is not None
    assert len(out.image_only) == len(out.segmentation)  # every deep-supervision scale
    for seg, image_only in zip(out.segmentation, out.image_only):
        assert torch.equal(seg[1], image_only[1])  # the placeless sample: its segmentation is the image route's
        assert not torch.allclose(seg[0], image_only[0])  # the placed one: the text route's


def test_a_step_with_only_placeless_reports_still_reaches_every_parameter(towers):
    """DistributedDataParallel needs every trainable parameter in every step's graph, also when no sample of a
    rank's batch takes the text route."""
    net = make_net(towers).train()
    out = net(TGCInput(torch.randn(2, 1, 64, 64), encode_reports(net.towers, PLACELESS[:2]), return_similarity=True))
    loss = sum(o.float().mean() for o in out.segmentation) + sum(o.float().mean() for o in out.image_only) \
        + sum(m.float().mean() for m in out.similarity_maps)
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing


def test_the_loss_adds_the_image_route_segmentation_loss():
    def segmentation_loss(output, target):
        return sum(o.sum() for o in output)

    seg, image_only = [torch.full((1, 2, 4, 4), 1.0)], [torch.full((1, 2, 4, 4), 3.0)]
    target = [torch.zeros(1, 1, 4, 4)]
    loss = WithAuxiliaryLosses(segmentation_loss, None, alignment_weight=0.0)
    assert float(loss(SegmentationAndMaps(seg, [], image_only), target)) == 32 + 96
    assert float(loss(SegmentationAndMaps(seg, []), target)) == 32


def test_the_image_route_needs_the_place_map(towers):
    with pytest.raises(ValueError, match="image route needs the place map"):
        create_tgc_net("tiny", 1, 2, towers=towers, verbose=False, use_place_map=False, **STAGES)


def test_a_case_without_a_report_takes_the_image_route(towers):
    """The "no report" input places nothing: the image route segments it, so a model with the route needs no
    report dropout for cases without a report (the predictor's ``supports_no_report``)."""
    net = make_net(towers)
    assert not net.date.supports_no_report
    image = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        none = net(image, encode_reports(net.towers, [""]))[0]
        placeless = net(image, encode_reports(net.towers, [PLACELESS[0]]))[0]
    assert torch.equal(none, placeless)
    without_route = create_tgc_net("tiny", 1, 2, towers=towers, verbose=False, image_route=False, **STAGES).eval()
    with pytest.raises(ValueError, match="without report dropout"):
        without_route(image, encode_reports(net.towers, [""]))


def test_a_report_that_rules_a_side_out_keeps_the_text_route(towers):
    """"No right-sided opacity." places nothing but says where lesions are not: the text route reads that (its
    place map leaves the right side out); only a report that says nothing of places takes the image route."""
    net = make_net(towers)
    image = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        ruled_out = net(image, encode_reports(net.towers, ["No right-sided opacity."]))[0]
        placeless = net(image, encode_reports(net.towers, [PLACELESS[0]]))[0]
    assert not torch.allclose(ruled_out, placeless)  # the placeless report's is the image route's (above)


def test_own_stages_give_the_image_route_layers_the_text_route_never_uses(towers):
    """With ``image_route_stages`` the image route decodes its finest stages and every head with layers of its own:
    the text route's output does not depend on them, the image route's does, and a training step that runs both
    routes reaches every parameter (DistributedDataParallel)."""
    net = make_net(towers, image_route_stages=2).train()
    own = net.decoder.image_route
    assert len(own.stages) == 2 and len(own.seg_layers) == len(net.decoder.seg_layers)
    images = torch.randn(2, 1, 64, 64)
    out = net(TGCInput(images, encode_reports(net.towers, [LEFT, PLACELESS[1]]), return_similarity=True))
    text_loss = out.segmentation[0][0].float().sum()  # sample 0 places its lesion: the text route's output
    text_loss.backward(retain_graph=True)
    # torch.where passes the unrouted sample's image-route logits a zero gradient, not none
    assert all(p.grad is None or not p.grad.any() for p in own.parameters())
    assert net.decoder.seg_layers[-1].weight.grad.any()
    net.zero_grad(set_to_none=True)
    out.image_only[0].float().sum().backward(retain_graph=True)
    assert all(p.grad is not None and p.grad.any() for p in own.stages.parameters())
    assert net.decoder.seg_layers[-1].weight.grad is None  # the image route has its own heads
    assert net.decoder.stages[0].convs[0].conv.weight.grad.any()  # the coarse stages stay shared
    net.zero_grad(set_to_none=True)
    loss = sum(o.float().mean() for o in out.segmentation) + sum(o.float().mean() for o in out.image_only) \
        + sum(m.float().mean() for m in out.similarity_maps)
    loss.backward()
    assert not [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]


def test_own_stages_are_class_specific_layers_for_pretrained_weights(towers):
    """nnU-Net's -pretrained_weights skips every key containing '.seg_layers.': the image route's heads are named so,
    its stages are not (they transfer like the shared ones)."""
    keys = make_net(towers, image_route_stages=1).state_dict().keys()
    heads = [k for k in keys if k.startswith("decoder.image_route.seg_layers.")]
    assert heads and all(".seg_layers." in k for k in heads)
    assert any(k.startswith("decoder.image_route.stages.") for k in keys)


@pytest.mark.parametrize("kw, match", [(dict(image_route=False, image_route_stages=1), "needs the image route"),
                                       (dict(image_route_stages=4), "image_route_stages must be 0 to 3")])
def test_own_stages_refuse_what_they_cannot_build(towers, kw, match):
    with pytest.raises(ValueError, match=match):
        create_tgc_net("tiny", 1, 2, towers=towers, verbose=False, **{**STAGES, **kw})


def test_route_mix_blends_the_text_route_with_the_image_route_and_the_places(towers):
    """``route_mix`` w: a placed report's logits are (1 - w) x the text route's + w x the image route's with the
    report's place evidence; the routes are the network's own, so w = 0 and the mixed network share every
    weight, and a report that places nothing still gets the image route alone."""
    mixed = make_net(towers, route_mix=0.25)
    text_only = make_net(towers)
    assert mixed.state_dict().keys() == text_only.state_dict().keys()
    text_only.load_state_dict(mixed.state_dict())
    image = torch.randn(1, 1, 64, 64)
    coordinates = image_grid(1, 64, 64)
    with torch.no_grad():
        placed = encode_reports(mixed.towers, [LEFT])
        text_route = text_only(image, placed)[0]
        taps, _ = mixed.towers.encode_image(mixed._to_rgb(image))
        image_route = mixed._segment_image(image, taps, coordinates)[0]
        place_at = mixed._place_reader(placed.places, coordinates)
        evidence = mixed._evidence_reader(place_at, image, coordinates)(image.shape[2:])
        expected = 0.75 * text_route + 0.25 * mixed.place_evidence(image_route, evidence)
        torch.testing.assert_close(mixed(image, placed)[0], expected, rtol=1e-4, atol=1e-5)
        placeless = encode_reports(mixed.towers, [PLACELESS[0]])
        assert torch.equal(mixed(image, placeless)[0], text_only(image, placeless)[0])


def test_route_mix_keeps_the_places_out_of_the_words_reach(towers):
    """Two wordings the reader reads alike differ only through the text route's share: with the mix, their
    logits differ by (1 - w) x what they differ without it (same weights)."""
    mixed = make_net(towers, route_mix=0.5)
    text_only = make_net(towers)
    text_only.load_state_dict(mixed.state_dict())
    image = torch.randn(1, 1, 64, 64)
    wordings = encode_reports(mixed.towers, [LEFT, "Opacity in the left lower zone."])
    assert torch.equal(wordings.places[0], wordings.places[1])
    with torch.no_grad():
        gap_mixed = mixed(image.repeat(2, 1, 1, 1), wordings)[0]
        gap_text = text_only(image.repeat(2, 1, 1, 1), wordings)[0]
    assert (gap_text[0] - gap_text[1]).abs().max() > 1e-3  # the words move the text route
    torch.testing.assert_close(gap_mixed[0] - gap_mixed[1], 0.5 * (gap_text[0] - gap_text[1]),
                               rtol=1e-3, atol=1e-4)


def test_route_mix_in_training_mixes_the_routed_output_only(towers):
    net = make_net(towers, route_mix=0.5).train()
    images = torch.randn(2, 1, 64, 64)
    out = net(TGCInput(images, encode_reports(net.towers, [LEFT, PLACELESS[1]]), return_similarity=True))
    for seg, image_only in zip(out.segmentation, out.image_only):
        assert torch.equal(seg[1], image_only[1])  # placeless: the image route alone
        assert not torch.allclose(seg[0], image_only[0])
    loss = sum(o.float().mean() for o in out.segmentation) + sum(o.float().mean() for o in out.image_only) \
        + sum(m.float().mean() for m in out.similarity_maps)
    loss.backward()
    assert not [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]


@pytest.mark.parametrize("kw", [dict(route_mix=1.0), dict(route_mix=-0.5), dict(route_mix=0.5, image_route=False),
                                dict(route_mix=0.5, place_evidence=False)])
def test_route_mix_refuses_what_it_cannot_build(towers, kw):
    with pytest.raises(ValueError, match="route_mix"):
        create_tgc_net("tiny", 1, 2, towers=towers, verbose=False, **{**STAGES, **kw})
