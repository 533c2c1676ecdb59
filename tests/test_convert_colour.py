"""Grayscale stored as colour: channels within the documented tolerance are one channel, and the
converter says which images it collapsed and which it kept as colour."""
import numpy as np
from PIL import Image

from _convert_helpers import (gray_image, load_json, nnunet_dirs, read_png, run_cli,  # noqa: F401
                              save_image, square_mask, write_csv)
from nnunet_tgc.convert.images import GRAYSCALE_TOLERANCE, channel_spread, collapse_channels


def _convert(tmp_path, table, dataset_id):
    return run_cli(["convert", "generic", "--images", tmp_path / "images", "--masks", tmp_path / "masks",
                    "--table", table, "-d", dataset_id, "-n", "Colour", "--laterality", "image"])


def _near_gray(seed: int, spread: int) -> np.ndarray:
    """A grayscale picture whose colour channels are off by up to ``spread`` levels (JPEG chroma rounding)."""
    gray = gray_image(seed=seed).astype(np.int64)
    rgb = np.stack([gray, gray + spread, gray - spread], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def test_collapse_rule_at_the_tolerance():
    assert GRAYSCALE_TOLERANCE == 2
    within = _near_gray(0, GRAYSCALE_TOLERANCE // 2)  # channels 2 apart: G - B = 2 levels
    assert channel_spread(within) == 2 and collapse_channels(within, "x.png").ndim == 2
    assert np.array_equal(collapse_channels(within, "x.png"), np.rint(within.mean(-1)).astype(np.uint8))
    beyond = within.copy()
    beyond[0, 0] = (10, 13, 10)
    assert channel_spread(beyond) == 3 and collapse_channels(beyond, "x.png").shape == (16, 16, 3)


def test_grayscale_jpegs_stay_one_channel_and_the_decisions_are_logged(tmp_path, nnunet_dirs, capsys):
    raw, _ = nnunet_dirs
    (tmp_path / "images").mkdir()
    gray = gray_image(seed=3)
    # a real JPEG of a grey picture stored in colour: decoding rounds each channel on its own
    Image.fromarray(np.stack([gray] * 3, axis=-1)).save(tmp_path / "images" / "jpeg.jpg", quality=90)
    save_image(tmp_path / "images" / "rounded.png", _near_gray(1, 1))
    save_image(tmp_path / "images" / "plain.png", gray)
    names = ["jpeg.jpg", "rounded.png", "plain.png"]
    for name in names:
        save_image(tmp_path / "masks" / f"{name.split('.')[0]}.png", square_mask())
    assert _convert(tmp_path, write_csv(tmp_path / "r.csv", [(n, "report") for n in names]), 41) == 0
    out = raw / "Dataset041_Colour"
    assert load_json(out / "dataset.json")["channel_names"] == {"0": "image"}  # not tripled
    assert read_png(out / "imagesTr" / "rounded_0000.png").shape == (16, 16)
    decisions = load_json(out / "conversion_log.json")["colour_images"]
    assert set(decisions["collapsed_to_grayscale"]) == {"jpeg", "rounded"} and decisions["kept_as_colour"] == {}
    assert decisions["collapsed_to_grayscale"]["rounded"] == 2
    printed = capsys.readouterr().out
    assert "2 colour-stored image(s) collapsed to grayscale" in printed and "rounded (2)" in printed


def test_real_colour_is_kept_and_named(tmp_path, nnunet_dirs, capsys):
    raw, _ = nnunet_dirs
    colour = _near_gray(0, 1)
    colour[4:8, 4:8] = (200, 40, 40)  # a red annotation: real colour
    save_image(tmp_path / "images" / "marked.png", colour)
    save_image(tmp_path / "images" / "rounded.png", _near_gray(2, 1))
    for stem in ("marked", "rounded"):
        save_image(tmp_path / "masks" / f"{stem}.png", square_mask())
    assert _convert(tmp_path, write_csv(tmp_path / "r.csv", [("marked.png", "a"), ("rounded.png", "b")]), 42) == 0
    out = raw / "Dataset042_Colour"
    assert load_json(out / "dataset.json")["channel_names"] == {"0": "R", "1": "G", "2": "B"}
    assert np.array_equal(read_png(out / "imagesTr" / "marked_0000.png"), colour)
    decisions = load_json(out / "conversion_log.json")["colour_images"]
    assert decisions["kept_as_colour"] == {"marked": 160}
    assert list(decisions["collapsed_to_grayscale"]) == ["rounded"]
    printed = capsys.readouterr().out
    assert "1 colour-stored image(s) kept as colour" in printed and "marked (160)" in printed
