"""What a checkpoint records about its frozen parts, and the refusals that follow from it.

The towers' record (the state dict's one extra-state entry, ``TOWER_RECORD_KEY``) carries the weights' fingerprint, the build configuration (an
activation is invisible to a fingerprint over tensors) and the knowledge base's fingerprint (DATE
embeds its descriptions). On CUDA the towers are kept in float16; that logic is checked here with an
explicit device (no GPU was available to run it on CUDA).
"""
import json
import logging
import shutil

import pytest
import torch

from nnunet_tgc.model import (TOWER_RECORD_KEY, BackboneMismatchError, KnowledgeMismatchError, create_tgc_net,
                              create_towers)
from nnunet_tgc.model.backbones import TINY_CONFIG, TINY_SEED, _record_build, get_backbone_spec
from nnunet_tgc.model.clip_towers import (KNOWLEDGE_OVERRIDE_ENV, TOWER_DTYPE_ENV, FrozenCLIP, frozen_tower_dtype)
from nnunet_tgc.nnunet.env import model_settings
from nnunet_tgc.text.cache import TextFeatureCache
from nnunet_tgc.text.knowledge import KnowledgeBase

PLANS = dict(features_per_stage=[32, 64, 128, 256], strides=[[1, 1]] + [[2, 2]] * 3,
             kernel_sizes=[[3, 3]] * 4, n_conv_per_stage=[2] * 4, n_conv_per_stage_decoder=[2] * 3)
REPORT = "Unilateral pulmonary infection, one infected area, lower left lung."


def make_net(towers):
    torch.manual_seed(0)
    return create_tgc_net("tiny", 1, 2, towers=towers, verbose=False, **PLANS)


def tiny_towers(**clip_kwargs) -> FrozenCLIP:
    """The tiny backbone's seeded weights, optionally built with other (parameter-free) options."""
    from open_clip.model import CLIP
    if not clip_kwargs:
        return create_towers("tiny")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        cfg = {**TINY_CONFIG, **clip_kwargs}
        model = _record_build(CLIP(**cfg), cfg)
    spec = get_backbone_spec("tiny")
    return FrozenCLIP(model, spec.tokenizer("default"), "tiny", f"seed:{TINY_SEED}", spec.taps)


def test_towers_built_differently_are_refused_although_the_weights_match():
    trained = make_net(tiny_towers()).state_dict()
    assert trained[TOWER_RECORD_KEY]["build"]["activations"] == ["GELU"]
    quick = tiny_towers(quick_gelu=True)
    assert quick.fingerprint == trained[TOWER_RECORD_KEY]["fingerprint"]  # QuickGELU has no tensors
    with pytest.raises(BackboneMismatchError, match=r"(?s)built differently.*activations: \['GELU'\] in the "
                                                    r"checkpoint, \['QuickGELU'\] here; model_cfg.quick_gelu: None"):
        make_net(quick).load_state_dict(trained)
    make_net(tiny_towers()).load_state_dict(trained)  # built the same way: loads


def test_a_checkpoint_without_a_build_record_loads_with_a_warning(caplog):
    state = make_net(tiny_towers()).state_dict()
    state[TOWER_RECORD_KEY] = {k: v for k, v in state[TOWER_RECORD_KEY].items() if k != "build"}
    with caplog.at_level(logging.WARNING, logger="nnunet_tgc.model.clip_towers"):
        make_net(tiny_towers()).load_state_dict(state)
    assert "does not record how its CLIP towers were built" in caplog.text


@pytest.fixture
def other_knowledge(tmp_path):
    """The shipped knowledge base with one description changed."""
    from text_reports import KNOWLEDGE_DIR
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, folder)
    first = sorted(folder.glob("*.json"))[0]
    entries = json.loads(first.read_text())
    entries[0]["description"] += " (edited)"
    first.write_text(json.dumps(entries))
    return KnowledgeBase.load(folder)


def test_the_knowledge_base_is_recorded_and_another_one_refused(other_knowledge, monkeypatch):
    shipped = KnowledgeBase.load()
    trained_towers = tiny_towers()
    net = make_net(trained_towers)
    TextFeatureCache(trained_towers, shipped)  # as the trainer does before any checkpoint is written
    state = net.state_dict()
    assert state[TOWER_RECORD_KEY]["knowledge_fingerprint"] == shipped.fingerprint()
    assert sum(not isinstance(v, torch.Tensor) for v in state.values()) == 1  # still one non-tensor entry

    # prediction order: the checkpoint is loaded first, the text cache (with its knowledge base) comes later
    towers = tiny_towers()
    make_net(towers).load_state_dict(state)
    with pytest.raises(KnowledgeMismatchError, match=rf"(?s){other_knowledge.fingerprint()}.*{KNOWLEDGE_OVERRIDE_ENV}=1"):
        TextFeatureCache(towers, other_knowledge)
    TextFeatureCache(towers, shipped)  # the same knowledge base: fine

    # a later fold's checkpoint loaded while another knowledge base is in use is refused as well
    towers = tiny_towers()
    other_net = make_net(towers)
    TextFeatureCache(towers, other_knowledge)
    with pytest.raises(KnowledgeMismatchError):
        other_net.load_state_dict(state)

    # the override: the variable, read by the nnU-Net glue when it builds the network, or the argument
    monkeypatch.setenv(KNOWLEDGE_OVERRIDE_ENV, "1")
    allowed = [create_towers("tiny", **model_settings())]
    monkeypatch.delenv(KNOWLEDGE_OVERRIDE_ENV)
    allowed.append(create_towers("tiny", allow_knowledge_mismatch=True))
    for towers in allowed:
        allowed_net = make_net(towers)
        TextFeatureCache(towers, other_knowledge)
        with pytest.warns(UserWarning, match=f"allow_knowledge_mismatch is set \\({KNOWLEDGE_OVERRIDE_ENV}"):
            allowed_net.load_state_dict(state)
    # a network without knowledge (noKnowledge ablation) binds none and is never refused
    towers = tiny_towers()
    make_net(towers).load_state_dict(state)
    TextFeatureCache(towers, None)


def test_frozen_towers_are_half_precision_on_cuda_only(monkeypatch):
    monkeypatch.delenv(TOWER_DTYPE_ENV, raising=False)
    assert frozen_tower_dtype(torch.device("cuda")) == torch.float16
    assert frozen_tower_dtype(torch.device("cuda", 1)) == torch.float16
    assert frozen_tower_dtype(torch.device("cpu")) == torch.float32
    assert frozen_tower_dtype("cuda", "bfloat16") == torch.bfloat16 and frozen_tower_dtype("cpu", "bfloat16") == \
        torch.float32
    with pytest.raises(ValueError, match="tower_dtype='half'"):
        frozen_tower_dtype("cuda", "half")
    # the variable, as the nnU-Net glue reads it
    monkeypatch.setenv(TOWER_DTYPE_ENV, "bfloat16")
    assert frozen_tower_dtype("cuda", model_settings()["tower_dtype"]) == torch.bfloat16
    monkeypatch.setenv(TOWER_DTYPE_ENV, "half")
    with pytest.raises(ValueError, match=TOWER_DTYPE_ENV):
        model_settings()
    monkeypatch.delenv(TOWER_DTYPE_ENV)

    towers = tiny_towers()
    fingerprint = towers.fingerprint
    image = torch.randn(1, 3, 64, 64)
    reference_maps, reference_dense = towers.encode_image(image)
    net = make_net(towers)
    net.to("cpu")  # a move on the CPU keeps float32
    assert towers.dtype == torch.float32
    # what a move to CUDA does, with the device given explicitly: one cast of the frozen weights ...
    assert towers.settle_dtype(torch.device("cuda")) == torch.float16
    assert all(p.dtype == torch.float16 for p in towers.clip.parameters())
    assert towers.fingerprint == fingerprint  # ... which the checkpoint fingerprint does not see
    # ... while callers outside autocast still get their own dtype back
    maps, dense = towers.encode_image(image)
    assert dense.dtype == torch.float32 and all(m.dtype == torch.float32 for m in maps)
    assert torch.allclose(dense, reference_dense, atol=5e-2, rtol=5e-2)
    assert torch.allclose(maps[-1], reference_maps[-1], atol=5e-2, rtol=5e-2)
    text = towers.encode_texts([REPORT])[0]
    assert text.pooled.dtype == torch.float16 and torch.isfinite(text.pooled).all()
    assert net(torch.randn(1, 1, 64, 64), TextFeatureCache(towers).batch([REPORT]))[0].dtype == torch.float32
    # a dtype asked for explicitly is kept
    towers.clip.double()
    assert towers.settle_dtype(torch.device("cuda")) == torch.float64
