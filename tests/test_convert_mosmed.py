"""MosMedData+ converter: the real LViT text files with generated frames/ and masks/."""
import numpy as np
import pandas as pd
import pytest

from _convert_helpers import (gray_image, load_json, nnunet_dirs, read_png, run_cli,  # noqa: F401
                              save_image, square_mask)


def _tables(text_dir):
    found = {}
    for path in text_dir.iterdir():
        split = path.name.split("_")[0].lower()
        found[split] = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    return found


def _generate(source, names, empty_every=5):
    """16x16 frames and masks under the real names; every 5th mask is empty, as on real slices."""
    for index, name in enumerate(names):
        save_image(source / "frames" / name, gray_image(seed=index))
        save_image(source / "masks" / name, square_mask(value=0 if index % empty_every == 0 else 255))


def test_all_real_rows(tmp_path, nnunet_dirs, shared_data):
    text_dir = shared_data("MosMedDataPlus-text")
    raw, pre = nnunet_dirs
    tables = _tables(text_dir)
    names = [n for split in ("train", "val", "test") for n in tables[split].Image]
    _generate(tmp_path, names)
    assert run_cli(["convert", "mosmed", tmp_path, "--text-dir", text_dir, "-d", 11, "--official-split"]) == 0
    out = raw / "Dataset011_MosMedDataPlus"

    dataset = load_json(out / "dataset.json")
    assert dataset["numTraining"] == 2183 + 273 and dataset["numTest"] == 273
    assert dataset["channel_names"] == {"0": "CT"} and dataset["tgc_laterality"] == "unknown"
    test_ids = {n[:-4] for n in tables["test"].Image}
    assert {p.name[:-len("_0000.png")] for p in (out / "imagesTs").glob("*.png")} == test_ids
    assert set(load_json(out / "imagesTs" / "reports.json")) == test_ids
    split = load_json(pre / "Dataset011_MosMedDataPlus" / "splits_final.json")[0]
    assert split["train"] == sorted(n[:-4] for n in tables["train"].Image)
    assert split["val"] == sorted(n[:-4] for n in tables["val"].Image)

    # text: the artefact "lung.." is repaired, the original is kept, wording is untouched
    original, reports = load_json(out / "reports_original.json"), load_json(out / "reports.json")
    doubled = [k for k, v in original.items() if v.endswith("..")]
    assert doubled and all(reports[k] == original[k][:-1] for k in doubled)
    assert any("one infected areas" in v for v in reports.values())
    assert original == {n[:-4]: t for name in ("train", "val") for n, t in
                        zip(tables[name].Image, tables[name].text)}

    # empty masks stay empty, others become 0/1
    first = names[0][:-4]
    assert not read_png(out / "labelsTr" / f"{first}.png").any()
    second = names[1][:-4]
    assert set(np.unique(read_png(out / "labelsTr" / f"{second}.png"))) == {0, 1}


def test_subset_of_images_with_skip_bad(tmp_path, nnunet_dirs, shared_data):
    """Only some images exist: without --skip-bad the missing ones are an error naming the
    text file; with it they are skipped and listed."""
    text_dir = shared_data("MosMedDataPlus-text")
    raw, _ = nnunet_dirs
    tables = _tables(text_dir)
    present = [n for t in tables.values() for n in t.Image[:3]]
    _generate(tmp_path, present)
    args = ["convert", "mosmed", tmp_path, "--text-dir", text_dir, "-d", 12]
    assert run_cli(args) == 1
    assert not (raw / "Dataset012_MosMedDataPlus").exists()

    assert run_cli(args + ["--skip-bad"]) == 0
    out = raw / "Dataset012_MosMedDataPlus"
    assert load_json(out / "dataset.json")["numTraining"] == 6
    skipped = load_json(out / "conversion_log.json")["skipped"]
    assert len(skipped) == 2183 + 273 + 273 - 9
    assert all("report for a missing image" in s["reason"] for s in skipped)


def test_limit_takes_first_rows_of_each_file(tmp_path, nnunet_dirs, capsys, shared_data):
    text_dir = shared_data("MosMedDataPlus-text")
    raw, _ = nnunet_dirs
    tables = _tables(text_dir)
    _generate(tmp_path, [n for t in tables.values() for n in t.Image[:2]])
    assert run_cli(["convert", "mosmed", tmp_path, "--text-dir", text_dir, "-d", 13, "--limit", 2]) == 0
    out = raw / "Dataset013_MosMedDataPlus"
    assert load_json(out / "dataset.json")["numTest"] == 2
    assert set(load_json(out / "imagesTs" / "reports.json")) == {n[:-4] for n in tables["test"].Image[:2]}


def test_explicit_text_file_and_mask_prefix(tmp_path, nnunet_dirs):
    """--train-text names the file; masks may carry a mask_ prefix."""
    raw, _ = nnunet_dirs
    names = ["bjorke_1.png", "bjorke_2.png"]
    for index, name in enumerate(names):
        save_image(tmp_path / "frames" / name, gray_image(seed=index))
        save_image(tmp_path / "masks" / f"mask_{name}", square_mask())
    table = tmp_path / "texts" / "my_train.csv"
    table.parent.mkdir()
    table.write_text("Image;text\nbjorke_1.png;Left lung, two areas..\nbjorke_2.png;Right lung.\n",
                     encoding="utf-8")
    assert run_cli(["convert", "mosmed", tmp_path, "--train-text", table, "-d", 14]) == 0
    reports = load_json(raw / "Dataset014_MosMedDataPlus" / "reports.json")
    assert reports == {"bjorke_1": "Left lung, two areas.", "bjorke_2": "Right lung."}


def test_missing_train_text_is_a_clear_error(tmp_path, nnunet_dirs, capsys):
    (tmp_path / "frames").mkdir()
    (tmp_path / "masks").mkdir()
    assert run_cli(["convert", "mosmed", tmp_path, "-d", 15]) == 1
    assert "Train_text" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["Train_text_MosMedData+ 1(in).csv", "Train_text.xlsx"])
def test_text_file_discovery(tmp_path, name):
    from nnunet_tgc.convert.mosmed import find_text_files
    (tmp_path / name).write_text("x")
    assert find_text_files(tmp_path) == {"train": tmp_path / name}
