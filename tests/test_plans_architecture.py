"""The CNN branch and decoder are built from the plans' architecture: class, operators, blocks per stage."""
import copy

import pytest
import torch
from dynamic_network_architectures.building_blocks.plain_conv_encoder import PlainConvEncoder
from dynamic_network_architectures.building_blocks.residual_encoders import ResidualEncoder
from nnunetv2.utilities.plans_handling.plans_handler import ConfigurationManager
from torch import nn

from nnunet_tgc.model import create_towers
from nnunet_tgc.nnunet.architecture import UnsupportedArchitectureError, tgc_architecture_from_plans
from nnunet_tgc.nnunet.trainer import nnUNetTrainerTGC_noCNN, nnUNetTrainerTGC_tiny

from _text import encode_reports

# what nnU-Net 2.8.1 plans for a 32x40 PNG dataset: default planner, and nnUNetPlannerResEncM
PLAIN = {"network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
         "arch_kwargs": {"n_stages": 4, "features_per_stage": [32, 64, 128, 256], "conv_op": "torch.nn.modules.conv.Conv2d",
                         "kernel_sizes": [[3, 3]] * 4, "strides": [[1, 1], [2, 2], [2, 2], [2, 2]],
                         "n_conv_per_stage": [2, 2, 2, 2], "n_conv_per_stage_decoder": [2, 2, 2], "conv_bias": True,
                         "norm_op": "torch.nn.modules.instancenorm.InstanceNorm2d",
                         "norm_op_kwargs": {"eps": 1e-05, "affine": True}, "dropout_op": None,
                         "dropout_op_kwargs": None, "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": True}},
         "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]}
RESENC = copy.deepcopy(PLAIN)
RESENC["network_class_name"] = "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet"
RESENC["arch_kwargs"].pop("n_conv_per_stage")
RESENC["arch_kwargs"].update(n_blocks_per_stage=[1, 3, 4, 6], n_conv_per_stage_decoder=[1, 1, 1])


class _Plans:
    plans_name = "test plans"


def configuration(arch):
    return ConfigurationManager({"architecture": copy.deepcopy(arch), "patch_size": [32, 40]})


@pytest.fixture(scope="module")
def towers():
    return create_towers("tiny")


def build(arch, trainer=nnUNetTrainerTGC_tiny, towers=None, monkeypatch=None):
    if towers is not None:
        monkeypatch.setattr("nnunet_tgc.model.factory.create_towers", lambda backbone, **settings: towers)
    return trainer.build_network_architecture(_Plans(), configuration(arch), 1, 2, True)


def test_default_plans_give_nnunets_plain_encoder_and_decoder(towers, monkeypatch):
    net = build(PLAIN, towers=towers, monkeypatch=monkeypatch)
    assert isinstance(net.sse.encoder, PlainConvEncoder)
    assert net.sse.encoder.output_channels == [16, 32, 64, 128]  # half width
    assert [len(s[0].convs) for s in net.sse.encoder.stages] == [2, 2, 2, 2]
    assert [len(s.convs) for s in net.decoder.stages] == [2, 2, 2]
    out = net(torch.randn(2, 1, 32, 40), _text(net))
    assert [o.shape[2:] for o in out] == [(32, 40), (16, 20), (8, 10)]


def test_resenc_plans_give_the_residual_encoder(towers, monkeypatch):
    net = build(RESENC, towers=towers, monkeypatch=monkeypatch)
    enc = net.sse.encoder
    assert isinstance(enc, ResidualEncoder) and enc.stem is not None
    assert [len(s.blocks) for s in enc.stages] == [1, 3, 4, 6]
    assert [len(s.convs) for s in net.decoder.stages] == [1, 1, 1]
    # ResidualEncoderUNet.initialize: the last norm of every residual branch starts at zero
    assert all(b.conv2.norm.weight.abs().sum() == 0 for s in enc.stages for b in s.blocks)
    out = net(torch.randn(2, 1, 32, 40), _text(net))
    assert out[0].shape == (2, 2, 32, 40)


def test_the_plans_operators_are_used(towers, monkeypatch):
    arch = copy.deepcopy(RESENC)
    arch["arch_kwargs"].update(norm_op="torch.nn.BatchNorm2d", norm_op_kwargs={"eps": 1e-3}, nonlin="torch.nn.ReLU",
                               nonlin_kwargs={}, conv_bias=False)
    net = build(arch, towers=towers, monkeypatch=monkeypatch)
    cnn_parts = [net.sse.encoder, net.decoder.stages, net.decoder.transpconvs]
    modules = [m for part in cnn_parts for m in part.modules()]
    assert any(isinstance(m, nn.BatchNorm2d) and m.eps == 1e-3 for m in modules)
    assert not any(isinstance(m, (nn.InstanceNorm2d, nn.LeakyReLU)) for m in modules)
    assert any(isinstance(m, nn.ReLU) for m in modules)
    assert all(m.bias is None for m in modules if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))
    # the ViT-only ablation's stage blocks follow the plans too
    net = build(arch, trainer=nnUNetTrainerTGC_noCNN, towers=towers, monkeypatch=monkeypatch)
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.sse.stages.modules())


def test_the_environment_is_read_by_the_trainer_and_passed_to_the_factory(towers, monkeypatch, tmp_path):
    """The nnU-Net glue reads nnUNet_TGC_* once, when it builds the network, and passes them as arguments."""
    asked = []
    monkeypatch.setattr("nnunet_tgc.model.factory.create_towers",
                        lambda backbone, **settings: asked.append((backbone, settings)) or towers)
    for var in ("nnUNet_TGC_clip_weights", "nnUNet_TGC_tower_dtype", "nnUNet_TGC_allow_knowledge_mismatch"):
        monkeypatch.delenv(var, raising=False)
    build(PLAIN)
    monkeypatch.setenv("nnUNet_TGC_clip_weights", str(tmp_path / "clip.pt"))
    monkeypatch.setenv("nnUNet_TGC_tower_dtype", "float32")
    monkeypatch.setenv("nnUNet_TGC_allow_knowledge_mismatch", "1")
    build(PLAIN)
    assert asked == [("tiny", {"weights": None, "tower_dtype": "float16", "allow_knowledge_mismatch": False}),
                     ("tiny", {"weights": str(tmp_path / "clip.pt"), "tower_dtype": "float32",
                               "allow_knowledge_mismatch": True})]
    monkeypatch.setenv("nnUNet_TGC_tower_dtype", "half")
    with pytest.raises(ValueError, match="nnUNet_TGC_tower_dtype='half'"):
        build(PLAIN)


def test_unsupported_plans_are_refused_clearly():
    arch = copy.deepcopy(PLAIN)
    arch["network_class_name"] = "dynamic_network_architectures.architectures.primus.Primus"
    with pytest.raises(UnsupportedArchitectureError, match="Primus.*nnUNetPlannerResEncM"):
        tgc_architecture_from_plans(configuration(arch), "plans X")
    arch = copy.deepcopy(RESENC)
    arch["arch_kwargs"]["squeeze_excitation"] = True
    with pytest.raises(UnsupportedArchitectureError, match="squeeze_excitation"):
        tgc_architecture_from_plans(configuration(arch), "plans X")


def _text(net):
    from nnunet_tgc.model import EncodedText
    return encode_reports(net.towers, ["Unilateral pulmonary infection, lower left lung."] * 2)
