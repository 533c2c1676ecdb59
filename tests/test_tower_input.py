"""The fixed mapping of nnU-Net's normalised channels to the frozen ViT's input statistics: a pretrained tower
should read inputs with the statistics its weights were trained on."""
import importlib.util
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from nnunetv2.preprocessing.normalization.default_normalization_schemes import (
    CTNormalization, NoNormalization, RGBTo01Normalization, ZScoreNormalization)

from nnunet_tgc.model import ChannelToUnit, TowerInput, create_tgc_net, create_towers
from nnunet_tgc.model.tower_input import OPENAI_MEAN, OPENAI_STD
from nnunet_tgc.nnunet.architecture import channel_to_unit, tower_input_from_plans

from _text import encode_reports
from conftest import SCRIPTS

PLANS = dict(features_per_stage=[16, 32, 64], strides=[[1, 1], [2, 2], [2, 2]], kernel_sizes=[[3, 3]] * 3,
             n_conv_per_stage=[1] * 3, n_conv_per_stage_decoder=[1] * 2)
MEAN = torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(OPENAI_STD).view(1, 3, 1, 1)
PROPS = {"mean": 120.0, "std": 30.0, "min": 0.0, "max": 255.0, "percentile_00_5": 40.0, "percentile_99_5": 216.0}


def clip_preprocess(unit_rgb: torch.Tensor) -> torch.Tensor:
    """open_clip's Normalize of an RGB image already in [0, 1]."""
    return (unit_rgb - MEAN) / STD


def raw_image(seed=0, shape=(2, 1, 24, 20)):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, shape).astype(np.float32))


def test_grey_rgb_and_other_channel_counts():
    raw = raw_image(shape=(2, 4, 8, 8)) / 255
    grey = TowerInput([ChannelToUnit(1.0, 0.0)])(raw[:, :1])
    assert torch.allclose(grey, clip_preprocess(raw[:, :1].expand(-1, 3, -1, -1)), atol=1e-6)
    rgb = TowerInput([ChannelToUnit(1.0, 0.0)] * 3)(raw[:, :3])
    assert torch.allclose(rgb, clip_preprocess(raw[:, :3]), atol=1e-6)  # per channel: the colour balance stays
    four = TowerInput([ChannelToUnit(1.0, 0.0)] * 4)(raw)  # declared: the channels' mean grey
    assert torch.allclose(four, clip_preprocess(raw.mean(1, keepdim=True).expand(-1, 3, -1, -1)), atol=1e-6)
    with pytest.raises(ValueError, match="3 input channels"):
        TowerInput([ChannelToUnit(1.0, 0.0)] * 4)(raw[:, :3])


@pytest.mark.parametrize("scheme, normalisation", [("CTNormalization", CTNormalization),
                                                   ("NoNormalization", NoNormalization),
                                                   ("RGBTo01Normalization", RGBTo01Normalization)])
def test_dataset_statistic_normalisations_are_undone_exactly(scheme, normalisation):
    raw = raw_image()
    normalised = torch.from_numpy(normalisation(intensityproperties=PROPS).run(raw.numpy().copy()))
    mapped = TowerInput([channel_to_unit(scheme, PROPS)])(normalised)
    # what the tower's ToTensor makes of the 8-bit image (CT: within the window nnU-Net keeps)
    kept = raw.clamp(PROPS["percentile_00_5"], PROPS["percentile_99_5"]) if scheme == "CTNormalization" else raw
    assert torch.allclose(mapped, clip_preprocess((kept / 255).expand(-1, 3, -1, -1)), atol=1e-4)


def test_per_image_zscore_gets_the_towers_contrast_around_the_foreground_level():
    raw = raw_image()
    z = torch.from_numpy(ZScoreNormalization(use_mask_for_norm=False, intensityproperties=PROPS)
                         .run(raw.numpy().copy()))
    mapping = TowerInput([channel_to_unit("ZScoreNormalization", PROPS)])
    unit = mapping.unit(z)
    expected = (PROPS["mean"] / 255 + z * sum(OPENAI_STD) / 3).clamp(0, 1)
    assert torch.allclose(unit, expected.expand(-1, 3, -1, -1), atol=1e-6)
    # a custom scheme is read as a z-score, with a warning; missing statistics give the middle of the range
    with pytest.warns(UserWarning, match="unknown normalisation"):
        assert channel_to_unit("MyNormalization", PROPS) == channel_to_unit("ZScoreNormalization", PROPS)
    assert channel_to_unit("ZScoreNormalization", {}) == ChannelToUnit.standardised(0.5)
    with pytest.raises(ValueError, match="CTNormalization needs"):
        channel_to_unit("CTNormalization", {"mean": 1.0})


def test_from_plans_per_channel():
    plans = SimpleNamespace(foreground_intensity_properties_per_channel={"0": PROPS, "1": {**PROPS, "mean": 60.0}})
    config = SimpleNamespace(normalization_schemes=["ZScoreNormalization", "CTNormalization"])
    first, second = tower_input_from_plans(plans, config, 2)
    assert first.scale is None and first.offset == pytest.approx(120 / 255)
    assert second.scale == pytest.approx(30 / 255) and second.offset == pytest.approx(60 / 255)
    with pytest.raises(ValueError, match="2 normalization_schemes for 3 input channels"):
        tower_input_from_plans(plans, config, 3)
    # hand-written plans without these entries: nnU-Net's default z-score, around the middle of the range
    assert tower_input_from_plans(object(), object(), 2) == [ChannelToUnit.standardised(0.5)] * 2


@pytest.fixture(scope="module")
def towers():
    return create_towers("tiny")


def test_the_vit_reads_the_mapping_which_is_fixed_and_derived_at_every_build(towers):
    channels = [ChannelToUnit.window(0, 255, 120, 30), ChannelToUnit.standardised(0.4)]
    net = create_tgc_net("tiny", 2, 2, towers=towers, verbose=False, deep_supervision=False,
                         tower_input=channels, **PLANS)
    assert (towers.image_mean, towers.image_std) == (OPENAI_MEAN, OPENAI_STD)
    seen = []
    original = towers.encode_image
    towers.encode_image = lambda x: seen.append(x) or original(x)
    try:
        image = torch.randn(2, 2, 32, 32)
        net(image, encode_reports(towers, ["left lung", "right lung"])).sum().backward()
    finally:
        del towers.encode_image
    assert torch.allclose(seen[0], net.tower_input(image))
    assert not list(net.tower_input.parameters()) and "RGB adapter" not in net.module_parameter_counts()
    # derived from the plans whenever the network is built, not in checkpoints: nnU-Net's -pretrained_weights
    # (which transfers every entry of matching shape) cannot carry one dataset's mapping into another's run
    state = net.state_dict()
    assert {name for name, _ in net.tower_input.named_buffers()} == {"scale", "offset", "mean", "std"}
    assert not any(k.startswith("tower_input.") for k in state)
    # a checkpoint written when the mapping was in the state dict loads if it holds the numbers derived here
    earlier = {**state, **{f"tower_input.{name}": b.clone() for name, b in net.tower_input.named_buffers()}}
    net.load_state_dict(earlier)
    earlier["tower_input.scale"] = earlier["tower_input.scale"] * 2
    with pytest.raises(RuntimeError, match=r"another mapping of the intensities \(tower_input.scale"):
        net.load_state_dict(earlier)
    with pytest.raises(ValueError, match="describes 2 channels, the network has 1"):
        create_tgc_net("tiny", 1, 2, towers=towers, verbose=False, tower_input=channels, **PLANS)


def test_qata_vit_input_statistics_match_the_towers_preprocessing(shared_data):
    """The measurement of documentation/results.md on a subset (scripts/measure_tower_input.py)."""
    qata = shared_data("QaTa-COV19-subset")
    spec = importlib.util.spec_from_file_location("_measure_tower_input", SCRIPTS / "measure_tower_input.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    result = script.measure(qata, max_train=60, max_val=30)
    for rows in result["towers"].values():
        for scheme in ("ZScoreNormalization", "CTNormalization"):
            row = rows[f"{scheme}: mapped"]
            assert row["within_target"], (scheme, row)
            assert row["max_mean_difference"] <= 0.15 and all(0.8 <= r <= 1.2 for r in row["std_ratio"])
