"""The rewording generator (nnunet_tgc.text.rewording): its template parser, and every style keeping
the facts (sides, zones, number of areas) while changing the words.

The facts of an output are read back by a small reader written here, independent of the generator
(and of the model's reader): abbreviations and lobes expanded, negative sentences set aside.
"""
import random
import re
from pathlib import Path

import pytest

from nnunet_tgc.text.rewording import (STYLES, Facts, Place, case_rng, parse_report, reword, reword_reports,
                                       swap_sides)

# invented reports in the template's vocabulary
LEFT = "Unilateral pulmonary infection, one infected area, lower left lung."
RIGHT2 = "Unilateral pulmonary infection, two infected areas, middle lower right lung."
BOTH = "Bilateral pulmonary infection, three infected areas, upper left lung and all right lung."
SAME = "Bilateral pulmonary infection, two infected areas, lower left lung and lower right lung."
WHOLE = "Bilateral pulmonary infection, four infected areas, all left lung and all right lung."
NONE = "No pulmonary infection, zero infected areas."
TYPICAL = (LEFT, RIGHT2, BOTH, SAME, WHOLE)


# ---------------------------------------------------------------- the parser

@pytest.mark.parametrize("text, facts", [
    (LEFT, Facts("unilateral", 1, (Place("left", ("lower",)),))),
    (RIGHT2, Facts("unilateral", 2, (Place("right", ("middle", "lower")),))),
    (BOTH, Facts("bilateral", 3, (Place("left", ("upper",)), Place("right", (), True)))),
    (NONE, Facts("none", 0, ())),
    # the template's own irregularities: no space after a comma, "lung" once for both sides, typos,
    # "higher" for upper, glued zones, a doubled side, MosMedData+'s bare "left lung" and "one infected areas"
    ("Bilateral pulmonary infection,two infected areas,lower left and all right lung.",
     Facts("bilateral", 2, (Place("left", ("lower",)), Place("right", (), True)))),
    ("Bilateral pulmonary infection, two infected areas, lowe left lung and midddle right lung.",
     Facts("bilateral", 2, (Place("left", ("lower",)), Place("right", ("middle",))))),
    ("Bilateral pulmonary infection, three infected areas, higher left lung and upperlower right lung.",
     Facts("bilateral", 3, (Place("left", ("upper",)), Place("right", ("upper", "lower"))))),
    ("Unilateral pulmonary infection, one infected area, upper middle right right lung.",
     Facts("unilateral", 1, (Place("right", ("upper", "middle")),))),
    ("Unilateral pulmonary infection, one infected areas, left lung.", Facts("unilateral", 1, (Place("left", (), True),))),
    ("Bilateral pulmonary infection, nine infected areas, all left lung and all right lung..",
     Facts("bilateral", 9, (Place("left", (), True), Place("right", (), True)))),
])
def test_parser_reads_the_template(text, facts):
    assert parse_report(text) == facts


@pytest.mark.parametrize("text", [
    "Pulmonary infection.",
    "Patchy opacity in the left lower zone.",
    "Bilateral pulmonary infection, three infected areas, all left lung and upper lower lung.",  # a side missing
    "Unilateral pulmonary infection, one infected areas, left lung and middle right lung.",     # unilateral, two sides
    "Bilateral pulmonary infection, two infected areas, lower left lung.",                       # bilateral, one side
    "Bilateral pulmonary infection, two infected areas, lower left lung and upper left lung.",   # one side twice
    "No pulmonary infection, two infected areas.",
    "", None,
])
def test_parser_refuses_what_it_cannot_read(text):
    assert parse_report(text) is None


def test_unreadable_reports_are_returned_unchanged_and_counted():
    reports = {"a": LEFT, "b": "Pulmonary infection.", "c": "Something else entirely."}
    for style in STYLES[:-1]:
        result = reword_reports(reports, style, seed=0)
        assert result.reports["b"] == "Pulmonary infection." and result.reports["c"] == "Something else entirely."
        assert result.unchanged == ["b", "c"] and result.reports["a"] != LEFT
    # patient swaps any text; only a text without a side word stays as it was
    patient = reword_reports(reports, "patient")
    assert patient.reports["a"] == LEFT.replace("left", "right") and patient.unchanged == ["b", "c"]
    with pytest.raises(ValueError, match="unknown rewording style"):
        reword(LEFT, "poetic", random.Random(0))


# ---------------------------------------------------------------- an independent reader of the outputs

_EXPAND = {"rul": "right upper", "rml": "right middle", "rll": "right lower", "lul": "left upper",
           "lll": "left lower", "lingula": "left middle", "l": "left", "lt": "left", "r": "right", "rt": "right",
           "mid": "middle", "higher": "upper", "base": "lower", "bases": "lower", "basal": "lower", "bibasilar": "both lower",
           "perihilar": "middle", "b/l": "both", "bilat": "both", "bilateral": "both", "bilaterally": "both",
           "entire": "whole", "all": "whole", "diffuse": "whole", "diffusely": "whole"}
_NUMBERS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}
_NEGATIVE = re.compile(r"^no\b|\bis clear\b|\blungs clear\b|\bclear lungs\b|\bare clear\b")


def sentences(text):
    return [s.strip() for s in re.split(r"(?<=\.)\s+|;\s*", text) if s.strip()]


def read_back(text):
    """(sides, zones named, whole lung named, count, negative sentences) of a reworded report."""
    positive = [s for s in sentences(text) if not _NEGATIVE.search(s.lower())]
    negative = [s for s in sentences(text) if _NEGATIVE.search(s.lower())]
    words = []
    for token in re.findall(r"b/l|[a-z]+|\d+", " ".join(positive).lower()):
        if token not in _EXPAND:  # the template's typos, which negation keeps ("alll", "upperlower")
            token = re.sub(r"(upper|middle|lower)(?=upper|middle|lower)", r"\1 ", re.sub(r"([a-z])\1\1+", r"\1\1", token))
        words += " ".join(_EXPAND.get(t, t) for t in token.split()).split()
    words = [w for i, w in enumerate(words)  # "all lower left lung": all of the lower zone, not the whole lung
             if not (w == "whole" and i + 1 < len(words) and words[i + 1] in ("upper", "middle", "lower"))]
    sides = {"left", "right"} & set(words)
    if "both" in words:
        sides = {"left", "right"}
    zones = {"upper", "middle", "lower"} & set(words)
    joined = " ".join(positive).lower()
    number = r"(\d+|" + "|".join(_NUMBERS) + ")"
    counts = re.findall(rf"\b{number} (?:infected )?(?:areas?|foci|focus|regions?)\b|\bareas: {number}|\bx(\d+)\b|"
                        r"\b(single) focus", joined)
    values = {_NUMBERS.get(w, 1 if w == "single" else int(w) if w.isdigit() else None)
              for match in counts for w in match if w}
    values.discard(None)
    return sides, zones, "whole" in words, values, negative


def expected(facts):
    sides = {p.side for p in facts.places}
    zones = {z for p in facts.places if not p.whole for z in p.zones}
    return sides, zones, any(p.whole for p in facts.places), {facts.count}


def check_meaning(original, reworded, style):
    facts = parse_report(original)
    sides, zones, whole, counts, negative = read_back(reworded)
    want_sides, want_zones, want_whole, want_count = expected(facts)
    assert sides == want_sides, (style, original, reworded)
    assert zones == want_zones, (style, original, reworded)
    assert whole == want_whole, (style, original, reworded)
    assert counts == want_count, (style, original, reworded)
    return negative


# ---------------------------------------------------------------- the styles

@pytest.mark.parametrize("style", STYLES)
def test_every_style_changes_the_words_and_keeps_the_facts(style):
    for text in TYPICAL:
        for seed in range(8):
            out = reword(text, style, case_rng(seed, style, "case"))
            assert out != text, (style, text)
            if style == "patient":
                continue
            negative = check_meaning(text, out, style)
            if style != "negation":
                assert not negative, (style, out)
                assert not re.match(r"(bi|uni)lateral pulmonary infection, \w+ infected", out.lower()), out
            if style not in ("negation", "reordered"):
                assert "pulmonary infection" not in out.lower(), out  # none of the template's words


def test_negation_adds_only_true_negatives():
    for text in TYPICAL:
        facts = parse_report(text)
        sides = {p.side for p in facts.places}
        for seed in range(12):
            out = reword(text, "negation", case_rng(seed, "negation", "c"))
            assert text in out  # the report itself is kept
            negative = check_meaning(text, out, "negation")
            assert negative
            named = {w for s in negative for w in ("left", "right") if re.search(rf"\b{w}\b", s.lower())}
            assert not named & sides, out  # a negative never names an involved side
            if facts.extent == "unilateral":
                assert named == {"left", "right"} - sides, out  # ... and a one-sided report gets the other side


def test_none_report_stays_none_in_every_style():
    for style in STYLES[:-1]:
        out = reword(NONE, style, case_rng(0, style, "c"))
        assert out != NONE and not re.search(r"\b(left|right|upper|middle|lower|bilateral)\b", out.lower()), out


def test_patient_style_swaps_sides_and_is_an_involution():
    for text in (*TYPICAL, "Left: RIGHT? right-sided, leftover bright."):
        out = reword(text, "patient", random.Random(0))
        assert out == swap_sides(text) and swap_sides(out) == text
    assert reword(LEFT, "patient", random.Random(0)) == "Unilateral pulmonary infection, one infected area, lower right lung."
    assert swap_sides("Left: RIGHT? right-sided, leftover bright.") == "Right: LEFT? left-sided, leftover bright."
    flipped = parse_report(reword(BOTH, "patient", random.Random(0)))
    assert flipped == Facts("bilateral", 3, (Place("right", ("upper",)), Place("left", (), True)))


def test_hand_written_examples():
    """A few outputs pinned by hand: what each style reads like (and a wording change is seen here)."""
    got = {style: reword(LEFT, style, case_rng(0, style, "case")) for style in STYLES}
    for style, out in got.items():
        print(f"{style}: {out}")
    assert got["patient"] == "Unilateral pulmonary infection, one infected area, lower right lung."
    assert re.fullmatch(r"(LLL|Entire L lung) .+, 1 (area|focus|region)\.", got["abbreviations"])
    assert re.fullmatch(r"(L|Lt) lower zone (opacity|opac\.|consolidation)\. (Single focus|1 focus)\.", got["terse"])


@pytest.mark.parametrize("style", STYLES)
def test_deterministic_for_a_seed_and_independent_of_other_cases(style):
    reports = {f"c{i}": t for i, t in enumerate(TYPICAL)}
    a = reword_reports(reports, style, seed=5)
    assert a.reports == reword_reports(reports, style, seed=5).reports
    # a case's text depends on (seed, style, case) only, not on the other cases
    assert reword_reports({"c1": RIGHT2}, style, seed=5).reports["c1"] == a.reports["c1"]
    if style != "patient":
        assert any(reword_reports(reports, style, seed=s).reports != a.reports for s in range(6, 9))


def test_styles_vary_their_wording():
    outs = {reword(RIGHT2, "clinical", case_rng(s, "clinical", "c")) for s in range(30)}
    assert len(outs) > 10
    words = " ".join(outs).lower()
    assert sum(w in words for w in ("opacit", "consolidation", "ground-glass", "airspace disease", "infiltrate")) >= 4
    lobes = " ".join(reword(RIGHT2, "lobes", case_rng(s, "lobes", "c")) for s in range(30)).lower()
    assert "right middle" in lobes and "lobe" in lobes
    left_mid = reword("Unilateral pulmonary infection, one infected area, middle left lung.", "abbreviations",
                      case_rng(0, "abbreviations", "c"))
    assert "lingula" in left_mid.lower()


# ---------------------------------------------------------------- on the shared data (template vocabulary only)

def _train_texts(qata: Path):
    import openpyxl
    wb = openpyxl.load_workbook(qata / "Train_Folder" / "Train_text.xlsx", read_only=True)
    return sorted({r[1] for r in wb.active.iter_rows(min_row=2, values_only=True) if r[1]})


def test_every_style_on_the_qata_training_texts(shared_data):
    texts = _train_texts(shared_data("QaTa-COV19-subset"))
    readable = [t for t in texts if parse_report(t)]
    assert len(readable) >= len(texts) - 2  # the template, typos included, is read
    for style in STYLES:
        for i, text in enumerate(readable):
            out = reword(text, style, case_rng(i, style, "c"))
            assert out != text, (style, text)
            if style == "patient":
                assert parse_report(out).meaning() == _mirrored(parse_report(text)).meaning()
            else:
                check_meaning(text, out, style)


def _mirrored(facts):
    return Facts(facts.extent, facts.count, tuple(Place("right" if p.side == "left" else "left", p.zones, p.whole)
                                                  for p in facts.places))


def test_mosmed_texts_are_read_or_counted_unchanged(shared_data):
    import csv
    texts = set()
    for path in shared_data("MosMedDataPlus-text").glob("Train_*.csv"):
        with open(path, newline="", encoding="utf-8") as fh:
            texts |= {row[1] for row in csv.reader(fh, delimiter=";") if row and row[0] != "Image"}
    result = reword_reports({str(i): t for i, t in enumerate(sorted(texts))}, "clinical")
    unreadable = [t for t in texts if parse_report(t) is None]
    assert len(result.unchanged) == len(unreadable) < len(texts) / 4
    # what is not read is MosMedData+'s "Unilateral ..., left lung and ... right lung", which contradicts itself
    assert all(t.startswith("Unilateral") and " and " in t for t in unreadable)
