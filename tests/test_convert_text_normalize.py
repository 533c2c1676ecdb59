"""Conservative report normalisation: layout artefacts only, never the wording."""
import pytest

from nnunet_tgc.text.normalize import normalize_report, normalize_reports


@pytest.mark.parametrize("raw, expected", [
    ("Bilateral pulmonary infection, two infected areas,  middle lower left lung.",
     "Bilateral pulmonary infection, two infected areas, middle lower left lung."),
    ("all left lung and all right lung..", "all left lung and all right lung."),
    ("  line one\nline\ttwo\u00a0three.  ", "line one line two three."),  # a wrapped sentence
    ("Opacity in the left\nlower zone.\nRight lung: clear.", "Opacity in the left lower zone.\nRight lung: clear."),
    ("Lungs:\n- Upper zones: clear\n- Lower zone \u2014 R: opacity",
     "Lungs:\n- Upper zones: clear\n- Lower zone \u2014 R: opacity"),
    ("A - trachea central\nB - patchy opacity LMZ", "A - trachea central\nB - patchy opacity LMZ"),
    # list items, ward-note symbols, chat timestamps and abbreviated field titles open a line of their own
    ("(a) The left base\n(b) The right lower lobe", "(a) The left base\n(b) The right lower lobe"),
    ("CXR: L base opacity\n\u00d8 effusion", "CXR: L base opacity\n\u00d8 effusion"),
    ("[08:09] Tom: RLZ opacities\n[08:10] Tom: left lung clear", "[08:09] Tom: RLZ opacities\n[08:10] Tom: left lung clear"),
    ("Site: The left lower lobe\nNo. of lesions: 1", "Site: The left lower lobe\nNo. of lesions: 1"),
    # a clinician's note: "CXR (PA) - ..." and a dated "CXR 22.01.22: ..." open a line (the line before has no stop)
    ("ECG: SR 74, normal axis\nCXR (PA) - opacity in the left base",
     "ECG: SR 74, normal axis\nCXR (PA) - opacity in the left base"),
    ("ECG: SR 88, nil acute\nCXR 22.01.22: RML opacity", "ECG: SR 88, nil acute\nCXR 22.01.22: RML opacity"),
    # a line in another script, a period that right-to-left text moved to a line's start, a table row: each ends a
    # statement
    ("Opacity in the right lung\n(\u0628\u0627\u0644\u0639\u0631\u0628\u064a)\nThe left lung is clear.",
     "Opacity in the right lung\n(\u0628\u0627\u0644\u0639\u0631\u0628\u064a)\nThe left lung is clear."),
    (".Opacity in the left base\nThe right lung is clear.", ".Opacity in the left base\nThe right lung is clear."),
    ("Right upper zone | 0.07 | neg\nRight lower zone | 0.97 | positive",
     "Right upper zone | 0.07 | neg\nRight lower zone | 0.97 | positive"),
    # underlined words lose their underscores; a key in snake case keeps them
    ("CXR: _R lower zone_ opacity; zone_R_upper = 0", "CXR: R lower zone opacity; zone_R_upper = 0"),
    # a delimited export's rows, each on its line; its tabs become " | "
    ("ID|STATUS|LATERALITY|SITE\n1|Active|R|Lower zone of right lung",
     "ID|STATUS|LATERALITY|SITE\n1|Active|R|Lower zone of right lung"),
    ("id,zone_R_upper,zone_R_lower,n_lesions\nC19-2,FALSE,TRUE,1",
     "id,zone_R_upper,zone_R_lower,n_lesions\nC19-2,FALSE,TRUE,1"),
    ('"ID"\t"Right upper"\t"Right lower"\n"C19-1"\t"no"\t"yes"',
     '"ID" | "Right upper" | "Right lower"\n"C19-1" | "no" | "yes"'),
    ("Opacity in the right upper, middle, lower zones and\nthe left base.",
     "Opacity in the right upper, middle, lower zones and the left base."),
    # each field of a structured export on its own line
    ("observation[1].bodySite = Left lung\nobservation[1].interpretation = N",
     "observation[1].bodySite = Left lung\nobservation[1].interpretation = N"),
    # a line break stays one (structured reports: a heading's line, a table row), blank lines go
    ("Normal: the right lung. \r\n\r\n  Abnormal:\tleft basal opacity.\n",
     "Normal: the right lung.\nAbnormal: left basal opacity."),
    ("Unilateral pulmonary infection, one infected areas, middle left lung.",
     "Unilateral pulmonary infection, one infected areas, middle left lung."),  # typo kept
    ("uncertain... follow up", "uncertain... follow up"),  # an ellipsis is not a doubled period
    ("lung.. Next sentence.", "lung. Next sentence."),
    # a word hyphenated at a line's end whole again; a compound keeps its hyphen, a list's dash stays
    ("HAZY DENSITY IN BOTH BAS-\nES, PER-\nIPHERAL. LOW-\nER ZONES",
     "HAZY DENSITY IN BOTH BASES, PERIPHERAL. LOWER ZONES"),
    ("opacity on the left-\nsided chest wall, ground-\nglass", "opacity on the left-sided chest wall, ground-glass"),
    ("Opacity in the left base -\n- heart normal", "Opacity in the left base -\n- heart normal"),
    # the request's line, a line in brackets: statements of their own
    ("Clinical details: fever, cough\nOpacity in the left base",
     "Clinical details: fever, cough\nOpacity in the left base"),
    ("Indication:\n?pneumonia\nOpacity in the left base", "Indication:\n?pneumonia\nOpacity in the left base"),
    ("(Total 2 lesions)\nLeft base opacity", "(Total 2 lesions)\nLeft base opacity"),
    # a note's line that opens with a side and a zone in shorthand, unless the line before wants what follows
    ("+ opac R LZ, x3 foci\nR UZ+MZ clear", "+ opac R LZ, x3 foci\nR UZ+MZ clear"),
    ("opacity in the\nR LZ", "opacity in the R LZ"),
    # a slide's nested bullets
    ("\u2022 Hazy change\n\u25e6 Right lung: spared\no Left lung lower zone", "\u2022 Hazy change\n\u25e6 Right lung: "
     "spared\no Left lung lower zone"),
    # a line that starts at a bullet item's column, not under its text, is a statement of its own; one under the
    # item's text continues it
    ("CXR:\n  - opacity at the left base\n  right lung clear", "CXR:\n- opacity at the left base\nright lung clear"),
    ("CXR:\n  - opacity at the left base\n    and in the left mid zone",
     "CXR:\n- opacity at the left base and in the left mid zone"),
    ("1. Asthma\n2. Gout\nI reviewed her today", "1. Asthma\n2. Gout\nI reviewed her today"),
    # a note without a single stop is written line by line: each line is a statement, unless it ends wanting more
    ("PA CXR\nCONSOLIDATION IN RLZ ONE PATCH\nLEFT LUNG LOOKS OK\nNO PTX",
     "PA CXR\nCONSOLIDATION IN RLZ ONE PATCH\nLEFT LUNG LOOKS OK\nNO PTX"),
    ("patchy opacity in the\nleft lower zone\nheart ok", "patchy opacity in the left lower zone\nheart ok"),
    # ... also a chat whose only stops are questions
    ("Raj 09:05\nanything on the right?\nNadia 09:06\nright totally clear\nheart size fine",
     "Raj 09:05\nanything on the right?\nNadia 09:06\nright totally clear\nheart size fine"),
    ("Temp 38.4\nopacity in the left\nlower zone", "Temp 38.4\nopacity in the left lower zone"),
    ("Patchy opacity in the right\nlower zone and the left base\nHeart ok",
     "Patchy opacity in the right lower zone and the left base\nHeart ok"),
    ("Opacity in the left\nlower zone.", "Opacity in the left lower zone."),
    # a YAML export's keys, a form's row of tick boxes and a log's key=value line each keep their line
    ("findings:\n  lungs:\n    right:\n      opacity: true\n      zones: [mid]\nimpression: Right mid zone opacity.",
     "findings:\nlungs:\nright:\nopacity: true\nzones: [mid]\nimpression: Right mid zone opacity."),
    ("Location of finding(s)\n      Right   Left\n  Upper zone  [ ]   [X]\n  Lower zone  [X]   [ ]\nRemarks: none",
     "Location of finding(s)\nRight Left\nUpper zone [ ] [X]\nLower zone [X] [ ]\nRemarks: none"),
    ("ts=1 level=info finding=consolidation location=RLZ\nts=2 level=info event=report.signed by=\"Dr A\"",
     "ts=1 level=info finding=consolidation location=RLZ\nts=2 level=info event=report.signed by=\"Dr A\""),
    # Markdown's bold and heading marks
    ("## Findings\n- **Lungs:** opacity in the left base", "Findings\n- Lungs: opacity in the left base"),
    # a grammar checker's edits accepted: struck and deleted words out, inserted ones in, lines as they then end
    ("[-hx-]{+History:+} cough.\n[-opacty rt lwr-]{+Opacity in the right lower+} zone.",
     "History: cough.\nOpacity in the right lower zone."),
    ("- ~~lt~~ **Left** lower ~~zn~~ **zone** clear.", "- Left lower zone clear."),
    # a grid's rows of bare marks keep their lines
    ("Zone   RIGHT   LEFT\n  Upper zone   -   X\n  Lower zone   X   -", "Zone RIGHT LEFT\nUpper zone - X\nLower zone X -"),
    # a bullet item ends where the next line starts left of its bullet
    ("  \u2022 your right lung, in the middle part\nYour left lung is clear.",
     "\u2022 your right lung, in the middle part\nYour left lung is clear."),
    ("Cafe\u0301", "Caf\u00e9"),  # NFC: the same text compares (and caches) equal
    ("", ""),
])
def test_normalize_report(raw, expected):
    assert normalize_report(raw) == expected


def test_normalize_is_idempotent_and_maps_dicts():
    reports = {"a": "x  y..", "b": "z"}
    once = normalize_reports(reports)
    assert once == {"a": "x y.", "b": "z"} and normalize_reports(once) == once


def test_non_text_is_refused():
    with pytest.raises(TypeError, match="must be a string"):
        normalize_report(float("nan"))
