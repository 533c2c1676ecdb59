"""nnU-Net's own ``-pretrained_weights`` loader (``nnunetv2.run.load_pretrained_weights``) on TGC-Net, in process.

Its rules: every state-dict key containing ``.seg_layers.`` stays the network's own; every other key of the
network must be in the checkpoint with the same shape, and is transferred. TGC-Net meets them by naming
(``model/tgc_net.py``): its class-specific layers and the frozen towers' record are ``seg_layers``, and the
fixed input mapping is not in the state dict. Checkpoints written under the earlier names
(``similarity_to_logits.weight``, ``towers._extra_state``, ``tower_input.*``) still load for prediction and
serve as pretrained weights. The run through ``nnUNetv2_train -pretrained_weights`` is in
``test_nnunet_options.py``.
"""
import pytest
import torch
from nnunetv2.run.load_pretrained_weights import load_pretrained_weights

from nnunet_tgc.model import (TOWER_RECORD_KEY, BackboneMismatchError, ChannelToUnit, create_tgc_net,
                              create_towers)
from nnunet_tgc.model.clip_towers import weights_fingerprint

PLANS = dict(features_per_stage=[32, 64, 128, 256], strides=[[1, 1]] + [[2, 2]] * 3,
             kernel_sizes=[[3, 3]] * 4, n_conv_per_stage=[2] * 4, n_conv_per_stage_decoder=[2] * 3)
SKIPPED = ".seg_layers."  # nnU-Net's one skip string


def make_net(num_classes=2, towers=None, seed=0, **kw):
    torch.manual_seed(seed)
    return create_tgc_net("tiny", 1, num_classes, towers=towers or create_towers("tiny"), verbose=False,
                          **{**PLANS, **kw})


def save(tmp_path, state, name="checkpoint.pth"):
    """A checkpoint as nnU-Net's save_checkpoint writes it (the loader reads only 'network_weights')."""
    path = tmp_path / name
    torch.save({"network_weights": state}, path)
    return path


def earlier_names(net) -> dict:
    """``net``'s state dict as checkpoints wrote it before the class-specific layers and the towers' record
    were named ``seg_layers`` and before the input mapping left the state dict."""
    state = {}
    for key, value in net.state_dict().items():
        key = key.replace("similarity_to_logits.seg_layers.", "similarity_to_logits.")
        state[key.replace(TOWER_RECORD_KEY, "towers._extra_state")] = value
    state.update({f"tower_input.{name}": b.clone() for name, b in net.tower_input.named_buffers()})
    return state


def test_every_layer_whose_shape_follows_the_classes_is_skipped_by_nnunet():
    two, three = make_net(2).state_dict(), make_net(3).state_dict()
    assert two.keys() == three.keys()
    by_classes = {k for k in two if torch.is_tensor(two[k]) and two[k].shape != three[k].shape}
    assert by_classes and all(SKIPPED in k for k in by_classes), sorted(k for k in by_classes if SKIPPED not in k)
    # the one non-tensor entry (nnU-Net calls .shape on every entry it checks) is skipped as well
    assert [k for k, v in two.items() if not torch.is_tensor(v)] == [TOWER_RECORD_KEY] and SKIPPED in TOWER_RECORD_KEY
    assert not any(k.startswith("tower_input.") for k in two)


def test_nnunets_loader_transfers_all_but_this_runs_heads_mapping_and_towers(tmp_path):
    """Pretrained with 2 classes, one input mapping, one knowledge base; fine-tuned with 3 classes, another
    mapping, towers with other frozen weights and another knowledge base: everything trainable but the heads is
    transferred, and the run keeps its heads, its mapping and its towers' record (no mismatch raised)."""
    source = make_net(2, seed=1, tower_input=[ChannelToUnit.window(0, 255, 120, 30)])
    source.towers.bind_knowledge("knowledge-of-the-pretraining-dataset")
    pretrained = source.state_dict()
    other_towers = create_towers("tiny")
    with torch.no_grad():
        other_towers.clip.visual.conv1.weight.add_(1e-3)
    other_towers.fingerprint = weights_fingerprint(other_towers.clip)
    target = make_net(3, towers=other_towers, seed=2, tower_input=[ChannelToUnit.standardised(0.4)])
    target.towers.bind_knowledge("knowledge-of-the-fine-tuning-dataset")
    own = {k: v.clone() if torch.is_tensor(v) else v for k, v in target.state_dict().items()}
    own_mapping = {n: b.clone() for n, b in target.tower_input.named_buffers()}

    load_pretrained_weights(target, str(save(tmp_path, pretrained)))

    tuned = target.state_dict()
    transferred = [k for k in tuned if SKIPPED not in k]
    assert len(transferred) > 100
    for k in transferred:
        assert torch.equal(tuned[k], pretrained[k]), k
    heads = [k for k in tuned if SKIPPED in k and torch.is_tensor(tuned[k])]
    assert any(k.startswith("similarity_to_logits.") for k in heads) and any(k.startswith("decoder.") for k in heads)
    for k in heads:
        assert tuned[k].shape[0] == 3 and torch.equal(tuned[k], own[k]), k
    assert tuned[TOWER_RECORD_KEY] == own[TOWER_RECORD_KEY]  # the towers this run built, not the checkpoint's
    assert tuned[TOWER_RECORD_KEY]["fingerprint"] == other_towers.fingerprint != source.towers.fingerprint
    for name, value in own_mapping.items():  # this dataset's mapping, not the pretraining dataset's
        assert torch.equal(getattr(target.tower_input, name), value)
    assert not torch.equal(target.tower_input.offset, source.tower_input.offset)


def test_nnunets_loader_refuses_another_variant(tmp_path):
    pretrained = save(tmp_path, make_net(2).state_dict())
    with pytest.raises(AssertionError, match=r"text_film.* is missing in the pretrained model weights"):
        load_pretrained_weights(make_net(2, use_vlcm=False), str(pretrained))


def test_checkpoints_with_the_earlier_names_load_and_serve_as_pretrained_weights(tmp_path):
    trained = make_net(2, seed=1)
    old = earlier_names(trained)
    assert "similarity_to_logits.weight" in old and "towers._extra_state" in old and "tower_input.scale" in old

    # prediction: a strict load into the network rebuilt from the plans, the towers' record still checked
    fresh = make_net(2, seed=3)
    fresh.load_state_dict(old)
    for k, v in fresh.state_dict().items():
        if torch.is_tensor(v):
            assert torch.equal(v, trained.state_dict()[k]), k
    other_towers = create_towers("tiny")
    with torch.no_grad():
        other_towers.clip.visual.conv1.weight.add_(1e-3)
    other_towers.fingerprint = weights_fingerprint(other_towers.clip)
    with pytest.raises(BackboneMismatchError):
        make_net(2, towers=other_towers).load_state_dict(earlier_names(trained))
    # the input mapping such a checkpoint holds must be the one derived from the plans here
    with pytest.raises(RuntimeError, match=r"another mapping of the intensities \(tower_input.offset"):
        make_net(2, tower_input=[ChannelToUnit.standardised(0.4)]).load_state_dict(earlier_names(trained))

    # -pretrained_weights from such a checkpoint: the same transfer as from a current one
    target = make_net(3, seed=2)
    load_pretrained_weights(target, str(save(tmp_path, earlier_names(trained))))
    tuned, current = target.state_dict(), trained.state_dict()
    for k in tuned:
        if SKIPPED not in k:
            assert torch.equal(tuned[k], current[k]), k
