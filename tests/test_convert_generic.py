"""Generic converter: image formats, table formats, NIfTI volumes, label maps and options."""
import json

import numpy as np
import pandas as pd
import pytest

from _convert_helpers import (gray_image, load_json, make_pairs, nnunet_dirs, read_png,  # noqa: F401
                              run_cli, save_image, square_mask, write_csv)


def _convert(tmp_path, table, *extra, dataset_id=20, name="Generic"):
    return run_cli(["convert", "generic", "--images", tmp_path / "images", "--masks", tmp_path / "masks",
                    "--table", table, "-d", dataset_id, "-n", name, "--laterality", "image", *extra])


def _verify(folder, monkeypatch):
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity
    monkeypatch.setenv("nnUNet_raw", str(folder.parent))
    verify_dataset_integrity(str(folder), num_processes=1)


def test_jpeg_png_and_csv(tmp_path, nnunet_dirs, monkeypatch):
    raw, _ = nnunet_dirs
    gray = gray_image(seed=1)
    save_image(tmp_path / "images" / "a.png", gray)
    save_image(tmp_path / "images" / "b.jpg", gray)  # grayscale JPEG
    save_image(tmp_path / "images" / "c.jpeg", np.stack([gray] * 3, axis=-1))  # gray saved as RGB
    for stem in "abc":
        save_image(tmp_path / "masks" / f"{stem}.png", square_mask())
    table = write_csv(tmp_path / "reports.csv", [("a.png", "r a"), ("b.jpg", "r b"), ("c.jpeg", "r c")])
    assert _convert(tmp_path, table) == 0
    out = raw / "Dataset020_Generic"
    assert load_json(out / "dataset.json")["channel_names"] == {"0": "image"}
    assert np.array_equal(read_png(out / "imagesTr" / "a_0000.png"), gray)
    for stem in "bc":  # JPEG decoded once, stored single-channel and lossless
        assert read_png(out / "imagesTr" / f"{stem}_0000.png").shape == (16, 16)
    assert load_json(out / "case_names.json") == {"a": "a.png", "b": "b.jpg", "c": "c.jpeg"}
    assert load_json(out / "reports.json") == {"a": "r a", "b": "r b", "c": "r c"}
    _verify(out, monkeypatch)


def test_colour_images_stay_rgb_in_one_file(tmp_path, nnunet_dirs, monkeypatch):
    raw, _ = nnunet_dirs
    colour = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    save_image(tmp_path / "images" / "col.png", colour)
    save_image(tmp_path / "images" / "gray.png", gray_image())  # promoted to RGB: one channel count
    for stem in ("col", "gray"):
        save_image(tmp_path / "masks" / f"{stem}.png", square_mask())
    table = write_csv(tmp_path / "r.csv", [("col.png", "x"), ("gray.png", "y")])
    assert _convert(tmp_path, table) == 0
    out = raw / "Dataset020_Generic"
    assert load_json(out / "dataset.json")["channel_names"] == {"0": "R", "1": "G", "2": "B"}
    assert np.array_equal(read_png(out / "imagesTr" / "col_0000.png"), colour)
    promoted = read_png(out / "imagesTr" / "gray_0000.png")
    assert promoted.shape == (16, 16, 3) and np.array_equal(promoted[..., 2], gray_image())
    assert not list((out / "imagesTr").glob("*_0001.png"))
    _verify(out, monkeypatch)


@pytest.mark.parametrize("kind", ["tsv", "json_rows", "json_object", "xlsx"])
def test_table_formats(tmp_path, nnunet_dirs, kind):
    raw, _ = nnunet_dirs
    make_pairs(tmp_path / "images", tmp_path / "masks", ["p1", "p2"])
    reports = {"p1.png": "Nodule, left lobe; 3 mm.", "p2.png": "Ünïcode report\twith tab"}
    extra = []
    if kind == "tsv":
        table = write_csv(tmp_path / "r.tsv", list(reports.items()), sep="\t")
    elif kind == "json_rows":
        table = tmp_path / "r.json"
        table.write_text(json.dumps([{"file": k, "report": v} for k, v in reports.items()]), encoding="utf-8")
        extra = ["--image-column", "file", "--text-column", "report"]
    elif kind == "json_object":
        table = tmp_path / "r.json"
        table.write_text(json.dumps(reports), encoding="utf-8")
    else:
        table = tmp_path / "r.xlsx"
        pd.DataFrame({"name": list(reports), "findings": list(reports.values()), "other": [1, 2]}).to_excel(
            table, index=False)
        extra = ["--image-column", "name", "--text-column", "findings"]
    assert _convert(tmp_path, table, *extra) == 0
    out = raw / "Dataset020_Generic"
    assert load_json(out / "reports_original.json") == {"p1": reports["p1.png"], "p2": reports["p2.png"]}
    assert load_json(out / "reports.json")["p2"] == "Ünïcode report with tab"


def test_nifti_volumes_with_one_report_each(tmp_path, nnunet_dirs, monkeypatch):
    import SimpleITK as sitk
    raw, _ = nnunet_dirs
    rows = []
    for index, stem in enumerate(["vol1", "vol2"]):
        array = np.random.default_rng(index).normal(size=(4, 8, 8)).astype(np.float32)
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((0.8, 0.8, 2.5))
        image.SetOrigin((10.0, -5.0, 3.0))
        mask = np.zeros((4, 8, 8), dtype=np.uint8)
        mask[1:3, 2:5, 2:5] = 1
        mask_image = sitk.GetImageFromArray(mask)
        mask_image.SetSpacing((0.8, 0.8, 2.5))  # origin left at 0: the image's geometry is copied
        (tmp_path / "images").mkdir(exist_ok=True)
        (tmp_path / "masks").mkdir(exist_ok=True)
        sitk.WriteImage(image, str(tmp_path / "images" / f"{stem}.nii.gz"))
        sitk.WriteImage(mask_image, str(tmp_path / "masks" / f"mask_{stem}.nii.gz"))
        rows.append((f"{stem}.nii.gz", f"CT report {index}"))
    table = write_csv(tmp_path / "r.csv", rows)
    assert _convert(tmp_path, table, "--channel-name", "CT") == 0
    out = raw / "Dataset020_Generic"
    dataset = load_json(out / "dataset.json")
    assert dataset["file_ending"] == ".nii.gz" and dataset["channel_names"] == {"0": "CT"}
    label = sitk.ReadImage(str(out / "labelsTr" / "vol1.nii.gz"))
    assert label.GetOrigin() == pytest.approx((10.0, -5.0, 3.0))
    assert sitk.GetArrayFromImage(label).sum() == 2 * 3 * 3
    assert sorted(load_json(out / "reports.json")) == ["vol1", "vol2"]
    _verify(out, monkeypatch)


def test_tiff_16_bit_and_mask_value_map(tmp_path, nnunet_dirs):
    import tifffile
    raw, _ = nnunet_dirs
    image = np.arange(256, dtype=np.uint16).reshape(16, 16) * 200
    (tmp_path / "images").mkdir()
    tifffile.imwrite(tmp_path / "images" / "t.tif", image)
    mask = np.zeros((16, 16), dtype=np.uint8)
    mask[:4], mask[4:8] = 128, 255
    save_image(tmp_path / "masks" / "t.png", mask)
    table = write_csv(tmp_path / "r.csv", [("t", "two structures")])  # name without extension
    assert _convert(tmp_path, table, "--mask-values", "0=0,128=1,255=2",
                    "--label-names", "lesion,organ") == 0
    out = raw / "Dataset020_Generic"
    assert np.array_equal(read_png(out / "imagesTr" / "t_0000.png"), image)
    label = read_png(out / "labelsTr" / "t.png")
    assert (label[:4] == 1).all() and (label[4:8] == 2).all() and (label[8:] == 0).all()
    assert load_json(out / "dataset.json")["labels"] == {"background": 0, "lesion": 1, "organ": 2}


def test_split_column_laterality_and_safe_ids(tmp_path, nnunet_dirs):
    raw, pre = nnunet_dirs
    make_pairs(tmp_path / "images", tmp_path / "masks", ["case 1", "case.2", "c3"])
    table = write_csv(tmp_path / "r.csv", [("case 1.png", "x", "train"), ("case.2.png", "y", "validation"),
                                           ("c3.png", "z", "test")],
                      header=("Image", "Description", "subset"))
    assert _convert(tmp_path, table, "--split-column", "subset", "--laterality", "patient",
                    "--official-split", "--description", "demo", "--reference", "me") == 0
    out = raw / "Dataset020_Generic"
    dataset = load_json(out / "dataset.json")
    assert dataset["tgc_laterality"] == "patient"
    assert (dataset["description"], dataset["reference"]) == ("demo", "me")
    assert load_json(out / "case_names.json") == {"case_1": "case 1.png", "case_2": "case.2.png", "c3": "c3.png"}
    assert (out / "imagesTr" / "case_1_0000.png").is_file()
    assert load_json(out / "imagesTs" / "reports.json") == {"c3": "z"}
    assert load_json(pre / "Dataset020_Generic" / "splits_final.json") == [{"train": ["case_1"], "val": ["case_2"]}]


def test_masks_in_image_folder_and_jpeg_mask(tmp_path, nnunet_dirs):
    """mask_ files next to the images are masks; a lossy JPEG mask is thresholded."""
    raw, _ = nnunet_dirs
    save_image(tmp_path / "all" / "x.png", gray_image())
    save_image(tmp_path / "all" / "mask_x.jpg", square_mask())
    table = write_csv(tmp_path / "r.csv", [("x.png", "report")])
    assert run_cli(["convert", "generic", "--images", tmp_path / "all", "--masks", tmp_path / "all",
                    "--table", table, "-d", 21, "-n", "Same", "--laterality", "image"]) == 0
    label = read_png(raw / "Dataset021_Same" / "labelsTr" / "x.png")
    assert np.array_equal(label, (square_mask() > 0).astype(np.uint8))
