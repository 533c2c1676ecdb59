"""nnunet-tgc add-configuration: a configuration with another patch, inheriting the source's data, whose
topology is the one nnU-Net's planner derives for that patch; nnU-Net loads it and builds its network."""
import copy
import json
import os
import subprocess
import sys

import pytest
import torch
from nnunetv2.experiment_planning.experiment_planners import default_experiment_planner
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

from _plans import QATA_2D_ARCHITECTURE
from nnunet_tgc.nnunet.plans_configuration import (PlansConfigurationError, add_configuration,
                                                   default_configuration_name)

DATASET = "Dataset987_PatchPlans"
ARCH = QATA_2D_ARCHITECTURE
PLANS = {"dataset_name": DATASET, "plans_name": "nnUNetPlans",
         "original_median_spacing_after_transp": [999.0, 1.0, 1.0],
         "original_median_shape_after_transp": [1, 224, 224], "image_reader_writer": "NaturalImage2DIO",
         "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2],
         "configurations": {"2d": {
             "data_identifier": "nnUNetPlans_2d", "preprocessor_name": "DefaultPreprocessor", "batch_size": 49,
             "patch_size": [224, 224], "median_image_size_in_voxels": [224.0, 224.0], "spacing": [1.0, 1.0],
             "normalization_schemes": ["ZScoreNormalization"], "use_mask_for_norm": [False],
             "resampling_fn_data": "resample_data_or_seg_to_shape",
             "resampling_fn_seg": "resample_data_or_seg_to_shape",
             "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None},
             "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None},
             "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
             "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, "order_z": 0,
                                                    "force_separate_z": None},
             "architecture": ARCH, "batch_dice": True}},
         "experiment_planner_used": "ExperimentPlanner", "label_manager": "LabelManager",
         "foreground_intensity_properties_per_channel": {"0": {
             "max": 255.0, "mean": 120.0, "median": 118.0, "min": 0.0, "percentile_00_5": 10.0,
             "percentile_99_5": 250.0, "std": 50.0}}}
DATASET_JSON = {"channel_names": {"0": "X-ray"}, "labels": {"background": 0, "lesion": 1}, "numTraining": 0,
                "file_ending": ".png"}


@pytest.fixture()
def folders(tmp_path, monkeypatch):
    raw, pre = tmp_path / "raw", tmp_path / "pre"
    (raw / DATASET / "imagesTr").mkdir(parents=True)
    (raw / DATASET / "labelsTr").mkdir()
    (raw / DATASET / "dataset.json").write_text(json.dumps(DATASET_JSON))
    (pre / DATASET).mkdir(parents=True)
    (pre / DATASET / "dataset_fingerprint.json").write_text("{}")
    (pre / DATASET / "nnUNetPlans.json").write_text(json.dumps(PLANS))
    # the planner reads nnU-Net's folders from nnunetv2.paths, bound at import
    monkeypatch.setattr(default_experiment_planner, "nnUNet_raw", str(raw))
    monkeypatch.setattr(default_experiment_planner, "nnUNet_preprocessed", str(pre))
    return raw, pre


def _network(plans_file, name):
    pm = PlansManager(str(plans_file))
    cm = pm.get_configuration(name)
    net = get_network_from_plans(cm.network_arch_class_name, cm.network_arch_init_kwargs,
                                 cm.network_arch_init_kwargs_req_import, 1, 2, deep_supervision=False)
    return cm, net


def test_default_names():
    assert default_configuration_name("2d", [224, 224]) == "2d_p224"
    assert default_configuration_name("2d", [224, 192]) == "2d_p224x192"


def test_same_patch_gives_the_planned_topology_and_a_smaller_one_fewer_stages(folders):
    _, pre = folders
    plans_file = pre / DATASET / "nnUNetPlans.json"
    done = add_configuration(DATASET, "2d", [224, 224], preprocessed=pre)
    assert done["name"] == "2d_p224" and done["patch_size"] == [224, 224]
    assert done["architecture"] == ARCH  # what the planner itself derived for 224

    done = add_configuration(DATASET, "2d", [64, 96], name="small", preprocessed=pre)
    stored = json.loads(plans_file.read_text())["configurations"]
    assert set(stored) == {"2d", "2d_p224", "small"} and stored["small"]["inherits_from"] == "2d"
    assert stored["2d"] == PLANS["configurations"]["2d"]  # the source is untouched
    cm, net = _network(plans_file, "small")
    kw = cm.network_arch_init_kwargs
    assert cm.patch_size == [64, 96] and cm.data_identifier == "nnUNetPlans_2d" and cm.batch_size == 49
    assert kw["n_stages"] == 5 and kw["features_per_stage"] == [32, 64, 128, 256, 512]
    assert kw["strides"] == [[1, 1], [2, 2], [2, 2], [2, 2], [2, 2]]
    assert kw["n_conv_per_stage"] == [2] * 5 and kw["n_conv_per_stage_decoder"] == [2] * 4
    with torch.no_grad():
        assert net(torch.zeros(1, 1, 64, 96)).shape == (1, 2, 64, 96)
    cm, net = _network(plans_file, "2d_p224")
    assert cm.network_arch_init_kwargs["n_stages"] == 6


def test_bad_requests_name_the_plans_file(folders):
    _, pre = folders
    plans_file = pre / DATASET / "nnUNetPlans.json"
    cases = [(dict(source="3d_fullres", patch_size=[224, 224]), "no configuration '3d_fullres'"),
             (dict(source="2d", patch_size=[224, 224, 224]), "give --patch-size 2 numbers"),
             (dict(source="2d", patch_size=[4, 224]), "smaller than the network's minimum")]
    for kwargs, message in cases:
        with pytest.raises(PlansConfigurationError, match=message) as err:
            add_configuration(DATASET, preprocessed=pre, **kwargs)
        assert str(plans_file) in str(err.value)
    add_configuration(DATASET, "2d", [128, 128], preprocessed=pre)
    with pytest.raises(PlansConfigurationError, match="pass --overwrite") as err:
        add_configuration(DATASET, "2d", [128, 128], preprocessed=pre)
    assert str(plans_file) in str(err.value)
    add_configuration(DATASET, "2d", [128, 128], preprocessed=pre, overwrite=True)
    with pytest.raises(PlansConfigurationError, match="not found: run nnUNetv2_plan_and_preprocess"):
        add_configuration(DATASET, "2d", [128, 128], plans_identifier="nnUNetResEncUNetMPlans", preprocessed=pre)


def test_command_line(folders, tmp_path):
    raw, pre = folders
    env = {**os.environ, "nnUNet_raw": str(raw), "nnUNet_preprocessed": str(pre),
           "nnUNet_results": str(tmp_path / "res"), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "nnunet_tgc.cli", "add-configuration", "987", "--from", "2d", "--patch-size", "128",
           "128"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "2d_p128" in done.stdout and "nnUNetv2_train 987 2d_p128" in done.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode != 0 and "already has a configuration '2d_p128'" in again.stderr
    assert "nnUNetPlans.json" in again.stderr
