import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from nnunet_tgc.text.reports import (  # noqa: E402
    MissingReportError,
    ReportsFileError,
    find_training_reports,
    load_reports,
    reports_file_for_dataset,
    require_reports,
    save_reports,
    reports_file_for_test_set,
)


def test_roundtrip_keeps_unicode_and_sorts_keys(tmp_path):
    reports = {"b": "Opacité basale gauche.", "a": "Bilateral pulmonary infection."}
    path = save_reports(reports, tmp_path / "sub" / "reports.json")
    text = path.read_text(encoding="utf-8")
    assert "Opacité" in text  # ensure_ascii=False
    assert text.index('"a"') < text.index('"b"')
    assert load_reports(path) == reports
    assert [p.name for p in path.parent.iterdir()] == ["reports.json"]  # no temp file left


def test_save_is_atomic_on_failure(tmp_path):
    path = save_reports({"a": "old"}, tmp_path / "reports.json")
    with pytest.raises(TypeError):
        save_reports({"a": object()}, path)
    assert load_reports(path) == {"a": "old"}
    assert len(list(tmp_path.iterdir())) == 1


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(ReportsFileError, match="not found.*nope.json"):
        load_reports(tmp_path / "nope.json")


def test_invalid_json_reports_line_and_column(tmp_path):
    p = tmp_path / "reports.json"
    p.write_text('{\n  "a": "x",\n  "b": \n}', encoding="utf-8")
    with pytest.raises(ReportsFileError) as e:
        load_reports(p)
    assert str(p) in str(e.value) and "line 4, column 1" in str(e.value)


@pytest.mark.parametrize("content, pattern", [
    ('["a", "b"]', "JSON object.*found a list"),
    ('{"a": "x", "case_7": 3, "case_2": null}', "case_2, case_7.*not a string"),
])
def test_wrong_shapes(tmp_path, content, pattern):
    p = tmp_path / "reports.json"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(ReportsFileError, match=pattern):
        load_reports(p)


def test_not_utf8(tmp_path):
    p = tmp_path / "reports.json"
    p.write_bytes('{"a": "opacité"}'.encode("latin-1"))
    with pytest.raises(ReportsFileError, match="not valid UTF-8"):
        load_reports(p)


def test_utf8_bom_is_accepted(tmp_path):
    p = tmp_path / "reports.json"
    p.write_bytes(b"\xef\xbb\xbf" + b'{"a": "x"}')
    assert load_reports(p) == {"a": "x"}


def test_reports_file_for_dataset(tmp_path):
    assert reports_file_for_dataset(tmp_path, {}) == tmp_path / "reports.json"
    assert reports_file_for_dataset(tmp_path, {"reports_file": "text/r.json"}) == tmp_path / "text" / "r.json"
    (tmp_path / "dataset.json").write_text(json.dumps({"reports_file": "other.json"}))
    assert reports_file_for_dataset(tmp_path) == tmp_path / "other.json"


def test_reports_file_for_test_set_default_and_key(tmp_path):
    assert reports_file_for_test_set(tmp_path, {}) == tmp_path / "imagesTs" / "reports.json"
    assert reports_file_for_test_set(tmp_path, {"test_reports_file": "t.json"}) == tmp_path / "t.json"


def test_require_reports_lists_every_missing_case():
    reports = {"a": "text", "b": "  ", "c": "more"}
    with pytest.raises(MissingReportError) as e:
        require_reports(reports, ["a", "b", "c", "d", "e"], "/x/reports.json")
    assert e.value.missing == ["b", "d", "e"]
    msg = str(e.value)
    assert "b, d, e" in msg and "/x/reports.json" in msg and "nnunet-tgc check" in msg
    assert isinstance(e.value, KeyError) and isinstance(e.value, ValueError)
    assert require_reports(reports, ["c", "a"], "x") == {"c": "more", "a": "text"}


def _dataset(root, name="Dataset123_Foo", reports=None, dataset_json=None):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "dataset.json").write_text(json.dumps(dataset_json or {}))
    if reports is not None:
        save_reports(reports, reports_file_for_dataset(folder))
    return folder


def test_find_training_reports_prefers_preprocessed(tmp_path, monkeypatch):
    raw = _dataset(tmp_path / "raw", reports={"a": "raw"})
    pre = _dataset(tmp_path / "pre", reports={"a": "pre"})
    monkeypatch.setenv("nnUNet_raw", str(tmp_path / "raw"))
    monkeypatch.setenv("nnUNet_preprocessed", str(tmp_path / "pre"))
    monkeypatch.delenv("nnUNet_results", raising=False)
    assert find_training_reports(123) == pre / "reports.json"
    assert find_training_reports("Dataset123_Foo") == pre / "reports.json"
    (pre / "reports.json").unlink()  # preprocessed without reports: fall back to raw
    assert find_training_reports("123") == raw / "reports.json"


def test_find_training_reports_honours_reports_file_key(tmp_path, monkeypatch):
    raw = _dataset(tmp_path / "raw", dataset_json={"reports_file": "texts.json"}, reports={"a": "x"})
    monkeypatch.setenv("nnUNet_raw", str(tmp_path / "raw"))
    monkeypatch.delenv("nnUNet_preprocessed", raising=False)
    monkeypatch.delenv("nnUNet_results", raising=False)
    assert find_training_reports(123) == raw / "texts.json"


def test_find_training_reports_error_lists_what_was_tried(tmp_path, monkeypatch):
    raw = _dataset(tmp_path / "raw")
    monkeypatch.setenv("nnUNet_raw", str(tmp_path / "raw"))
    monkeypatch.delenv("nnUNet_preprocessed", raising=False)
    monkeypatch.delenv("nnUNet_results", raising=False)
    with pytest.raises(ReportsFileError, match="Dataset123_Foo.*" + str(raw / "reports.json")):
        find_training_reports(123)
