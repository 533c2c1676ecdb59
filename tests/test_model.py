"""TGC-Net on tensors alone (no nnU-Net): shapes, gradients, text sensitivity, checkpoints, ablations."""
import copy

import pytest
import torch

from nnunet_tgc.model import (TOWER_RECORD_KEY, BackboneMismatchError, CLIPWeightsError, EncodedText, WEIGHTS_ENV,
                              create_tgc_net, create_towers, split_into_chunks)
from nnunet_tgc.model.clip_towers import weights_fingerprint
from nnunet_tgc.nnunet.env import model_settings

from _text import encode_reports

PLANS = dict(features_per_stage=[32, 64, 128, 256, 512, 512], strides=[[1, 1]] + [[2, 2]] * 5,
             kernel_sizes=[[3, 3]] * 6, n_conv_per_stage=[2] * 6, n_conv_per_stage_decoder=[2] * 5)
LEFT = "Unilateral pulmonary infection, one infected area, lower left lung."
RIGHT = "Unilateral pulmonary infection, one infected area, upper right lung."


@pytest.fixture(scope="module")
def towers():
    return create_towers("tiny")


def make_net(towers, in_channels=1, num_classes=2, deep_supervision=True, **kw):
    torch.manual_seed(0)
    return create_tgc_net("tiny", in_channels, num_classes, deep_supervision=deep_supervision, towers=towers,
                          verbose=False, **{**PLANS, **kw})


def encode(net, texts):
    return encode_reports(net.towers, texts)


@pytest.mark.parametrize("size", [(224, 224), (256, 256), (192, 160)])
@pytest.mark.parametrize("batch", [1, 3])
def test_output_shapes_follow_patch_size_and_batch(towers, size, batch):
    net = make_net(towers)
    text = encode(net, [LEFT] * batch)
    out = net(torch.randn(batch, 1, *size), text)
    assert isinstance(out, list) and len(out) == 5  # n_stages - 1 deep supervision outputs
    for i, o in enumerate(out):  # highest resolution first, halving per stage
        assert o.shape == (batch, 2, size[0] // 2 ** i, size[1] // 2 ** i)
    net.decoder.deep_supervision = False
    out = net(torch.randn(batch, 1, *size), text)
    assert isinstance(out, torch.Tensor) and out.shape == (batch, 2, *size)


def test_rgb_and_multichannel_input(towers):
    for c in (3, 2):
        net = make_net(towers, in_channels=c, deep_supervision=False)
        assert not list(net.tower_input.parameters())  # a fixed mapping (tests/test_tower_input.py)
        assert net(torch.randn(2, c, 64, 96), encode(net, [LEFT, RIGHT])).shape == (2, 2, 64, 96)


def test_one_report_broadcasts_over_tiles_but_wrong_count_fails(towers):
    net = make_net(towers, deep_supervision=False)
    assert net(torch.randn(4, 1, 64, 64), encode(net, [LEFT])).shape[0] == 4
    with pytest.raises(ValueError, match="2 reports for 3 images"):
        net(torch.randn(3, 1, 64, 64), encode(net, [LEFT, RIGHT]))


def test_gradients_reach_only_trainable_parameters_and_towers_stay_frozen(towers):
    net = make_net(towers)
    frozen_before = copy.deepcopy(net.towers.clip.state_dict())
    assert not any(p.requires_grad for p in net.towers.clip.parameters())
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    out = net(torch.randn(2, 1, 64, 64), encode(net, [LEFT, RIGHT]))
    sum(o.square().mean() for o in out).backward()
    assert all(p.grad is None for p in net.towers.clip.parameters())
    # the ViT taps enter through zero gates, so the gates (not yet the projections) get gradients
    assert all(f.gate.grad is not None and f.gate.grad.abs().sum() > 0 for f in net.sse.fusions)
    assert net.vlcm.log_scale.grad is not None
    opt.step()
    for k, v in net.towers.clip.state_dict().items():
        assert torch.equal(v, frozen_before[k]), k


def test_different_reports_give_different_outputs(towers):
    net = make_net(towers, deep_supervision=False).eval()
    x = torch.randn(1, 1, 64, 64).expand(2, -1, -1, -1)
    out = net(x, encode(net, [LEFT, RIGHT]))
    assert not torch.allclose(out[0], out[1], atol=1e-3)
    same = net(x, encode(net, [LEFT, LEFT]))
    # the two samples of a batch take slightly different float paths (about 1e-5 here)
    assert torch.allclose(same[0], same[1], atol=1e-4)


def test_state_dict_has_no_frozen_weights_but_a_fingerprint(towers):
    net = make_net(towers)
    sd = net.state_dict()
    # nnU-Net's conv blocks register each layer twice (conv and all_modules): count tensors once
    unique = {v.data_ptr(): v.numel() for v in sd.values() if isinstance(v, torch.Tensor)}
    n_saved = sum(unique.values())
    # persistent buffers only (the input mapping's are not: tests/test_tower_input.py)
    assert n_saved == net.parameter_counts()["trainable"] + sum(b.numel() for k, b in net.named_buffers() if k in sd)
    assert not any(k.startswith("towers.clip") for k in sd)
    assert sd[TOWER_RECORD_KEY]["fingerprint"] == weights_fingerprint(net.towers.clip)
    fresh = make_net(towers)
    fresh.load_state_dict(sd, strict=True)  # strict load works without the frozen weights
    for k, v in fresh.state_dict().items():
        if isinstance(v, torch.Tensor):
            assert torch.equal(v, sd[k])


def test_loading_with_other_frozen_weights_fails_clearly(towers):
    sd = make_net(towers).state_dict()
    other = create_towers("tiny")
    with torch.no_grad():
        other.clip.visual.conv1.weight.add_(1e-3)
    other.fingerprint = weights_fingerprint(other.clip)
    with pytest.raises(BackboneMismatchError, match="nnUNet_TGC_clip_weights"):
        make_net(other).load_state_dict(sd)


def test_local_checkpoint_file_for_the_towers(tmp_path, monkeypatch, towers):
    """The user's route: nnUNet_TGC_clip_weights, read by the glue (model_settings) and passed to the factory."""
    ckpt = tmp_path / "tiny_clip.pt"
    state = {k: v + 0.01 if v.is_floating_point() else v for k, v in towers.clip.state_dict().items()}
    torch.save(state, ckpt)
    monkeypatch.setenv(WEIGHTS_ENV, str(ckpt))
    loaded = create_towers("tiny", **model_settings())
    assert loaded.weights_source == f"file:{ckpt.resolve()}"
    assert torch.allclose(loaded.clip.visual.conv1.weight, towers.clip.visual.conv1.weight + 0.01)
    assert loaded.fingerprint != towers.fingerprint
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "missing.pt"))
    with pytest.raises(CLIPWeightsError, match="does not exist"):
        create_towers("tiny", **model_settings())
    bad = tmp_path / "bad.pt"
    torch.save({"something": torch.zeros(1)}, bad)
    monkeypatch.setenv(WEIGHTS_ENV, str(bad))
    with pytest.raises(CLIPWeightsError, match="bad.pt"):
        create_towers("tiny", **model_settings())


def test_the_weights_argument_takes_a_file_and_ignores_the_environment(tmp_path, monkeypatch, towers):
    """The model package takes the weights as an argument (open_clip's pretrained= style), never from the
    environment: a variable pointing elsewhere changes nothing."""
    ckpt = tmp_path / "tiny_clip.pt"
    state = {k: v - 0.02 if v.is_floating_point() else v for k, v in towers.clip.state_dict().items()}
    torch.save(state, ckpt)
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "not-read.pt"))
    for weights in (ckpt, str(ckpt), f" {ckpt} "):
        loaded = create_towers("tiny", weights=weights)
        assert loaded.weights_source == f"file:{ckpt.resolve()}"
        assert torch.allclose(loaded.clip.visual.conv1.weight, towers.clip.visual.conv1.weight - 0.02)
    assert create_towers("tiny").fingerprint == towers.fingerprint  # default: the seed, whatever the variable
    torch.manual_seed(0)
    net = create_tgc_net("tiny", 1, 2, verbose=False, weights=ckpt, **PLANS)  # the factory builds the towers
    assert net.towers.weights_source == f"file:{ckpt.resolve()}" and net.towers.fingerprint == loaded.fingerprint
    with pytest.raises(CLIPWeightsError, match="does not exist"):
        create_towers("tiny", weights=tmp_path / "missing.pt")


def test_random_weights_warn(monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, "random")
    with pytest.warns(UserWarning, match="RANDOM weights"):
        t = create_towers("tiny", **model_settings())
    assert t.weights_source == "random"
    monkeypatch.delenv(WEIGHTS_ENV)
    with pytest.warns(UserWarning, match="RANDOM weights"):
        assert create_towers("tiny", weights="random").weights_source == "random"


def test_failed_download_says_how_to_supply_a_file(monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CLIPWeightsError, match=WEIGHTS_ENV):
        create_towers("ViT-B-16", **model_settings())


def test_towers_follow_device_moves_and_stay_in_eval(towers):
    net = make_net(towers)
    net.train()
    assert not net.towers.clip.training and net.sse.training
    net.to(torch.float64)
    assert net.towers.clip.visual.conv1.weight.dtype == torch.float64
    net.to(torch.float32)


@pytest.mark.parametrize("switch, present, absent", [
    ({"use_cnn_branch": False}, [], []),
    ({"use_vit_taps": False}, [], ["sse.fusions"]),
    ({"use_knowledge": False}, [], ["date.read_knowledge", "date.null_entry"]),
    ({"use_vlcm": False}, ["text_film"], ["vlcm", "decoder.text_gates"]),
])
def test_ablation_switches_change_the_module_set(towers, switch, present, absent):
    full = make_net(towers)
    ablated = make_net(towers, **switch)
    names = {n for n, _ in ablated.named_parameters()}
    full_names = {n for n, _ in full.named_parameters()}
    assert names != full_names
    for p in present:
        assert any(n.startswith(p) for n in names) and not any(n.startswith(p) for n in full_names)
    for a in absent:
        assert not any(n.startswith(a) for n in names) and any(n.startswith(a) for n in full_names)
    if "use_cnn_branch" in switch:  # ViT-only encoder: no strided CNN stages, no zero gates
        assert all(f.gate is None for f in ablated.sse.fusions)
        assert len(ablated.sse.fusions) == len(PLANS["features_per_stage"])
    out = ablated(torch.randn(2, 1, 64, 64), encode(ablated, [LEFT, RIGHT]))
    assert out[0].shape == (2, 2, 64, 64)


def test_sse_without_vit_taps_is_its_cnn_branch_alone():
    """Without taps the skips do not depend on the ViT's features; SSE refuses to have no encoder at all."""
    from nnunet_tgc.model.sse import SSE
    args = ([16, 32, 64], [(1, 1), (2, 2), (2, 2)], [(3, 3)] * 3, [1, 1, 1], 24, 2)
    torch.manual_seed(0)
    with_taps, without = SSE(1, *args), SSE(1, *args, use_vit_taps=False)
    without.encoder.load_state_dict(with_taps.encoder.state_dict())
    for fusion in with_taps.fusions:  # open the gates: the taps now change the skips
        torch.nn.init.ones_(fusion.gate)
    image = torch.randn(2, 1, 32, 32)
    taps = [torch.randn(2, 24, 4, 4) for _ in range(2)]
    other_taps = [t + 1 for t in taps]
    assert not torch.allclose(with_taps(image, taps)[-1], with_taps(image, other_taps)[-1])
    for a, b in zip(without(image, taps), without(image, other_taps)):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="CNN branch or the ViT taps"):
        SSE(1, *args, use_cnn_branch=False, use_vit_taps=False)


def test_long_reports_are_chunked_not_truncated(towers):
    net = make_net(towers)
    sentence = "Patchy ground-glass opacity in the lower left lung with interlobular septal thickening. "
    long_report = sentence * 12
    tok = net.towers.text
    assert tok.count_tokens(long_report) > 75
    chunks = split_into_chunks(long_report, tok.count_tokens, 75)
    assert len(chunks) > 1 and all(tok.count_tokens(c) <= 75 for c in chunks)
    assert " ".join(chunks).split() == long_report.split()  # nothing dropped
    enc = net.towers.encode_texts([long_report])[0]
    assert enc.tokens.shape[1] == tok.count_tokens(long_report) + 2 * len(chunks)  # SOT/EOT per chunk
    # a different last sentence changes the encoding: the tail is not cut away
    other = net.towers.encode_texts([long_report + "Small right effusion."])[0]
    assert not torch.allclose(enc.pooled, other.pooled)


def test_three_d_plans_are_refused(towers):
    with pytest.raises(ValueError, match="2d"):
        create_tgc_net("tiny", 1, 2, [32, 64], [[1, 1, 1], [2, 2, 2]], [[3, 3, 3]] * 2, [2, 2], [2],
                       towers=towers, verbose=False)


def test_the_network_says_how_its_text_cache_reads_reports():
    """``places_only_in_map`` is a property of the network, so training and every prediction route
    (make_text_cache) encode reports alike; without a place map there is nothing else to read places."""
    from nnunet_tgc.nnunet.predictor import make_text_cache
    dataset_json = {"tgc_knowledge_domain": "chest"}
    for only_map, place_map, expected in ((True, True, True), (False, True, False), (True, False, False)):
        net = create_tgc_net("tiny", 1, 2, [8, 16, 32, 64, 64], [1, 2, 2, 2, 2], [3] * 5, [1] * 5, [1] * 4,
                             verbose=False, places_only_in_map=only_map, use_place_map=place_map,
                             image_route=place_map, place_evidence=place_map)
        assert net.places_only_in_map is expected
        assert make_text_cache(net, dataset_json).features_without_places is expected
