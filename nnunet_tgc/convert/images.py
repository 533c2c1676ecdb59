"""Turning source images and masks into files nnU-Net reads.

2D images are written as PNG, which nnU-Net's ``NaturalImage2DIO`` reads: a 2D array as one
channel, an RGB array as three channels *from the one* ``_0000.png`` file.  So:

* grayscale or colour is decided once for the whole dataset (``--channels gray|rgb``, or ``auto``:
  :func:`decide_channels`), never per file, so every case has the same channel count;
* ``auto`` decides colour only when a clear share of all the dataset's pixels (``COLOUR_SHARE``, 1%)
  has colour channels that differ by more than ``COLOUR_PIXEL_LEVELS`` (10) grey levels. JPEG X-rays
  stored as colour come back with channels a few levels apart (decoding YCbCr rounds each channel on
  its own, chroma noise adds a little: measured at most 9 levels, on 0.02% of the pixels, for strong
  chroma noise at quality 95), so they never make a dataset colour; a coloured annotation on a few
  images does not either (the decision and every image with colour content are logged);
* gray: colour-stored images become the rounded mean of their channels; rgb: colour images stay RGB
  in one ``_0000.png``, grayscale ones are repeated to three channels (alpha is dropped when fully
  opaque in both);
* JPEG is decoded once and stored losslessly as PNG (nnU-Net refuses JPEG).

Masks become label maps: by default 0/255 or 0/1 masks become 0/1; ``mask_values`` maps other
values.  JPEG masks are thresholded at half range, since lossy compression smears the exact
values.  NIfTI volumes are rewritten as ``.nii.gz`` and their masks take the image's geometry.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Tuple

import numpy as np
from PIL import Image

from .common import ConversionError, split_extension

JPEG_EXTENSIONS = (".jpg", ".jpeg")
# grey levels (of 8 bits; scaled by 257 for 16-bit content) by which the colour channels of one pixel
# of a lossy (JPEG) mask may differ in a mask still read as one label plane
GRAYSCALE_TOLERANCE = 2
# a pixel has colour when its channels differ by more than this many grey levels (8 bits; x257 for 16-bit
# content): above JPEG's chroma rounding and chroma noise (see the module docstring) ...
COLOUR_PIXEL_LEVELS = 10
# ... and a dataset is colour (``--channels auto``) when more than this share of all its pixels has colour
COLOUR_SHARE = 0.01
CHANNEL_CHOICES = ("auto", "gray", "rgb")


def is_volume(path: Path) -> bool:
    return split_extension(path.name)[1] in (".nii", ".nii.gz")


# ---------------------------------------------------------------- reading

def read_2d(path: Path) -> np.ndarray:
    """Pixel array (H, W) or (H, W, C) of a 2D image file."""
    ext = split_extension(path.name)[1]
    try:
        if ext in (".tif", ".tiff"):
            import tifffile
            array = np.asarray(tifffile.imread(str(path)))
        else:
            with Image.open(path) as img:
                if img.mode == "P":  # palette: expand to the colours it stands for
                    img = img.convert("RGBA" if "transparency" in img.info else "RGB")
                array = np.asarray(img)
    except (OSError, ValueError) as err:
        raise ConversionError(f"{path}: cannot read the image ({err})") from err
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # channel-first TIFF
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (2, 3, 4)):
        raise ConversionError(f"{path}: expected a 2D grayscale or colour image, got shape {array.shape}")
    return array


def _drop_constant_alpha(array: np.ndarray, path: Path) -> np.ndarray:
    """LA / RGBA -> L / RGB: alpha carries no image content unless it varies."""
    if array.ndim == 3 and array.shape[-1] in (2, 4):
        alpha = array[..., -1]
        if alpha.min() != alpha.max():
            raise ConversionError(f"{path}: the alpha channel is not constant; remove transparency "
                                  f"before converting")
        array = array[..., :-1]
        if array.shape[-1] == 1:
            return array[..., 0]
    return array


def channel_spread(array: np.ndarray) -> int:
    """The largest difference between the colour channels of any pixel of an (H, W, C) array."""
    wide = array.astype(np.int64) if np.issubdtype(array.dtype, np.integer) else array
    return int(np.ceil((wide.max(axis=-1) - wide.min(axis=-1)).max()))


def collapse_channels(array: np.ndarray, path: Path, tolerance: int = GRAYSCALE_TOLERANCE) -> np.ndarray:
    """(H, W) for grayscale content, (H, W, 3) for real colour; see module docstring."""
    array = _drop_constant_alpha(array, path)
    if array.ndim == 2:
        return array
    allowed = tolerance * (257 if array.max() > 255 else 1)
    if channel_spread(array) > allowed:
        return array
    if np.issubdtype(array.dtype, np.integer):
        return np.rint(array.mean(axis=-1)).astype(array.dtype)
    return array.mean(axis=-1).astype(array.dtype)


@dataclass(frozen=True)
class ColourSurvey:
    """What one image holds in colour: whether it is stored with colour channels, their largest difference
    (``channel_spread``) and how many of its pixels have colour (channels > ``COLOUR_PIXEL_LEVELS`` apart)."""
    stored_as_colour: bool
    spread: int
    colour_pixels: int
    pixels: int


def survey_colour(path: Path) -> ColourSurvey:
    array = _drop_constant_alpha(read_2d(path), path)
    pixels = int(np.prod(array.shape[:2]))
    if array.ndim == 2:
        return ColourSurvey(False, 0, 0, pixels)
    wide = array.astype(np.float64)
    spreads = wide.max(axis=-1) - wide.min(axis=-1)
    levels = COLOUR_PIXEL_LEVELS * (257 if array.max() > 255 else 1)
    return ColourSurvey(True, int(np.ceil(spreads.max())), int((spreads > levels).sum()), pixels)


def decide_channels(surveys: Iterable[ColourSurvey], requested: str = "auto") -> Tuple[str, float]:
    """One channel mode for the whole dataset -> ("gray" or "rgb", share of the dataset's pixels with colour)."""
    if requested not in CHANNEL_CHOICES:
        raise ConversionError(f"--channels {requested!r}: choose one of {', '.join(CHANNEL_CHOICES)}")
    surveys = list(surveys)
    pixels = sum(s.pixels for s in surveys)
    share = sum(s.colour_pixels for s in surveys) / pixels if pixels else 0.0
    if requested != "auto":
        return requested, share
    return ("rgb" if share > COLOUR_SHARE else "gray"), share


def to_channels(array: np.ndarray, channels: str, path: Path) -> np.ndarray:
    """An (H, W) or (H, W, 3) image as the dataset's channel mode stores it: gray (H, W), rgb (H, W, 3)."""
    array = _drop_constant_alpha(array, path)
    if channels == "gray":
        if array.ndim == 2:
            return array
        if np.issubdtype(array.dtype, np.integer):
            return np.rint(array.mean(axis=-1)).astype(array.dtype)
        return array.mean(axis=-1).astype(array.dtype)
    if array.ndim == 3:
        return array
    if np.issubdtype(array.dtype, np.integer) and array.size and int(array.max()) > 255:
        raise ConversionError(f"{path}: a 16-bit grayscale image cannot join a colour (--channels rgb) dataset: an "
                              f"RGB PNG holds 8 bits per channel; convert with --channels gray, or rescale it")
    return np.repeat(array[..., None], 3, axis=-1)


def image_for_png(array: np.ndarray, path: Path) -> np.ndarray:
    """Cast to a PNG-storable integer type without changing values."""
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    if not np.issubdtype(array.dtype, np.integer):
        raise ConversionError(f"{path}: {array.dtype} pixels cannot be stored as PNG without "
                              f"rescaling; convert the images to 8- or 16-bit integers first")
    low, high = int(array.min()), int(array.max())
    if low >= 0 and high <= 255:
        return array.astype(np.uint8)
    if low >= 0 and high <= 65535 and array.ndim == 2:
        return array.astype(np.uint16)
    raise ConversionError(f"{path}: pixel range {low}..{high} does not fit an 8-bit (colour) or "
                          f"16-bit (grayscale) PNG; rescale the images first")


# ---------------------------------------------------------------- masks

def mask_to_labels(array: np.ndarray, path: Path, mask_values: Optional[dict],
                   volume: bool = False) -> np.ndarray:
    """uint8 label map from a mask array; raises when values are not the expected ones.

    ``volume``: the array is a 3D volume, not a (possibly colour) 2D image.
    """
    array = _mask_integers(array if volume else _mask_plane(array, path), path)
    if split_extension(path.name)[1] in JPEG_EXTENSIONS:
        return _threshold_jpeg_mask(array, path, mask_values)
    values = [int(v) for v in np.unique(array)]
    if mask_values is None:
        return _binary_labels(array, values, path)
    unexpected = [v for v in values if v not in mask_values]
    if unexpected:
        raise ConversionError(f"{path}: mask has values {values}, more than expected "
                              f"{sorted(mask_values)}: {unexpected} are not mapped by --mask-values")
    lookup = np.zeros(max(values) + 1, dtype=np.uint8)
    for value in values:
        lookup[value] = mask_values[value]
    return lookup[array]


def _mask_plane(array: np.ndarray, path: Path) -> np.ndarray:
    if array.ndim == 3:
        # label values must be exact: only a lossy JPEG mask gets the grayscale tolerance (it is thresholded)
        lossy = split_extension(path.name)[1] in JPEG_EXTENSIONS
        plane = collapse_channels(array, path, GRAYSCALE_TOLERANCE if lossy else 0)
        if plane.ndim == 3:
            raise ConversionError(f"{path}: colour mask (channels differ); save masks as "
                                  f"single-channel label images")
        array = plane
    return array


def _mask_integers(array: np.ndarray, path: Path) -> np.ndarray:
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.mod(array, 1) == 0):
            raise ConversionError(f"{path}: mask has non-integer values; masks must hold labels")
        array = array.astype(np.int64)
    if array.min() < 0:
        raise ConversionError(f"{path}: mask has negative values; masks must hold labels >= 0")
    return array


def _binary_labels(array: np.ndarray, values: list, path: Path) -> np.ndarray:
    if set(values) <= {0, 255}:
        return (array == 255).astype(np.uint8)
    if set(values) <= {0, 1}:
        return array.astype(np.uint8)
    raise ConversionError(f"{path}: mask has values {values}, more than expected (0/255 or 0/1 for "
                          f"a binary mask); map them with --mask-values, e.g. 0=0,128=1,255=2")


def _threshold_jpeg_mask(array: np.ndarray, path: Path, mask_values: Optional[dict]) -> np.ndarray:
    if mask_values is not None and len(set(mask_values.values())) > 2:
        raise ConversionError(f"{path}: JPEG masks are lossy and can only be read as binary; "
                              f"provide PNG masks for multi-label data")
    top = 255 if array.max() > 1 else 1
    return (array > top / 2).astype(np.uint8)


# ---------------------------------------------------------------- writing

def write_png(array: np.ndarray, path: Path) -> None:
    Image.fromarray(array).save(path)


def convert_2d_case(image_path: Path, mask_path: Path, out_image: Path, out_label: Path,
                    mask_values: Optional[dict], channels: str = "gray") -> int:
    """Write one 2D case in the dataset's channel mode (``gray`` or ``rgb``); returns its number of channels."""
    if is_volume(mask_path):
        raise ConversionError(f"{mask_path}: a NIfTI mask for the 2D image {image_path.name}")
    image = image_for_png(to_channels(read_2d(image_path), channels, image_path), image_path)
    labels = mask_to_labels(read_2d(mask_path), mask_path, mask_values)
    if image.shape[:2] != labels.shape:
        raise ConversionError(f"{mask_path}: image/mask size mismatch: image {image_path.name} is "
                              f"{image.shape[1]}x{image.shape[0]}, mask is "
                              f"{labels.shape[1]}x{labels.shape[0]} (width x height)")
    write_png(image, out_image)
    write_png(labels, out_label)
    return 1 if image.ndim == 2 else 3


def convert_volume_case(image_path: Path, mask_path: Path, out_image: Path, out_label: Path,
                        mask_values: Optional[dict], channels: str = "gray") -> int:
    """Write one NIfTI case; returns its number of channels (always 1)."""
    import SimpleITK as sitk
    if channels != "gray":
        raise ConversionError(f"{image_path}: NIfTI volumes are single-channel; --channels rgb is for 2D images")
    if not is_volume(mask_path):
        raise ConversionError(f"{mask_path}: a 2D mask for the NIfTI volume {image_path.name}")
    image = _read_volume(image_path)
    mask = _read_volume(mask_path)
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ConversionError(f"{image_path}: multi-component volumes are not supported; write one "
                              f"file per channel")
    if image.GetSize() != mask.GetSize():
        raise ConversionError(f"{mask_path}: image/mask size mismatch: {image_path.name} is "
                              f"{image.GetSize()}, mask is {mask.GetSize()}")
    if not np.allclose(image.GetSpacing(), mask.GetSpacing(), rtol=1e-3, atol=1e-5):
        raise ConversionError(f"{mask_path}: spacing {mask.GetSpacing()} differs from the image's "
                              f"{image.GetSpacing()}")
    labels = mask_to_labels(sitk.GetArrayFromImage(mask), mask_path, mask_values, volume=True)
    label_image = sitk.GetImageFromArray(labels)
    label_image.CopyInformation(image)  # tiny header differences would make nnU-Net warn
    sitk.WriteImage(image, str(out_image), useCompression=True)
    sitk.WriteImage(label_image, str(out_label), useCompression=True)
    return 1


def _read_volume(path: Path):
    import SimpleITK as sitk
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise ConversionError(f"{path}: cannot read the volume ({err})") from err

