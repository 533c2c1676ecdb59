"""Every pixel's position in the whole image travels with it (nnunet/coordinates.py): through nnU-Net's
crop and padding, its spatial augmentation (not its intensity augmentation), mirroring, and the
sliding windows of prediction."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from acvl_utils.cropping_and_padding.bounding_boxes import crop_and_pad_nd
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from nnunet_tgc.model.place_map import image_grid
from nnunet_tgc.nnunet.coordinates import (COORDINATE_CHANNELS, ImageWithCoordinates, append_coordinates,
                                           mirror_coordinates, spatial_only, split_coordinates)
from nnunet_tgc.nnunet.predictor import TGCPredictor


def test_lazy_coordinates_crop_and_pad_like_the_whole_array():
    """nnU-Net's loader crops (and pads) the case it read: the lazy image gives what the materialised
    image with coordinate channels would, padding included, for a 2D case (1 slice) and a volume."""
    rng = np.random.default_rng(0)
    for shape in ((1, 1, 20, 30), (2, 3, 16, 12)):
        data = rng.normal(size=shape).astype(np.float32)
        lazy = ImageWithCoordinates(data)
        full = lazy[:]
        assert full.shape == (shape[0] + 2, *shape[1:])
        rows = (np.arange(shape[-2]) + 0.5) / shape[-2]
        cols = (np.arange(shape[-1]) + 0.5) / shape[-1]
        assert np.allclose(full[-2, 0, :, 0], rows) and np.allclose(full[-1, 0, 0, :], cols)
        for bbox in ([[0, 1], [-5, 15], [10, 40]], [[0, 1], [3, 9], [-2, 7]]):
            assert np.array_equal(crop_and_pad_nd(lazy, bbox, 0), crop_and_pad_nd(full, bbox, 0))


def test_append_and_split_are_inverse():
    x = torch.randn(1, 1, 6, 8)
    with_coords = append_coordinates(x)
    image, coords = split_coordinates(with_coords[None])
    assert torch.equal(image[0], x) and coords.shape == (1, COORDINATE_CHANNELS, 1, 6, 8)
    assert torch.allclose(coords[0, :, 0], image_grid(1, 6, 8)[0])


def test_mirrored_sample_gets_the_mirrored_images_coordinates():
    coords = image_grid(1, 4, 6)[0]
    lateral = mirror_coordinates(coords, (1,))
    # the mirrored image is an image of its own: its columns run 0..1 left to right again
    assert torch.allclose(lateral, coords)
    shifted = coords.clone()
    shifted[1] = shifted[1] * 0.5  # a patch from the image's left half: columns 0..0.5
    flipped = mirror_coordinates(shifted, (1,))
    assert torch.allclose(flipped[1], 1 - torch.flip(shifted[1], [1])) and torch.equal(flipped[0], shifted[0])


def test_training_transforms_move_coordinates_with_the_pixels_but_never_change_their_values():
    """nnU-Net's own training pipeline (rotation, scaling, noise, blur, brightness, contrast, gamma, low
    resolution), wrapped by spatial_only: the coordinate channels come out exactly as the spatial
    transform alone moves them, whatever the intensity augmentation does to the image."""
    pipeline = nnUNetTrainer.get_training_transforms((32, 32), (-0.3, 0.3), None, None, False)
    wrapped, spatial = spatial_only(pipeline), pipeline.transforms[0]
    image, coords = torch.randn(1, 40, 40), image_grid(1, 40, 40)[0]
    changed = 0
    for seed in range(30):
        torch.manual_seed(seed), np.random.seed(seed)
        out = wrapped(image=torch.cat([image, coords]), segmentation=torch.zeros(1, 40, 40, dtype=torch.int16))
        torch.manual_seed(seed), np.random.seed(seed)
        moved = spatial(image=torch.cat([image, coords]), segmentation=torch.zeros(1, 40, 40, dtype=torch.int16))
        assert out["image"].shape == (3, 32, 32)
        assert torch.equal(out["image"][1:], moved["image"][1:])
        changed += not torch.allclose(out["image"][:1], moved["image"][:1])
    assert changed > 0  # the intensity augmentation did run on the image channel


class _CoordinateEcho(torch.nn.Module):
    """A stand-in network whose class-1 logit is the column coordinate it is given."""

    def forward(self, image, text, coordinates):
        return torch.stack([torch.zeros_like(coordinates[:, 1]), coordinates[:, 1]], dim=1)


def _predictor(patch):
    predictor = TGCPredictor(tile_step_size=0.5, use_gaussian=False, use_mirroring=False,
                             perform_everything_on_device=False, device=torch.device("cpu"), verbose=False,
                             allow_tqdm=False)
    predictor.network = _CoordinateEcho()
    predictor.configuration_manager = SimpleNamespace(patch_size=list(patch))
    predictor.label_manager = SimpleNamespace(num_segmentation_heads=2)
    predictor.allowed_mirroring_axes = None
    predictor.text_cache = SimpleNamespace(batch=lambda texts, device: None)
    predictor.current_report = "Lower left lung."
    return predictor


def test_sliding_windows_see_the_whole_images_coordinates():
    """An image twice the patch size, tiled by nnU-Net's sliding window: every window is told where its
    pixels lie in the whole image, so the stitched logits are the whole image's column coordinate, not
    a saw-tooth of per-window coordinates."""
    h, w = 32, 48
    logits = _predictor((16, 24)).predict_sliding_window_return_logits(torch.randn(1, 1, h, w))
    expected = (torch.arange(w, dtype=torch.float32) + 0.5) / w
    assert logits.shape == (2, 1, h, w)
    assert torch.allclose(logits[1, 0].float(), expected.expand(h, w), atol=2e-3)  # nnU-Net stitches in float16


class _ReportEcho(torch.nn.Module):
    """A stand-in network that records the report it is given with every window."""

    def __init__(self):
        super().__init__()
        self.reports = []

    def forward(self, image, text, coordinates):
        self.reports.append(text)
        return torch.zeros(image.shape[0], 2, *image.shape[2:])


def test_one_case_predicted_with_the_report_handed_to_it():
    """The final validation's route (``predict_sliding_window_with_report``): every window and its left-right
    mirrored pass get the case's report (mirrored with the image), and no report stays current afterwards."""
    predictor = _predictor((16, 16))
    predictor.network = _ReportEcho()
    predictor.current_report = None
    predictor.text_cache = SimpleNamespace(batch=lambda texts, device: texts[0])  # the network sees the text
    predictor.use_mirroring, predictor.allowed_mirroring_axes = True, (1,)
    predictor.dataset_json = {"file_ending": ".png"}  # columns are left-right
    predictor.predict_sliding_window_with_report(torch.randn(1, 1, 32, 32), "Lower left lung.")
    assert len(predictor.network.reports) >= 8  # 4 windows or more, each with its mirrored pass
    assert set(predictor.network.reports) == {"Lower left lung.", "Lower right lung."}
    assert predictor.current_report is None
    with pytest.raises(ValueError, match="predict_sliding_window_with_report needs a non-empty report"):
        predictor.predict_sliding_window_with_report(torch.randn(1, 1, 32, 32), " ")


def _file_run_predictor():
    predictor = _predictor((16, 16))
    predictor.network = _ReportEcho()
    predictor.current_report = None
    predictor.text_cache = SimpleNamespace(batch=lambda texts, device: texts[0])
    predictor.list_of_parameters = [{}]  # one "fold": the echo network has no parameters
    predictor._queued = [("out/a", "Lower left lung."), ("out/b", "Upper right lung."), ("out/c", "Left lung.")]
    return predictor


def test_file_route_follows_each_item_when_cases_arrive_out_of_order():
    """nnU-Net's preprocessing workers may deliver cases out of order: each item is predicted with the report
    queued for its output file, and no report stays current between or after the items."""
    predictor = _file_run_predictor()
    items = [{"ofile": o, "data": torch.randn(1, 1, 16, 16)} for o in ("out/c", "out/a", "out/b")]
    seen = []
    for item in predictor._items_with_reports(iter(items)):
        predictor.predict_logits_from_preprocessed_data(item["data"])
        seen.append(set(predictor.network.reports))
        predictor.network.reports.clear()
    assert seen == [{"Left lung."}, {"Lower left lung."}, {"Upper right lung."}]
    assert predictor.current_report is None and predictor._queued == []


def test_sequential_file_route_takes_the_reports_in_list_order():
    """``-npp 0 -nps 0`` predicts the cases in nnU-Net's list order, without items to follow."""
    predictor = _file_run_predictor()
    seen = []
    for _ in range(3):
        predictor.predict_logits_from_preprocessed_data(torch.randn(1, 1, 16, 16))
        seen.append(set(predictor.network.reports))
        predictor.network.reports.clear()
        assert predictor.current_report is None
    assert seen == [{"Lower left lung."}, {"Upper right lung."}, {"Left lung."}]
    with pytest.raises(RuntimeError, match="needs the case's report"):
        predictor.predict_logits_from_preprocessed_data(torch.randn(1, 1, 16, 16))
