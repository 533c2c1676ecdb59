import argparse
import json
import os
import shutil

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from nnunet_tgc.synthetic import make_text_decides_dataset  # noqa: E402
from nnunet_tgc.text.check import (  # noqa: E402
    add_parser,
    check_dataset,
    report_statistics,
    run_check,
)
from nnunet_tgc.text.knowledge import KnowledgeBase  # noqa: E402
from nnunet_tgc.text.reports import load_reports, save_reports  # noqa: E402


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return make_text_decides_dataset(tmp_path_factory.mktemp("raw"), dataset_id=42, name="Check",
                                     n_train=6, n_test=3, seed=1)


@pytest.fixture
def dataset(pristine, tmp_path, monkeypatch):
    """A fresh copy to break, registered in nnUNet_raw."""
    folder = tmp_path / "raw" / pristine.name
    shutil.copytree(pristine, folder)
    monkeypatch.setenv("nnUNet_raw", str(tmp_path / "raw"))
    monkeypatch.delenv("nnUNet_preprocessed", raising=False)
    monkeypatch.delenv("nnUNet_results", raising=False)
    return folder


def _edit(path, fn):
    reports = load_reports(path)
    fn(reports)
    save_reports(reports, path)


def test_clean_dataset_passes_by_id_name_and_path(dataset, capsys):
    assert run_check("42") == 0
    out = capsys.readouterr().out
    assert "imagesTr: 6 reports" in out and "imagesTs: 3 reports" in out
    assert "longest in CLIP tokens" in out and "0 exceed the 77-token context" in out
    assert "left_lung" in out and "OK: every case has a report" in out
    assert run_check(dataset.name, stats=False) == 0
    assert run_check(str(dataset), stats=False) == 0


def test_every_problem_is_listed(dataset, capsys):
    def break_train(r):
        del r["train_0001"], r["train_0004"]
        r["train_0002"] = "   "
        r["train_9999"] = "a report without an image"
        r["train_0003"] = "Bilateral opacitÃ© in both lungs."
    _edit(dataset / "reports.json", break_train)
    _edit(dataset / "imagesTs" / "reports.json", lambda r: r.pop("test_0002"))
    assert run_check("42") == 1
    out = capsys.readouterr().out
    assert "5 problem(s)" in out
    assert "2 case(s) in imagesTr have no report: train_0001, train_0004" in out
    assert "1 report(s) are empty: train_0002" in out
    assert "not in imagesTr" in out and "train_9999" in out
    assert "wrongly encoded" in out and "train_0003" in out
    assert "imagesTs" in out and "test_0002" in out


def test_unreadable_files(dataset, capsys):
    (dataset / "reports.json").write_bytes('{"train_0000": "opacité"}'.encode("latin-1"))
    (dataset / "imagesTs" / "reports.json").write_text('{"test_0000": 5}')
    assert run_check("42", stats=False) == 1
    out = capsys.readouterr().out
    assert "not valid UTF-8" in out and "not a string" in out and "test_0000" in out


def test_missing_reports_file_and_custom_location(dataset, capsys):
    (dataset / "reports.json").rename(dataset / "texts.json")
    assert run_check("42", stats=False) == 1
    assert "Reports file not found" in capsys.readouterr().out
    dj = json.loads((dataset / "dataset.json").read_text())
    dj["reports_file"] = "texts.json"
    (dataset / "dataset.json").write_text(json.dumps(dj))
    assert run_check("42", stats=False) == 0


def test_missing_test_reports(dataset, capsys):
    (dataset / "imagesTs" / "reports.json").unlink()
    assert run_check("42", stats=False) == 1
    assert "imagesTs" in capsys.readouterr().out


def test_unknown_dataset(dataset, capsys):
    assert run_check("43") == 1
    assert "cannot find dataset" in capsys.readouterr().out


def test_laterality_note(dataset):
    dj = json.loads((dataset / "dataset.json").read_text())
    del dj["tgc_laterality"]
    (dataset / "dataset.json").write_text(json.dumps(dj))
    splits, problems, notes = check_dataset(dataset)
    assert not problems and any("tgc_laterality" in n for n in notes)


def test_statistics_count_tokens_and_chunking():
    import open_clip
    tok = open_clip.get_tokenizer("ViT-B-16")
    long = " ".join(["Bilateral ground-glass opacity in the lower left lung."] * 12)
    reports = {"a": "Unilateral pulmonary infection, one infected area, lower right lung.", "b": long, "c": long}
    stats = report_statistics(reports, KnowledgeBase.load(), tok)
    assert stats["reports"] == 3 and stats["distinct"] == 2
    assert stats["words_min"] == 9 and stats["words_max"] == 96
    assert stats["tokens_max_case"] == "b" and stats["tokens_max"] > 77 and stats["over_context"] == 2
    assert dict(stats["kb_entries"])["lower_zone"] == 3
    assert dict(stats["terms"])["lower"] == 25 and "the" not in dict(stats["terms"])


def test_parser_registration():
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["check", "Dataset001_X", "--no-stats"])
    assert args.dataset == "Dataset001_X" and args.no_stats and callable(args.func)


def _set_laterality(dataset, value):
    dj = json.loads((dataset / "dataset.json").read_text())
    dj["tgc_laterality"] = value
    (dataset / "dataset.json").write_text(json.dumps(dj))


def test_laterality_declared_and_measured_against_the_masks(dataset, capsys):
    assert run_check(str(dataset), stats=False) == 0
    out = capsys.readouterr().out
    assert "imagesTr: laterality convention 'image'; measured on" in out and "100% of the mask" in out
    assert "warning" not in out
    # declared from the patient's side, the same reports contradict the masks: a warning, not a failure
    _set_laterality(dataset, "patient")
    assert run_check(str(dataset), stats=False) == 0
    out = capsys.readouterr().out
    assert "warning: imagesTr: the masks contradict the laterality convention 'patient'" in out
    assert "they fit 'image'" in out and "0% of the mask" in out


def test_test_reports_declare_their_own_convention(dataset, capsys):
    from nnunet_tgc.text.laterality import swap_left_right
    test_reports = dataset / "imagesTs" / "reports.json"
    reports = load_reports(test_reports)
    # written from the patient's side and declared so: read on the image side, they fit the masks
    save_reports({**{c: swap_left_right(t) for c, t in reports.items()}, "tgc_laterality": "patient"}, test_reports)
    splits, problems, _ = check_dataset(dataset)
    assert not problems
    assert [s.convention for s in splits] == ["image", "patient"]
    assert splits[1].prepared == reports  # the model reads what the image-side file said
    assert run_check(str(dataset), stats=False) == 0
    out = capsys.readouterr().out
    assert "imagesTs: laterality convention 'patient'; measured on" in out and "warning" not in out


def test_bad_or_misplaced_convention_is_a_problem(dataset):
    reports = load_reports(dataset / "reports.json")
    save_reports({**reports, "tgc_laterality": "patient"}, dataset / "reports.json")
    _, problems, _ = check_dataset(dataset)
    assert any("reports.json" in p and "dataset.json" in p and "tgc_laterality" in p for p in problems)
    save_reports(reports, dataset / "reports.json")
    _set_laterality(dataset, "radiological")
    _, problems, _ = check_dataset(dataset)
    assert any("dataset.json" in p and "'radiological'" in p for p in problems)
