"""Bad input: every kind gives an error naming the file, or is skipped and listed with --skip-bad;
failures leave no half-written dataset, and nothing is overwritten without --overwrite."""
import numpy as np
import pandas as pd
import pytest

from _convert_helpers import (gray_image, load_json, make_pairs, nnunet_dirs, run_cli,  # noqa: F401
                              save_image, square_mask, write_csv)

GOOD = ["a", "b", "c"]


def _source(tmp_path, extra_rows=()):
    make_pairs(tmp_path / "images", tmp_path / "masks", GOOD)
    rows = [(f"{n}.png", f"report {n}") for n in GOOD] + list(extra_rows)
    return write_csv(tmp_path / "reports.csv", rows)


def _convert(tmp_path, table, *extra, dataset_id=30):
    return run_cli(["convert", "generic", "--images", tmp_path / "images", "--masks", tmp_path / "masks",
                    "--table", table, "-d", dataset_id, "-n", "Bad", "--laterality", "image", *extra])


def _image_without_mask(tmp_path):
    save_image(tmp_path / "images" / "z.png", gray_image())
    return _source(tmp_path, [("z.png", "r")]), "z.png", "image without mask"


def _mask_without_image(tmp_path):
    save_image(tmp_path / "masks" / "mask_z.png", square_mask())
    return _source(tmp_path), "mask_z.png", "mask without image"


def _row_for_missing_image(tmp_path):
    return _source(tmp_path, [("z.png", "r")]), "reports.csv", "report for a missing image 'z.png'"


def _duplicated_row(tmp_path):
    return _source(tmp_path, [("b.png", "again")]), "reports.csv", "duplicated name"


def _duplicated_image(tmp_path):
    table = _source(tmp_path)
    save_image(tmp_path / "images" / "b.jpg", gray_image())
    return table, "b.", "duplicated image name"


def _ids_that_collide(tmp_path):
    make_pairs(tmp_path / "images", tmp_path / "masks", ["z z", "z_z"])
    return _source(tmp_path, [("z z.png", "r"), ("z_z.png", "r")]), "z_z.png", "duplicated name"


def _size_mismatch(tmp_path):
    save_image(tmp_path / "images" / "z.png", gray_image())
    save_image(tmp_path / "masks" / "z.png", square_mask(size=(8, 8), box=(1, 3)))
    return _source(tmp_path, [("z.png", "r")]), "z.png", "size mismatch"


def _mask_with_more_values(tmp_path):
    save_image(tmp_path / "images" / "z.png", gray_image())
    mask = square_mask()
    mask[0, 0] = 128
    save_image(tmp_path / "masks" / "z.png", mask)
    return _source(tmp_path, [("z.png", "r")]), "z.png", "more than expected"


def _image_without_report(tmp_path):
    save_image(tmp_path / "images" / "z.png", gray_image())
    save_image(tmp_path / "masks" / "z.png", square_mask())
    return _source(tmp_path), "z.png", "image without report"


def _empty_report(tmp_path):
    make_pairs(tmp_path / "images", tmp_path / "masks", ["z"])
    return _source(tmp_path, [("z.png", "  ")]), "reports.csv", "empty report"


CASES = [_image_without_mask, _mask_without_image, _row_for_missing_image, _duplicated_row,
         _duplicated_image, _ids_that_collide, _size_mismatch, _mask_with_more_values,
         _image_without_report, _empty_report]


def _leftovers(raw):
    return [p.name for p in raw.iterdir()]


@pytest.mark.parametrize("make_bad", CASES, ids=lambda f: f.__name__.strip("_"))
def test_bad_input_is_an_error_naming_the_file(tmp_path, nnunet_dirs, capsys, make_bad):
    raw, _ = nnunet_dirs
    table, file_name, message = make_bad(tmp_path)
    assert _convert(tmp_path, table) == 1
    err = capsys.readouterr().err
    assert file_name in err and message in err and "--skip-bad" in err
    assert _leftovers(raw) == []  # nothing written, no temporary folder left behind


@pytest.mark.parametrize("make_bad", CASES, ids=lambda f: f.__name__.strip("_"))
def test_bad_input_is_skipped_and_listed(tmp_path, nnunet_dirs, capsys, make_bad):
    raw, _ = nnunet_dirs
    table, file_name, message = make_bad(tmp_path)
    assert _convert(tmp_path, table, "--skip-bad") == 0
    out = capsys.readouterr().out
    assert "skipped:" in out and file_name in out and message in out
    dataset = raw / "Dataset030_Bad"
    reports = load_json(dataset / "reports.json")
    assert set(GOOD) - {"b"} <= set(reports) <= set(GOOD)
    assert "b" in reports or make_bad in (_duplicated_row, _duplicated_image)
    log = load_json(dataset / "conversion_log.json")["skipped"]
    assert log and any(message in s["reason"] for s in log)
    assert sorted(p.name for p in (dataset / "labelsTr").iterdir()) == sorted(f"{k}.png" for k in reports)
    assert load_json(dataset / "dataset.json")["numTraining"] == len(reports)


def test_workbook_with_other_columns(tmp_path, nnunet_dirs, capsys):
    raw, _ = nnunet_dirs
    make_pairs(tmp_path / "images", tmp_path / "masks", GOOD)
    table = tmp_path / "Train_text.xlsx"
    pd.DataFrame({"Filename": [f"{n}.png" for n in GOOD], "Findings": GOOD}).to_excel(table, index=False)
    assert _convert(tmp_path, table, "--skip-bad") == 1  # a whole-file problem cannot be skipped
    err = capsys.readouterr().err
    assert "Train_text.xlsx" in err and "['Filename', 'Findings']" in err and "--image-column" in err
    assert _leftovers(raw) == []


def test_qata_workbook_with_other_columns(tmp_path, nnunet_dirs, capsys):
    folder = tmp_path / "Train_Folder"
    make_pairs(folder / "img", folder / "labelcol", GOOD, mask_prefix="mask_")
    pd.DataFrame({"Image": GOOD, "Findings": GOOD}).to_excel(folder / "Train_text.xlsx", index=False)
    assert run_cli(["convert", "qata", tmp_path, "-d", 31]) == 1
    assert "Train_text.xlsx: no report text column" in capsys.readouterr().err


def test_no_overwrite_without_flag(tmp_path, nnunet_dirs, capsys):
    raw, _ = nnunet_dirs
    table = _source(tmp_path)
    assert _convert(tmp_path, table) == 0
    dataset = raw / "Dataset030_Bad"
    before = (dataset / "reports.json").read_text()
    write_csv(table, [(f"{n}.png", f"new report {n}") for n in GOOD])
    assert _convert(tmp_path, table) == 1
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert (dataset / "reports.json").read_text() == before
    assert _convert(tmp_path, table, "--overwrite") == 0
    assert load_json(dataset / "reports.json")["a"] == "new report a"
    assert _leftovers(raw) == ["Dataset030_Bad"]


def test_failed_overwrite_keeps_the_old_dataset(tmp_path, nnunet_dirs):
    raw, _ = nnunet_dirs
    table = _source(tmp_path)
    assert _convert(tmp_path, table) == 0
    before = (raw / "Dataset030_Bad" / "reports.json").read_text()
    save_image(tmp_path / "masks" / "c.png", square_mask(size=(4, 4), box=(0, 2)))  # now mismatched
    assert _convert(tmp_path, table, "--overwrite") == 1
    assert (raw / "Dataset030_Bad" / "reports.json").read_text() == before
    assert _leftovers(raw) == ["Dataset030_Bad"]


def test_interrupted_conversion_leaves_nothing(tmp_path, nnunet_dirs, monkeypatch):
    """Even Ctrl-C half-way removes the temporary folder."""
    from nnunet_tgc.convert import writer
    raw, _ = nnunet_dirs
    table = _source(tmp_path)
    calls = []
    real = writer.convert_2d_case

    def interrupt_second(*args):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)
    monkeypatch.setattr(writer, "convert_2d_case", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        _convert(tmp_path, table)
    assert _leftovers(raw) == []


def test_dataset_id_used_by_another_name(tmp_path, nnunet_dirs, capsys):
    raw, _ = nnunet_dirs
    (raw / "Dataset030_Other").mkdir()
    assert _convert(tmp_path, _source(tmp_path), "--overwrite") == 1
    err = capsys.readouterr().err
    assert "dataset id 30 is already used by" in err and "Dataset030_Other" in err
    assert _leftovers(raw) == ["Dataset030_Other"]


def test_official_split_needs_val_cases_and_preprocessed(tmp_path, nnunet_dirs, monkeypatch, capsys):
    table = _source(tmp_path)
    assert _convert(tmp_path, table, "--official-split") == 1
    assert "needs validation cases" in capsys.readouterr().err
    monkeypatch.delenv("nnUNet_preprocessed")
    args = ["convert", "generic", "--images", tmp_path / "images", "--masks", tmp_path / "masks",
            "--table", table, "-d", 30, "-n", "Bad", "--official-split", "--laterality", "image"]
    assert run_cli(args) == 1
    assert "nnUNet_preprocessed" in capsys.readouterr().err


def test_stale_split_file(tmp_path, nnunet_dirs, capsys):
    """A splits_final.json from an earlier conversion is never silently reused or replaced."""
    raw, pre = nnunet_dirs
    stale = pre / "Dataset030_Bad" / "splits_final.json"
    stale.parent.mkdir()
    stale.write_text('[{"train": ["old"], "val": ["older"]}]')
    table = _source(tmp_path)
    assert _convert(tmp_path, table) == 1
    assert "splits_final.json exists" in capsys.readouterr().err
    assert _convert(tmp_path, table, "--overwrite") == 0
    assert not stale.exists()


def test_bad_mask_value_map(tmp_path, nnunet_dirs, capsys):
    assert _convert(tmp_path, _source(tmp_path), "--mask-values", "0=0,255=2") == 1
    assert "consecutive labels" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _convert(tmp_path, _source(tmp_path), "--mask-values", "zero")


def test_float_image_is_refused(tmp_path, nnunet_dirs, capsys):
    import tifffile
    table = _source(tmp_path, [("f.tif", "r")])
    tifffile.imwrite(tmp_path / "images" / "f.tif", np.ones((16, 16), dtype=np.float32) / 3)
    save_image(tmp_path / "masks" / "f.png", square_mask())
    assert _convert(tmp_path, table) == 1
    assert "f.tif" in capsys.readouterr().err


def test_null_report_in_json_is_empty_not_text(tmp_path, nnunet_dirs, capsys):
    make_pairs(tmp_path / "images", tmp_path / "masks", GOOD)
    table = tmp_path / "r.json"
    table.write_text('[{"Image": "a.png", "Description": null}, {"Image": "b.png", "Description": "x"},'
                     ' {"Image": "c.png", "Description": "y"}]')
    assert _convert(tmp_path, table) == 1
    assert "r.json: row 2: empty report for 'a.png'" in capsys.readouterr().err
