"""Every trainer variant's TGC-Net uses, in every training step, all the parameters it creates, so nnU-Net's
DDP wrapping (without ``find_unused_parameters``) trains it (``nnunet_tgc/nnunet/ddp.py``).

Every network configuration is tested: each variant of ``trainer.py`` that changes the network or its loss
(variants of augmentation, text sampling or schedule train nnUNetTrainerTGC's), a few combinations of the
model's options that no variant has, and ResEnc plans. The trainer is constructed inside a one-process
gloo group, so it is in DDP mode (its loss is nnU-Net's DDP loss: the lowest deep-supervision output
weighted 1e-6 instead of 0, plus the alignment loss where the variant has it); it builds its network on
the tiny random CLIP, which ``ddp_wrap`` wraps (what ``initialize`` does under ``-num_gpus``), and trains
two steps through its own text binding and loss: after the first step every trainable parameter has a
gradient, and DDP accepts the second (it stops there when a parameter missed the first: "Parameter
indices which did not receive grad"). The two-rank training of every variant is
``test_nnunet_options.py``'s.
"""
import copy
import hashlib
import inspect

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

from nnunet_tgc.model import SegmentationAndMaps, create_tgc_net, create_towers
from nnunet_tgc.model.place_map import image_grid
from nnunet_tgc.nnunet import trainer as tgc
from nnunet_tgc.nnunet.ddp import ddp_wrap
from nnunet_tgc.nnunet.predictor import make_text_cache, unwrap

from _plans import QATA_2D_ARCHITECTURE
from _text import encode_reports

ARCH = QATA_2D_ARCHITECTURE
RESENC = copy.deepcopy(ARCH)
RESENC["network_class_name"] = "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet"
RESENC["arch_kwargs"].pop("n_conv_per_stage")
RESENC["arch_kwargs"].update(n_blocks_per_stage=[1, 3, 4, 6, 6, 6], n_conv_per_stage_decoder=[1] * 5)
PATCH = [64, 64]  # 6 stages: VLCM at strides 16 and 32, as on real plans


def plans(arch):
    return {"dataset_name": "Dataset999_DDPParameters", "plans_name": "nnUNetPlans",
            "original_median_spacing_after_transp": [1.0, 1.0, 1.0],
            "original_median_shape_after_transp": [1, *PATCH], "image_reader_writer": "NaturalImage2DIO",
            "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2],
            "configurations": {"2d": {
                "data_identifier": "nnUNetPlans_2d", "preprocessor_name": "DefaultPreprocessor", "batch_size": 2,
                "patch_size": PATCH, "median_image_size_in_voxels": PATCH, "spacing": [1.0, 1.0],
                "normalization_schemes": ["ZScoreNormalization"], "use_mask_for_norm": [False],
                "resampling_fn_data": "resample_data_or_seg_to_shape",
                "resampling_fn_seg": "resample_data_or_seg_to_shape", "resampling_fn_data_kwargs": {},
                "resampling_fn_seg_kwargs": {}, "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
                "resampling_fn_probabilities_kwargs": {}, "architecture": copy.deepcopy(arch), "batch_dice": True}},
            "experiment_planner_used": "ExperimentPlanner", "label_manager": "LabelManager",
            "foreground_intensity_properties_per_channel": {"0": {
                "mean": 0.5, "std": 0.2, "min": 0.0, "max": 1.0, "median": 0.5, "percentile_00_5": 0.0,
                "percentile_99_5": 1.0}},
            "continue_training": False}


DATASET_JSON = {"channel_names": {"0": "X-ray"}, "labels": {"background": 0, "lesion": 1}, "numTraining": 2,
                "file_ending": ".png"}
# reports as training sees them, none missing (the step in which the report-dropout variant's "no report"
# vector is selected for no sample, and still takes part)
TEXTS = ["Unilateral pulmonary infection, one infected area, lower left lung.",
         "Bilateral pulmonary infection, infected areas in both lungs."]

# configurations no variant of trainer.py has, built from options the model offers
EXTRA = {"noPlaceInput": {"tgc_place_input": False},
         "noVLCM_noPlaceMap": {"tgc_use_vlcm": False, "tgc_use_place_map": False, "tgc_image_route": False,
                               "tgc_place_evidence": False},
         "noVLCM_noAlignmentLoss": {"tgc_use_vlcm": False, "tgc_alignment_loss_weight": 0.0},
         "noCNN_noAlignmentLoss": {"tgc_use_cnn_branch": False, "tgc_alignment_loss_weight": 0.0}}


def on_tiny(variant):
    """The variant's trainer on the tiny backbone (the variant's own switches, the tiny CLIP)."""
    if issubclass(variant, tgc.nnUNetTrainerTGC_tiny):
        return variant
    return type(f"{variant.__name__}_tiny", (tgc.nnUNetTrainerTGC_tiny, variant), {})


# what a variant may change without changing its network or loss: augmentation, text sampling, the place
# map's fit before training, the backbone (every case here runs on the tiny one)
NEITHER_NETWORK_NOR_LOSS = {"tgc_backbone", "tgc_text_mirroring", "tgc_mirror_vertical", "tgc_max_rotation_deg",
                            "tgc_synonym_rate", "tgc_unplaced_rate", "tgc_uncounted_rate", "tgc_no_laterality_word_rate", "tgc_places_only_in_map", "tgc_fit_place_map", "tgc_place_fit_steps"}


def network_variants():
    """nnUNetTrainerTGC and every trainer of trainer.py that changes another ``tgc_*`` attribute (the others
    train nnUNetTrainerTGC's network with its loss)."""
    out = []
    for name in tgc.__all__:
        cls = getattr(tgc, name)
        changed = {k for c in cls.__mro__ if issubclass(c, tgc.nnUNetTrainerTGC) and c is not tgc.nnUNetTrainerTGC
                   for k in vars(c) if k.startswith("tgc_")}
        if cls is tgc.nnUNetTrainerTGC or changed - NEITHER_NETWORK_NOR_LOSS:
            out.append(cls)
    return out


CASES = [pytest.param(on_tiny(v), ARCH, id=v.__name__) for v in network_variants()] \
    + [pytest.param(type(f"nnUNetTrainerTGC_tiny_{k}", (tgc.nnUNetTrainerTGC_tiny,), attrs), ARCH, id=k)
       for k, attrs in EXTRA.items()] \
    + [pytest.param(tgc.nnUNetTrainerTGC_tiny, RESENC, id="ResEncPlans")]


@pytest.fixture(scope="module")
def towers():
    return create_towers("tiny")


@pytest.fixture(scope="module")
def one_rank_group(tmp_path_factory):
    """A gloo process group of one rank: trainers built inside it are in DDP mode, as under -num_gpus."""
    assert not dist.is_initialized()
    store = tmp_path_factory.mktemp("ddp") / "store"
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


@pytest.mark.parametrize("trainer_class, arch", CASES)
def test_every_parameter_takes_part_in_every_step(trainer_class, arch, towers, one_rank_group, tmp_path,
                                                  monkeypatch):
    monkeypatch.setenv("nnUNet_results", str(tmp_path))
    monkeypatch.setattr("nnunet_tgc.model.factory.create_towers", lambda *args, **kwargs: towers)
    trainer = trainer_class(plans(arch), "2d", 0, DATASET_JSON)
    assert trainer.is_ddp
    torch.manual_seed(0)
    net = trainer.build_network_architecture(trainer.plans_manager, trainer.configuration_manager, 1,
                                             trainer.label_manager.num_segmentation_heads,
                                             trainer.enable_deep_supervision).to(trainer.device)
    trainer.network = ddp_wrap(net, trainer.local_rank)
    trainer.text_cache = make_text_cache(trainer.network, DATASET_JSON)
    trainer.loss = trainer._build_loss()
    data = torch.randn(2, 1, *PATCH, device=trainer.device)
    coordinates = image_grid(2, *PATCH)
    target = torch.zeros(2, 1, *PATCH, device=trainer.device)
    target[0, :, 40:56, 8:24] = 1
    target[1, :, 8:24, 40:56] = 1

    def step():  # nnU-Net's train_step: network(data), then the loss over the deep-supervision outputs
        output = trainer.network(trainer._network_input(data, TEXTS, coordinates, training=True))
        scales = output.segmentation if isinstance(output, SegmentationAndMaps) else output
        loss = trainer.loss(output, [F.interpolate(target, size=o.shape[2:], mode="nearest") for o in scales])
        loss.backward()
        return loss

    assert torch.isfinite(step())
    missing = [n for n, p in unwrap(trainer.network).named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{trainer_class.__name__}: parameters outside the step's graph: {missing}"
    trainer.network.zero_grad(set_to_none=True)
    assert torch.isfinite(step())  # DDP without find_unused_parameters stops here when one was missing


def test_decoder_without_gates_loads_an_earlier_no_vlcm_checkpoint():
    """No-VLCM checkpoints of earlier versions carry decoder gates that never received a gradient (zeros):
    they load into the decoder without gates, and the gate-less decoder refuses a similarity map."""
    towers = create_towers("tiny")  # its own: the shared ones have read another knowledge base
    kw = dict(features_per_stage=[32, 64, 128, 256], strides=[[1, 1]] + [[2, 2]] * 3, kernel_sizes=[[3, 3]] * 4,
              n_conv_per_stage=[2] * 4, n_conv_per_stage_decoder=[2] * 3, towers=towers, verbose=False,
              use_vlcm=False)
    net = create_tgc_net("tiny", 1, 2, **kw)
    assert net.decoder.text_gates is None
    state = net.state_dict()
    state["decoder.text_gates"] = torch.zeros(3)  # what such a checkpoint holds
    net.load_state_dict(state)
    with pytest.raises(ValueError, match="without text gates"):
        net.decoder([torch.randn(1, c, s, s) for c, s in ((16, 32), (32, 16), (64, 8), (128, 4))],
                    torch.randn(1, 1, 4, 4))
    x = encode_reports(towers, TEXTS[:1])
    assert net(torch.randn(1, 1, 32, 32), x)[0].shape == (1, 2, 32, 32)


# sha256 of the nnunetv2 2.8.1 methods of nnUNetTrainer that nnUNetTrainerTGC copies step by step (initialize:
# the DDP wrapping; perform_actual_validation: the text-aware predictor and each case's report)
NNUNET_COPIED_SHA256 = {
    "initialize": "5732dd44ffbbbf7452c834b4f0dc5b7562fc0467a6e61cd50891a1f795a56949",
    "perform_actual_validation": "2bd52ada76cd3185a9b5a35060e35e136131027cadad568b0682620bcfd4aedb",
}


@pytest.mark.parametrize("method", sorted(NNUNET_COPIED_SHA256))
def test_the_nnunet_methods_that_tgc_replaces_are_the_ones_it_copies(method):
    """nnUNetTrainerTGC's copies repeat nnU-Net's steps with marked differences: an nnU-Net release that
    changes one of these methods needs the copy brought up to date (then this fingerprint)."""
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    source = inspect.getsource(getattr(nnUNetTrainer, method))
    assert hashlib.sha256(source.encode()).hexdigest() == NNUNET_COPIED_SHA256[method], \
        f"nnU-Net's nnUNetTrainer.{method} changed: update nnUNetTrainerTGC.{method} to match it"


def test_the_validation_copy_differs_from_nnunets_only_where_marked():
    """nnUNetTrainerTGC.perform_actual_validation is nnU-Net's code line for line, but for the predictor's class
    (and the text cache it is given) and the call that predicts each case with its report, each marked ``# TGC``.
    Comments are not compared: nnU-Net's are not carried over (its steps are, as an override must repeat them)."""
    import difflib
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    theirs = inspect.getsource(nnUNetTrainer.perform_actual_validation).splitlines()
    ours = inspect.getsource(tgc.nnUNetTrainerTGC.perform_actual_validation).splitlines()
    assert "nnUNetTrainer.perform_actual_validation" in tgc.nnUNetTrainerTGC.perform_actual_validation.__doc__
    first = next(i for i, line in enumerate(ours) if '"""' in line)  # the docstring's lines go
    last = next(i for i, line in enumerate(ours) if i > first and '"""' in line)
    ours = ours[:first] + ours[last + 1:]
    assert sum(line.strip().startswith("# TGC") for line in ours) == 2
    theirs, ours = ([line for line in lines if not line.strip().startswith("#")] for lines in (theirs, ours))
    changed = [line[0] + line[1:].strip() for line in difflib.unified_diff(theirs, ours, lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == [
        "-predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=True,",
        "-perform_everything_on_device=True, device=self.device, verbose=False,",
        "-verbose_preprocessing=False, allow_tqdm=False)",
        "+predictor = TGCPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=True,",
        "+perform_everything_on_device=True, device=self.device, verbose=False,",
        "+verbose_preprocessing=False, allow_tqdm=False)",
        "+predictor.text_cache = self.text_cache",
        "-prediction = predictor.predict_sliding_window_return_logits(data)",
        "+prediction = predictor.predict_sliding_window_with_report(data, self.case_reports[k])",
    ], "\n".join(changed)
