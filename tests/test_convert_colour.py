"""Grayscale or colour is decided once for the whole dataset (``--channels auto|gray|rgb``): JPEG chroma
noise never makes a dataset colour, and a dataset with mixed channel counts is never written."""
import io

import numpy as np
import pytest
from PIL import Image

from _convert_helpers import (gray_image, load_json, nnunet_dirs, read_png, run_cli,  # noqa: F401
                              save_image, square_mask, write_csv)
from nnunet_tgc.convert.common import ConversionError
from nnunet_tgc.convert.images import (COLOUR_PIXEL_LEVELS, COLOUR_SHARE, GRAYSCALE_TOLERANCE, ColourSurvey,
                                       channel_spread, collapse_channels, decide_channels, survey_colour)
from nnunet_tgc.convert.writer import _check_one_channel_count

RGB_NAMES = {"0": "R", "1": "G", "2": "B"}


def _convert(tmp_path, table, dataset_id, *extra):
    return run_cli(["convert", "generic", "--images", tmp_path / "images", "--masks", tmp_path / "masks",
                    "--table", table, "-d", dataset_id, "-n", "Colour", "--laterality", "image", *extra])


def _near_gray(seed: int, spread: int, size=(16, 16)) -> np.ndarray:
    """A grayscale picture whose colour channels are off by up to ``spread`` levels (JPEG chroma rounding)."""
    gray = gray_image(size, seed=seed).astype(np.int64)
    rgb = np.stack([gray, gray + spread, gray - spread], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _bone_xray_jpeg(path, seed: int, chroma_noise: float, offset: int = 0, size=(48, 40)) -> None:
    """A smooth grey radiograph-like picture with chroma noise, saved as a colour JPEG (quality 95)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size[0], 0:size[1]]
    grey = 120 + 70 * np.sin(x / (5 + seed % 4)) * np.cos(y / 7) + rng.normal(0, 8, size)
    rgb = grey[..., None] + rng.normal(0, chroma_noise, (*size, 3))
    rgb[..., 1] += offset
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(path, quality=95)


def _cases(tmp_path, names, size=(16, 16)):
    for name in names:
        save_image(tmp_path / "masks" / f"{name.split('.')[0]}.png", square_mask(size, box=(4, 10)))
    return write_csv(tmp_path / "r.csv", [(n, f"report {n}") for n in names])


def _channels_of_every_image(folder):
    return {read_png(p).ndim for p in (folder / "imagesTr").glob("*.png")}


def test_mask_collapse_rule_at_the_tolerance():
    """Lossy masks stored as colour are still read as one label plane within GRAYSCALE_TOLERANCE."""
    assert GRAYSCALE_TOLERANCE == 2
    within = _near_gray(0, GRAYSCALE_TOLERANCE // 2)  # channels 2 apart: G - B = 2 levels
    assert channel_spread(within) == 2 and collapse_channels(within, "x.png").ndim == 2
    beyond = within.copy()
    beyond[0, 0] = (10, 13, 10)
    assert channel_spread(beyond) == 3 and collapse_channels(beyond, "x.png").shape == (16, 16, 3)


def test_the_dataset_rule():
    grey = ColourSurvey(True, 9, 0, 1000)
    tinted = ColourSurvey(True, 40, 5, 1000)  # 0.5% colour pixels: an annotation, not a colour dataset
    photo = ColourSurvey(True, 200, 900, 1000)
    assert COLOUR_PIXEL_LEVELS == 10 and COLOUR_SHARE == 0.01
    assert decide_channels([grey] * 59 + [tinted]) == ("gray", 5 / 60000)
    assert decide_channels([grey, photo])[0] == "rgb"
    assert decide_channels([grey, photo], "gray")[0] == "gray" and decide_channels([grey], "rgb")[0] == "rgb"
    with pytest.raises(ConversionError, match="--channels"):
        decide_channels([grey], "colour")


def test_sixty_bone_xray_jpegs_with_chroma_noise_convert_to_one_channel(tmp_path, nnunet_dirs, capsys):
    """The issue's case: 60 JPEG X-rays stored as colour, one whose channels differ by 3 grey levels (beyond the
    old per-file tolerance of 2, which turned all 60 into RGB)."""
    raw, _ = nnunet_dirs
    names = [f"bone{i:02d}.jpg" for i in range(60)]
    for i, name in enumerate(names):
        _bone_xray_jpeg(tmp_path / "images" / name, i, chroma_noise=4.0, offset=3 if i == 17 else 0)
    assert survey_colour(tmp_path / "images" / names[17]).spread >= 3
    table = _cases(tmp_path, names, size=(48, 40))
    assert _convert(tmp_path, table, 43) == 0
    out = raw / "Dataset043_Colour"
    assert load_json(out / "dataset.json")["channel_names"] == {"0": "image"}
    assert _channels_of_every_image(out) == {2}
    decision = load_json(out / "conversion_log.json")["channels"]
    assert decision["channels"] == "gray" and decision["decided_by"] == "auto"
    assert decision["stored_as_colour"] == 60 and decision["dataset_colour_pixel_share"] <= COLOUR_SHARE
    assert "the whole dataset is grayscale, one channel" in capsys.readouterr().out

    # asked for explicitly, the same files become one RGB dataset: every case three channels
    assert _convert(tmp_path, table, 43, "--channels", "rgb", "--overwrite") == 0
    assert load_json(out / "dataset.json")["channel_names"] == RGB_NAMES
    assert _channels_of_every_image(out) == {3}
    assert load_json(out / "conversion_log.json")["channels"]["decided_by"] == "--channels"


def test_real_colour_makes_the_dataset_rgb_and_grayscale_joins_it(tmp_path, nnunet_dirs, capsys):
    raw, _ = nnunet_dirs
    photo = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)  # colour everywhere
    save_image(tmp_path / "images" / "photo.png", photo)
    save_image(tmp_path / "images" / "rounded.png", _near_gray(2, 1))
    save_image(tmp_path / "images" / "gray.png", gray_image(seed=4))
    table = _cases(tmp_path, ["photo.png", "rounded.png", "gray.png"])
    assert _convert(tmp_path, table, 44) == 0
    out = raw / "Dataset044_Colour"
    assert load_json(out / "dataset.json")["channel_names"] == RGB_NAMES
    assert np.array_equal(read_png(out / "imagesTr" / "photo_0000.png"), photo)
    assert np.array_equal(read_png(out / "imagesTr" / "rounded_0000.png"), _near_gray(2, 1))  # kept as stored
    assert np.array_equal(read_png(out / "imagesTr" / "gray_0000.png"), np.repeat(gray_image(seed=4)[..., None], 3, -1))
    decision = load_json(out / "conversion_log.json")["channels"]
    assert decision["channels"] == "rgb" and list(decision["images_with_colour"]) == ["photo"]
    printed = capsys.readouterr().out
    assert "the whole dataset is RGB, three channels" in printed and "1 image(s) with colour content, kept as " \
                                                                    "colour: photo" in printed


def test_a_small_colour_annotation_does_not_flip_the_dataset_and_gray_is_the_channel_mean(tmp_path, nnunet_dirs,
                                                                                          capsys):
    raw, _ = nnunet_dirs
    marked = _near_gray(0, 1, size=(32, 32))
    marked[4:6, 4:6] = (200, 40, 40)  # 4 red pixels of 32x32x5
    save_image(tmp_path / "images" / "marked.png", marked)
    for i in range(4):
        save_image(tmp_path / "images" / f"plain{i}.png", gray_image((32, 32), seed=i))
    table = _cases(tmp_path, ["marked.png"] + [f"plain{i}.png" for i in range(4)], size=(32, 32))
    assert _convert(tmp_path, table, 45) == 0
    out = raw / "Dataset045_Colour"
    assert load_json(out / "dataset.json")["channel_names"] == {"0": "image"}
    assert np.array_equal(read_png(out / "imagesTr" / "marked_0000.png"), np.rint(marked.mean(-1)).astype(np.uint8))
    assert "converted to grey (their channels' mean): marked" in capsys.readouterr().out


def test_mixed_channel_counts_are_never_written(tmp_path, nnunet_dirs, capsys):
    raw, _ = nnunet_dirs
    save_image(tmp_path / "images" / "colour.png", _near_gray(0, 1))
    save_image(tmp_path / "images" / "deep.png", (gray_image(seed=1).astype(np.uint16) * 257))  # 16-bit grey
    table = _cases(tmp_path, ["colour.png", "deep.png"])
    # a 16-bit grayscale image cannot be an 8-bit RGB PNG: the conversion stops and names it
    assert _convert(tmp_path, table, 46, "--channels", "rgb") == 1
    err = capsys.readouterr().err
    assert "deep.png" in err and "16-bit grayscale image cannot join a colour" in err
    assert not list(raw.iterdir())  # nothing written, not even a partial folder
    # the guard behind every write: one channel count per dataset, or an error naming the files
    cases = [type("Case", (), {"case_id": c, "image": f"/data/{c}.png"})() for c in ("a", "b", "c")]
    with pytest.raises(ConversionError, match=r"1 channel\(s\): /data/a.png, /data/c.png; 3 channel\(s\): "
                                              r"/data/b.png"):
        _check_one_channel_count(cases, {"a": 1, "b": 3, "c": 1})


def test_jpeg_chroma_noise_stays_below_the_pixel_threshold():
    """What the thresholds rest on: a grey picture with strong chroma noise, through JPEG at several qualities."""
    for quality in (95, 85, 75):
        for seed in range(3):
            buffer = io.BytesIO()
            rng = np.random.default_rng(seed)
            grey = rng.normal(128, 40, (64, 64))[..., None] + rng.normal(0, 5, (64, 64, 3))
            Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=quality)
            buffer.seek(0)
            decoded = np.asarray(Image.open(buffer)).astype(int)
            colour = (decoded.max(-1) - decoded.min(-1)) > COLOUR_PIXEL_LEVELS
            assert colour.mean() < COLOUR_SHARE / 10, (quality, seed, colour.mean())
