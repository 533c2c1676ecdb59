"""The report's places as evidence on the logits (``model/place_map.py`` ``PlaceEvidence``, ``tgc_place_evidence``):
the text route's logits get the place map's log-odds over those of a report that places nothing, weighted per
class."""
import pytest
import torch

from nnunet_tgc.model import create_tgc_net, create_towers
from nnunet_tgc.model.place_map import PLACE_VECTOR_SIZE, PlaceEvidence, image_grid
from nnunet_tgc.nnunet.trainer import nnUNetTrainerTGC, nnUNetTrainerTGC_noPlaceEvidence

from _text import encode_reports

STAGES = dict(features_per_stage=[16, 32, 64, 64], strides=[[1, 1]] + [[2, 2]] * 3, kernel_sizes=[[3, 3]] * 4,
              n_conv_per_stage=[1] * 4, n_conv_per_stage_decoder=[1] * 3)
LEFT = "Unilateral pulmonary infection, one infected area, lower left lung."


@pytest.fixture(scope="module")
def towers():
    return create_towers("tiny")


def pair(towers, num_classes=2, **kw):
    """The same weights with and without the evidence."""
    torch.manual_seed(0)
    with_evidence = create_tgc_net("tiny", 1, num_classes, towers=towers, verbose=False, **{**STAGES, **kw}).eval()
    without = create_tgc_net("tiny", 1, num_classes, towers=towers, verbose=False, place_evidence=False,
                             **{**STAGES, **kw}).eval()
    missing, unexpected = without.load_state_dict(with_evidence.state_dict(), strict=False)
    assert not missing and set(unexpected) == {"place_evidence.seg_layers.weight", "place_evidence.seg_layers.bias"}
    return with_evidence, without


def test_the_evidence_is_the_place_maps_log_odds_over_a_report_that_places_nothing(towers):
    """At the start (Bayes' rule: weight 1) the foreground logits move by exactly that difference at every pixel of
    every deep-supervision output; the background's do not move."""
    net, without = pair(towers)
    text = encode_reports(net.towers, [LEFT])
    image = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        moved, base = net(image, text), without(image, text)
        for m, b in zip(moved, base):
            grid = image_grid(1, *m.shape[2:])
            nothing = torch.ones(1, PLACE_VECTOR_SIZE)
            evidence = net.place_map(text.places, grid) - net.place_map(nothing, grid)
            assert torch.allclose(m[:, 1:] - b[:, 1:], evidence, atol=1e-5)
            assert torch.allclose(m[:, :1], b[:, :1], atol=1e-6)
        assert evidence.abs().max() > 0.1  # the test compares something


def test_a_report_that_places_nothing_gets_no_evidence(towers):
    """Without the image route a place-free report takes the text route: its evidence is zero, so the logits are
    those of the network without it."""
    net, without = pair(towers, image_route=False)
    text = encode_reports(net.towers, ["Pulmonary infection."])
    image = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(net(image, text)[0], without(image, text)[0], atol=1e-6)


def test_what_the_places_rule_out_is_lowered_whatever_the_words(towers):
    """Two wordings of the same places get the same evidence; a report of the other side gets other evidence."""
    net, without = pair(towers)
    image = torch.randn(1, 1, 64, 64)
    texts = [LEFT, "Opacity in the left lower zone.",
             "Unilateral pulmonary infection, one infected area, lower right lung."]
    with torch.no_grad():
        shift = [net(image, encode_reports(net.towers, [t]))[0] - without(image, encode_reports(net.towers, [t]))[0]
                 for t in texts]
    assert torch.allclose(shift[0], shift[1], atol=1e-5)
    assert not torch.allclose(shift[0], shift[2], atol=1e-2)


def test_the_weights_start_as_bayes_rule_and_train(towers):
    """1 on every channel but nnU-Net's background (channel 0 of class labels); a single channel (one region) is
    foreground. A 1x1 convolution named ``seg_layers``: ``-pretrained_weights`` leaves it to the new run."""
    three = PlaceEvidence(3)
    assert three.seg_layers.weight.flatten().tolist() == [0.0, 1.0, 1.0] and not three.seg_layers.bias.any()
    assert PlaceEvidence(1).seg_layers.weight.flatten().tolist() == [1.0]
    logits, evidence = torch.zeros(2, 3, 4, 4), torch.randn(2, 1, 4, 4)
    three(logits, evidence).sum().backward()
    assert three.seg_layers.weight.grad.abs().sum() > 0
    net, _ = pair(towers, num_classes=3)
    class_specific = {k for k in net.state_dict() if ".seg_layers." in k}  # what -pretrained_weights skips
    assert {"place_evidence.seg_layers.weight", "place_evidence.seg_layers.bias"} <= class_specific


def test_the_evidence_needs_the_place_map(towers):
    with pytest.raises(ValueError, match="place_evidence adds the report's place map"):
        create_tgc_net("tiny", 1, 2, towers=towers, verbose=False, use_place_map=False, image_route=False,
                       place_evidence=True, **STAGES)


def test_the_default_trainer_builds_it_and_the_ablation_does_not():
    assert nnUNetTrainerTGC.tgc_place_evidence and not nnUNetTrainerTGC_noPlaceEvidence.tgc_place_evidence


def test_a_checkpoint_from_before_the_evidence_predicts_as_it_was_trained(towers):
    """A state dict without the evidence's weights loads into the network with them, as weights 0: the logits
    are those of the network it was trained as."""
    net, without = pair(towers)
    text, image = encode_reports(net.towers, [LEFT]), torch.randn(1, 1, 64, 64)
    net.load_state_dict(without.state_dict())
    assert not net.place_evidence.seg_layers.weight.any() and not net.place_evidence.seg_layers.bias.any()
    with torch.no_grad():
        assert torch.allclose(net(image, text)[0], without(image, text)[0], atol=1e-6)
    with pytest.raises(RuntimeError, match="place_evidence.seg_layers.bias"):  # half of it is no earlier checkpoint
        net.load_state_dict({k: v for k, v in pair(towers)[0].state_dict().items()
                             if k != "place_evidence.seg_layers.bias"})
