"""``nnunet-tgc places``: each report's places as the model reads them, in the image's sides."""
import json

from nnunet_tgc.cli import main as cli_main


def test_places_of_each_report_in_the_image_convention(tmp_path, capsys):
    reports = {"tgc_laterality": "patient", "tgc_allow_no_report": True,
               "a": "Consolidation in the left lower lobe; right lung clear.",
               "b": "Pulmonary infection.",
               "c": "No opacity in the right upper, middle or lower zones, left lower zone consolidation.",
               "d": None, "e": "Patchy GGOs RLZ; L lung clear."}
    (tmp_path / "reports.json").write_text(json.dumps(reports))
    out = tmp_path / "reads.json"
    assert cli_main(["places", str(tmp_path / "reports.json"), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "laterality 'patient'" in printed
    # the patient's left is the image's right
    assert "a: involved: right lower | free: left upper, left middle, left lower" in printed
    assert "b: involved: nothing placed" in printed and "d: no report" in printed
    assert "2 of 5 report(s) place nothing" in printed
    reads = json.loads(out.read_text())
    # an abbreviating report also shows what the text tower reads; the others are read as written
    assert reads["e"]["spelled_out"] == "Patchy ground-glass opacities left lower zone; right lung clear."
    assert reads["e"]["involved"] == ["left lower"] and "spelled_out" not in reads["a"]
    assert reads["c"]["involved"] == ["right lower"] and reads["c"]["free"] == ["left upper", "left middle", "left lower"]
    # as written, and without chest knowledge: a lobe is no place, "left"/"right" still are
    assert cli_main(["places", str(tmp_path / "reports.json"), "--laterality", "image", "--domain", "none"]) == 0
    assert "a: involved: left upper, left middle, left lower" in capsys.readouterr().out


def test_a_side_read_as_a_whole_is_pointed_out(tmp_path, capsys):
    # a side word with no zone on its side is the whole side: meant in "f", a side word of something no rule
    # knows in "g" (a loop recorder), not where a zone is named on that side ("h")
    reports = {"f": "Right-sided airspace opacity.", "g": "Left lower zone opacity. Right loop recorder in place.",
               "h": "Bilateral opacities, worst in the right lower zone."}
    (tmp_path / "reports.json").write_text(json.dumps(reports))
    out = tmp_path / "reads.json"
    assert cli_main(["places", str(tmp_path / "reports.json"), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "f: involved: right upper, right middle, right lower | whole right lung: a side word without a zone" in printed
    reads = json.loads(out.read_text())
    assert reads["f"]["whole_sides"] == ["right"] and reads["g"]["whole_sides"] == ["right"]
    assert reads["h"]["whole_sides"] == ["left"]  # "bilateral" names the left lung with no zone on it
    assert "2 of 3" not in printed and "3 of 3 report(s) name a side without any zone" in printed


def test_a_bad_file_or_domain_is_an_error_naming_it(tmp_path, capsys):
    bad = tmp_path / "reports.json"
    bad.write_text("{not json")
    assert cli_main(["places", str(bad)]) == 1
    assert str(bad) in capsys.readouterr().err
    bad.write_text(json.dumps({"a": "Left lung."}))
    assert cli_main(["places", str(bad), "--domain", "bone"]) == 1
    assert "bone" in capsys.readouterr().err
