"""QaTa-COV19 converter: the real LViT-layout subset, and generated LViT/LanGuideMedSeg layouts."""
import numpy as np
import pandas as pd
import pytest

from _convert_helpers import (load_json, make_pairs, nnunet_dirs, read_png, run_cli,  # noqa: F401
                              write_csv)
from nnunet_tgc.text.normalize import normalize_report


@pytest.fixture(scope="module")
def real_qata(tmp_path_factory, shared_data):
    """The real 1250-case subset converted once with the official split."""
    source = shared_data("QaTa-COV19-subset")
    root = tmp_path_factory.mktemp("qata")
    raw, pre = root / "raw", root / "pre"
    assert run_cli(["convert", "qata", source, "-d", 501, "--nnunet-raw", raw,
                    "--nnunet-preprocessed", pre, "--official-split"]) == 0
    return source, raw / "Dataset501_QaTaCOV19", pre / "Dataset501_QaTaCOV19"


def _stems(folder):
    return sorted(p.name[:-4] for p in folder.iterdir() if p.suffix == ".png")


def test_real_counts_and_names(real_qata):
    source, out, _ = real_qata
    train, val = _stems(source / "Train_Folder" / "img"), _stems(source / "Val_Folder" / "img")
    assert (len(train), len(val)) == (1000, 250)
    images = sorted(p.name for p in (out / "imagesTr").iterdir())
    assert images == sorted(f"{s}_0000.png" for s in train + val)
    assert _stems(out / "labelsTr") == sorted(train + val)
    assert list((out / "imagesTs").glob("*.png")) == []
    dataset = load_json(out / "dataset.json")
    assert dataset["numTraining"] == 1250 and dataset["file_ending"] == ".png"
    assert dataset["channel_names"] == {"0": "xray"}
    assert dataset["labels"] == {"background": 0, "infection": 1}
    assert dataset["reports_file"] == "reports.json" and dataset["tgc_laterality"] == "image"
    names = load_json(out / "case_names.json")
    assert names["covid_1000"] == "covid_1000.png" and len(names) == 1250


def test_real_pixels_and_labels(real_qata):
    source, out, _ = real_qata
    for stem in _stems(source / "Val_Folder" / "img")[:40]:
        original = read_png(source / "Val_Folder" / "img" / f"{stem}.png")
        mask = read_png(source / "Val_Folder" / "labelcol" / f"mask_{stem}.png")
        label = read_png(out / "labelsTr" / f"{stem}.png")
        assert np.array_equal(read_png(out / "imagesTr" / f"{stem}_0000.png"), original)
        assert set(np.unique(label)) <= {0, 1}
        assert np.array_equal(label, (mask == 255).astype(np.uint8))


def test_real_reports_match_workbooks(real_qata):
    source, out, _ = real_qata
    table = pd.concat([pd.read_excel(source / "Train_Folder" / "Train_text.xlsx"),
                       pd.read_excel(source / "Val_Folder" / "Val_text.xlsx")])
    expected = {name[len("mask_"):-len(".png")]: text for name, text in zip(table.Image, table.Description)}
    original, reports = load_json(out / "reports_original.json"), load_json(out / "reports.json")
    assert original == expected
    assert reports == {k: normalize_report(v) for k, v in expected.items()}
    changed = [k for k in reports if reports[k] != original[k]]
    assert changed and all("  " in original[k] and "  " not in reports[k] for k in changed)


def test_real_official_split(real_qata):
    source, out, pre = real_qata
    splits = load_json(pre / "splits_final.json")
    assert splits == load_json(out / "splits_final.json")
    assert len(splits) == 1
    assert splits[0]["train"] == _stems(source / "Train_Folder" / "img")
    assert splits[0]["val"] == _stems(source / "Val_Folder" / "img")


def test_real_passes_nnunet_integrity_check(real_qata, monkeypatch):
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity
    _, out, pre = real_qata
    monkeypatch.setenv("nnUNet_raw", str(out.parent))
    monkeypatch.setenv("nnUNet_preprocessed", str(pre.parent))
    verify_dataset_integrity(str(out), num_processes=2)  # raises on any problem


def test_real_limit(nnunet_dirs, shared_data):
    source = shared_data("QaTa-COV19-subset")
    raw, _ = nnunet_dirs
    assert run_cli(["convert", "qata", source, "-d", 502, "--limit", 4]) == 0
    dataset = raw / "Dataset502_QaTaCOV19"
    assert load_json(dataset / "dataset.json")["numTraining"] == 8  # 4 train + 4 val rows
    first = pd.read_excel(source / "Train_Folder" / "Train_text.xlsx").Image[:4]
    ids = set(load_json(dataset / "reports.json"))
    assert {n[len("mask_"):-len(".png")] for n in first} <= ids


def _lvit_folder(root, folder, table, names, texts):
    make_pairs(root / folder / "img", root / folder / "labelcol", names, mask_prefix="mask_")
    frame = pd.DataFrame({"Image": [f"mask_{n}.png" for n in names], "Description": texts})
    frame.to_excel(root / folder / table, index=False)


def test_generated_lvit_layout_with_test_folder(tmp_path, nnunet_dirs):
    raw, pre = nnunet_dirs
    source = tmp_path / "QaTa"
    _lvit_folder(source, "Train_Folder", "Train_text.xlsx", ["covid_1", "covid_2", "covid_3"],
                 ["Unilateral pulmonary infection, one infected area, lower left lung."] * 3)
    _lvit_folder(source, "Val_Folder", "Val_text.xlsx", ["covid_4"], ["Bilateral  pulmonary infection.."])
    _lvit_folder(source, "Test_Folder", "Test_text.xlsx", ["covid_5", "covid_6"], ["a", "b"])
    assert run_cli(["convert", "qata", source, "-d", 7, "--official-split"]) == 0
    out = raw / "Dataset007_QaTaCOV19"
    assert _stems(out / "labelsTr") == ["covid_1", "covid_2", "covid_3", "covid_4"]
    assert sorted(p.name for p in (out / "imagesTs").glob("*.png")) == ["covid_5_0000.png", "covid_6_0000.png"]
    assert _stems(out / "labelsTs") == ["covid_5", "covid_6"]
    assert load_json(out / "imagesTs" / "reports.json") == {"covid_5": "a", "covid_6": "b"}
    assert load_json(out / "imagesTs" / "reports_original.json") == {"covid_5": "a", "covid_6": "b"}
    assert load_json(out / "reports.json")["covid_4"] == "Bilateral pulmonary infection."
    assert load_json(out / "reports_original.json")["covid_4"] == "Bilateral  pulmonary infection.."
    assert load_json(out / "dataset.json")["numTraining"] == 4
    assert load_json(pre / "Dataset007_QaTaCOV19" / "splits_final.json") == [
        {"train": ["covid_1", "covid_2", "covid_3"], "val": ["covid_4"]}]


def test_generated_languidemedseg_csv_layout(tmp_path, nnunet_dirs):
    """prompt/train.csv + prompt/test.csv; the official split is LanGuideMedSeg's first 80 %."""
    raw, pre = nnunet_dirs
    source = tmp_path / "QaTa-COV19-v2"
    train = [f"covid_{i}" for i in range(10)]
    make_pairs(source / "Train" / "Images", source / "Train" / "GTs", train, mask_prefix="mask_")
    make_pairs(source / "Test" / "Images", source / "Test" / "GTs", ["covid_t"], mask_prefix="mask_")
    write_csv(source / "prompt" / "train.csv", [(f"mask_{n}.png", f"report {n}") for n in train])
    write_csv(source / "prompt" / "test.csv", [("mask_covid_t.png", "test report")])
    assert run_cli(["convert", "qata", source, "-d", 8, "-n", "QaTaCSV", "--official-split"]) == 0
    out = raw / "Dataset008_QaTaCSV"
    assert load_json(pre / "Dataset008_QaTaCSV" / "splits_final.json") == [
        {"train": sorted(train[:8]), "val": sorted(train[8:])}]
    assert load_json(out / "imagesTs" / "reports.json") == {"covid_t": "test report"}
    assert (out / "labelsTs" / "covid_t.png").is_file()
