"""Every pixel's position in the whole image, carried through nnU-Net's patches and sliding windows.

A report's places are places in the image ("lower left lung"), but the network sees patches:
nnU-Net's data loader centres a third of the training patches on a foreground pixel (so a lesion
low on the right shifts the image up and left under the patch), augmentation rotates and scales
them, and prediction tiles images larger than the patch with sliding windows. So each case's image
gets two more channels before any of that happens: the normalised (row, column) of every pixel in
the whole image, ``(i + 0.5) / n``. They travel with the pixels through cropping, padding, rotation,
scaling and mirroring, and the network reads its place map at them (``TGCNet.forward(...,
coordinates=)``).

* training and validation batches: :class:`DatasetWithCoordinates` appends them when nnU-Net's
  loader reads a case (lazily: only the cropped region is computed); the spatial transform moves
  them with the image, and :func:`spatial_only` keeps nnU-Net's intensity transforms (noise, blur,
  brightness, contrast, gamma, low resolution) off them;
* prediction: :func:`append_coordinates` adds them to the whole preprocessed image before nnU-Net
  pads it and cuts its sliding windows;
* mirroring: a mirrored sample is a new image whose report is mirrored too, so its coordinates are
  those of the mirrored image (:func:`mirror_coordinates`).

Pixels outside the image (nnU-Net's padding) get coordinate 0; no report points there.
"""
from typing import Sequence, Tuple

import numpy as np
import torch
from batchgeneratorsv2.transforms.base.basic_transform import BasicTransform
from batchgeneratorsv2.transforms.spatial.spatial import SpatialTransform
from batchgeneratorsv2.transforms.utils.compose import ComposeTransforms

COORDINATE_CHANNELS = 2
_SIDE_KEY = "tgc_coordinates"


def _axis_positions(index: slice, n: int) -> np.ndarray:
    start, stop, step = index.indices(n)
    return (np.arange(start, stop, step, dtype=np.float32) + 0.5) / n


class ImageWithCoordinates:
    """A case's image (C, *spatial) that reads as (C + 2, *spatial): its channels, then every pixel's
    normalised row and column (the last two spatial axes). Only what is indexed is computed, so the
    loader's crop of a large case stays a crop."""

    def __init__(self, data):
        self.data = data
        self.shape = (data.shape[0] + COORDINATE_CHANNELS, *data.shape[1:])
        self.dtype = np.dtype(np.float32)
        self.ndim = len(self.shape)

    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        index = index + (slice(None),) * (self.ndim - len(index))
        if not all(isinstance(i, slice) for i in index):
            raise TypeError("ImageWithCoordinates supports slicing only (nnU-Net's crop)")
        image = np.asarray(self.data[(slice(None),) + index[1:]], dtype=np.float32)
        rows = _axis_positions(index[-2], self.shape[-2])
        cols = _axis_positions(index[-1], self.shape[-1])
        spatial = image.shape[1:]
        coords = np.stack([np.broadcast_to(rows[:, None], spatial[-2:]), np.broadcast_to(cols[None, :], spatial[-2:])])
        coords = np.broadcast_to(coords.reshape(2, *([1] * (len(spatial) - 2)), *spatial[-2:]), (2, *spatial))
        return np.concatenate([image, coords])[index[0]]


class DatasetWithCoordinates:
    """An nnU-Net dataset whose ``load_case`` gives the image with its coordinate channels."""

    def __init__(self, dataset):
        self._dataset = dataset

    def load_case(self, identifier):
        data, seg, seg_prev, properties = self._dataset.load_case(identifier)
        return ImageWithCoordinates(data), seg, seg_prev, properties

    def __getattr__(self, name):
        return getattr(self._dataset, name)

    def __len__(self):
        return len(self._dataset)


def append_coordinates(data: torch.Tensor) -> torch.Tensor:
    """A whole preprocessed case (C, *spatial) -> (C + 2, *spatial), before sliding windows."""
    return torch.from_numpy(np.ascontiguousarray(ImageWithCoordinates(data.cpu().numpy())[:])).to(data.device)


def split_coordinates(data: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(B, C + 2, *spatial) -> image (B, C, ...), coordinates (B, 2, ...)."""
    return data[:, :-COORDINATE_CHANNELS], data[:, -COORDINATE_CHANNELS:]


def mirror_coordinates(coordinates: torch.Tensor, flipped_axes: Sequence[int]) -> torch.Tensor:
    """Coordinates (2, *spatial) of one sample after flipping its spatial ``flipped_axes`` (those of the
    last two, rows = 0 and columns = 1 of a 2D patch): flipped with the pixels, and re-expressed in the
    mirrored image (x -> 1 - x), whose report is mirrored too."""
    spatial = coordinates.ndim - 1
    dims = [a + 1 for a in flipped_axes]
    out = torch.flip(coordinates, dims) if dims else coordinates.clone()
    for a in flipped_axes:
        channel = a - (spatial - 2)  # row coordinate for the second-last spatial axis, column for the last
        if channel in (0, 1):
            out[channel] = 1 - out[channel]
    return out


class _SetCoordinatesAside(BasicTransform):
    def apply(self, data_dict, **params):
        image = data_dict["image"]
        data_dict["image"], data_dict[_SIDE_KEY] = image[:-COORDINATE_CHANNELS], image[-COORDINATE_CHANNELS:]
        return data_dict


class _PutCoordinatesBack(BasicTransform):
    def apply(self, data_dict, **params):
        data_dict["image"] = torch.cat([data_dict["image"], data_dict.pop(_SIDE_KEY).to(data_dict["image"].dtype)])
        return data_dict


def spatial_only(transforms: ComposeTransforms) -> ComposeTransforms:
    """nnU-Net's training transforms with the coordinate channels set aside after the spatial transform
    (which moves them with the pixels) and put back at the end, so intensity augmentation never
    touches them."""
    steps = list(transforms.transforms)
    spatial = [i for i, t in enumerate(steps) if isinstance(t, SpatialTransform)]
    if len(spatial) != 1:
        raise RuntimeError(f"expected one SpatialTransform in nnU-Net's training transforms, found {len(spatial)}")
    at = spatial[0] + 1
    return ComposeTransforms(steps[:at] + [_SetCoordinatesAside()] + steps[at:] + [_PutCoordinatesBack()])
