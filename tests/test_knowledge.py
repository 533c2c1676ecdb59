import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from nnunet_tgc.text.knowledge import KnowledgeBase, KnowledgeBaseError  # noqa: E402
from text_reports import KNOWLEDGE_DIR  # noqa: E402


@pytest.fixture(scope="module")
def kb():
    return KnowledgeBase.load()


def ids(entries):
    return [e.id for e in entries]


def test_shipped_files_load(kb):
    assert {p.name for p in KNOWLEDGE_DIR.glob("*.json")} >= {"findings.json", "anatomy.json", "counts.json", "modalities.json"}
    assert len(kb) == len({e.id for e in kb.entries}) > 30
    assert kb["lower_zone"].category == "zone"


def test_qata_report(kb):
    report = "Bilateral pulmonary infection, two infected areas, all left lung and middle lower right lung."
    assert ids(kb.match(report)) == [
        "bilateral", "infection", "count_two", "whole_lung", "left_lung", "middle_zone", "lower_zone", "right_lung",
    ]


def test_longest_term_wins_and_no_duplicates(kb):
    m = ids(kb.match("Left lung and left lung; LEFT."))
    assert m == ["left_lung", "left_side"]  # "left lung" as one term, then the bare side
    # "no pulmonary infection" is one term; "zero infected areas" is the zero count, not an infection
    assert ids(kb.match("No pulmonary infection, zero infected areas.")) == ["no_infection", "count_zero"]


def test_word_boundaries_and_case(kb):
    assert kb.match("leftover righteous allergy uppercase") == []
    assert ids(kb.match("GROUND GLASS opacity, ground-glass, Groundglass")) == ["ground_glass_opacity"]
    assert ids(kb.match("chest xray of COVID19")) == ["xray", "covid19"]


@pytest.mark.parametrize("word, n", [("one", "one"), ("two", "two"), ("nine", "nine"), ("seven", "seven")])
def test_count_words(kb, word, n):
    assert f"count_{n}" in ids(kb.match(f"Unilateral pulmonary infection, {word} infected areas, middle left lung."))


def test_descriptions_fit_clip_context(kb):
    import open_clip
    tok = open_clip.get_tokenizer("ViT-B-16")
    for e in kb.entries:
        assert len(tok.encode(e.description)) + 2 <= 77, e.id  # + start/end tokens


def test_fingerprint_tracks_content(tmp_path, kb):
    assert kb.fingerprint() == KnowledgeBase.load().fingerprint()
    for p in KNOWLEDGE_DIR.glob("*.json"):
        data = json.loads(p.read_text(encoding="utf-8"))
        (tmp_path / p.name).write_text(json.dumps(data, indent=4), encoding="utf-8")
    assert KnowledgeBase.load(tmp_path).fingerprint() == kb.fingerprint()  # formatting does not count
    data = json.loads((tmp_path / "counts.json").read_text())
    data[0]["description"] += " Changed."
    (tmp_path / "counts.json").write_text(json.dumps(data))
    assert KnowledgeBase.load(tmp_path).fingerprint() != kb.fingerprint()


def test_fingerprint_tracks_spelled_out_words(tmp_path, kb):
    for p in KNOWLEDGE_DIR.glob("*.json"):
        (tmp_path / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    data = json.loads((tmp_path / "anatomy.json").read_text())
    next(e for e in data if e["id"] == "right_lower_lobe")["spelled_out"]["rll"] = "right basal lobe"
    (tmp_path / "anatomy.json").write_text(json.dumps(data))
    assert KnowledgeBase.load(tmp_path).fingerprint() != kb.fingerprint()


@pytest.mark.parametrize("written, spelled", [
    ("Patchy GGOs RLZ; L lung clear; RUZ/RMZ clear.",
     "Patchy ground-glass opacities right lower zone; left lung clear; right upper zone/right middle zone clear."),
    ("B/L airspace dz, Lt-sided effusion, RLL and LUL, CP angles", "bilateral airspace disease, left-sided effusion, "
     "right lower lobe and left upper lobe, costophrenic angles"),
    ("R sided opac, Rt IJ line, SVC", "right-sided opacity, right internal jugular line, superior vena cava"),
    # units and hyphen-joined words are no terms and stay; a term is spelled out whatever its case ("Lll")
    ("O2 2 L/min, RT-PCR positive, Lll. rule out", "O2 2 L/min, RT-PCR positive, left lower lobe. rule out"),
    ("Bilateral pulmonary infection, two infected areas, all left lung and middle lower right lung.",
     "Bilateral pulmonary infection, two infected areas, all left lung and middle lower right lung."),
])
def test_spell_out_writes_abbreviated_terms_in_full(kb, written, spelled):
    assert kb.spell_out(written) == spelled


def test_every_abbreviation_reads_as_the_words_it_stands_for(kb):
    """A spelled-out abbreviation is found as its entry, and its words match that entry or name the entry's side and
    zone, and state the entry's places: the text tower reads the words, and they mean what the abbreviation does."""
    from nnunet_tgc.text.places import read_places
    pairs = [(e, a, words) for e in kb.entries for a, words in e.spelled_out]
    assert len(pairs) > 30
    for entry, abbreviation, words in pairs:
        # the abbreviation, in capitals as reports write it, is found as its own entry
        found = kb.find(f"Opacity {abbreviation.upper()}.")
        assert [e.id for _, _, e in found][-1] == entry.id, abbreviation
        words_entries = kb.match(f"Opacity {words}.")
        assert entry in words_entries or {e.category for e in words_entries[1:]} >= {"side", "zone"}, (abbreviation,
                                                                                                           words)
        sides, zones = entry.sides or ("left", "right"), entry.zones or ("upper", "middle", "lower")
        stated = {(s, z) for s in sides for z in zones} if entry.sides or entry.zones else set()
        assert read_places(f"Opacity in the {words}.", kb).involved == stated, (abbreviation, words)


def _write(tmp_path, entries, name="bad.json"):
    (tmp_path / name).write_text(json.dumps(entries) if not isinstance(entries, str) else entries)
    return tmp_path


GOOD = {"id": "x", "category": "c", "domain": "general", "terms": ["x"], "description": "d"}


@pytest.mark.parametrize("entries, pattern", [
    ("[1,", r"bad.json.*not valid JSON.*line 1"),
    ({"id": "x"}, "bad.json.*JSON list"),
    ([GOOD, {**GOOD, "id": "y", "terms": []}], r"bad.json: entry #1 \(id 'y'\).*'terms'"),
    ([{**GOOD, "term": ["x"]}], r"entry #0.*unknown \['term'\]"),
    ([{**GOOD, "id": "Bad Id"}], "lower-case identifier"),
    ([{k: v for k, v in GOOD.items() if k != "domain"}], r"entry #0.*missing \['domain'\]"),
    ([{**GOOD, "place": {"sides": ["up"]}}], r"entry #0.*place 'sides' must be a list of \['left', 'right'\]"),
    ([{**GOOD, "place": {"lobe": "x"}}], r"entry #0.*'place' must be an object with 'sides' and/or 'zones'"),
    ([GOOD, {**GOOD, "terms": ["z"]}], "Duplicate knowledge id 'x'"),
    ([GOOD, {**GOOD, "id": "y", "terms": ["X"]}], "term 'X' of 'y' is already a term of 'x'"),
    ([{**GOOD, "spelled_out": {"q": "queue"}}], r"entry #0.*'spelled_out' names \['q'\], which are not terms"),
    ([{**GOOD, "spelled_out": {"x": ""}}], r"entry #0.*'spelled_out' must map abbreviated terms"),
])
def test_bad_files_name_file_and_entry(tmp_path, entries, pattern):
    with pytest.raises(KnowledgeBaseError, match=pattern):
        KnowledgeBase.load(_write(tmp_path, entries))


def test_empty_dir(tmp_path):
    with pytest.raises(KnowledgeBaseError, match="No knowledge files"):
        KnowledgeBase.load(tmp_path)


def _real_reports(folder: Path):
    """The reports of one shared real data set: MosMedData+'s text files or QaTa's training workbook."""
    if folder.name == "MosMedDataPlus-text":
        texts = []
        for csv in sorted(folder.glob("*.csv")):
            texts += [line.split(";", 1)[1] for line in csv.read_text(encoding="utf-8").splitlines()[1:] if ";" in line]
        return texts
    import openpyxl
    ws = openpyxl.load_workbook(folder / "Train_Folder" / "Train_text.xlsx", read_only=True).active
    return [str(r[1]) for r in ws.iter_rows(min_row=2, values_only=True) if r[1]]


@pytest.mark.parametrize("source", ["MosMedDataPlus-text", "QaTa-COV19-subset"])
def test_real_reports_all_have_side_or_no_infection(kb, shared_data, source):
    texts = _real_reports(shared_data(source))
    assert len(texts) > 100
    for t in texts:
        cats = {e.category for e in kb.match(t)}
        assert "count" in cats, t
        assert "side" in cats or "no_infection" in ids(kb.match(t)), t


def test_domains_keep_chest_terms_out_of_other_reports(kb):
    """A dataset declares which knowledge applies: a bone report's "lower limb" and "left side" must never
    light a lung zone; with the chest domain the zone is read."""
    bone = "One benign osteochondroma lesion in the femur of the lower limb (frontal view), located in the left side."
    assert kb.domains == ["chest", "none"]
    none = kb.for_domain("none")
    assert ids(none.match(bone)) == ["count_one", "lesion", "left_side"]
    assert not {e.category for e in none.entries} & {"zone", "lobe", "organ", "finding"} - {"finding"}
    assert "outside_the_lungs" in ids(kb.for_domain("chest").match(bone))  # chest knowledge: a limb is no lung
    # ... but it cannot list every bone: what the domain declaration prevents
    assert "lower_zone" in ids(kb.for_domain("chest").match("Osteochondroma of the lower femur."))
    with pytest.raises(KnowledgeBaseError, match="tgc_knowledge_domain must be one of \\['chest', 'none'\\]"):
        kb.for_domain("bone")


# ---------------------------------------------------------------- misspelt place words (text/typos.py)

@pytest.mark.parametrize("typed, meant", [
    ("rigth", "right"),      # two neighbours swapped
    ("rgiht", "right"),
    ("rigjt", "right"),      # one letter replaced
    ("rght", "right"),       # one letter left out
    ("lowr", "lower"),
    ("lowe", "lower"),
    ("midddle", "middle"),   # one letter too many
    ("uooer", "upper"),      # a doubled letter typed as the doubled neighbouring key
    ("bilaterl", "bilateral"),
    ("costophrenci", "costophrenic"),
    ("RIGTH", "right"),      # case does not matter
    ("lingular", "lingula"),  # the adjective reads as its lobe
])
def test_a_word_one_slip_from_a_place_word_reads_as_it(kb, typed, meant):
    assert kb.typo_reading(typed) == meant


@pytest.mark.parametrize("word", [
    "might", "eight", "night", "light", "sight", "fight",  # first letter differs from "right"
    "tower", "power", "mower",                           # ... from "lower"
    "irght",                                             # the first letter is part of the word
    "lfet", "lefft",                                     # "left" is too short to be read through a typo
    "righhtt", "lwore",                                  # two slips: too far
    "utter", "uzzer",                                    # a doubled letter replaced by a far key's
    "while", "whose", "based", "basis", "sites", "sized", "interior", "hemothorax",  # English words
    "whoke",                                             # "whole" or "whose": ambiguous
    "basas",                                             # "basal", "bases" or "basis": ambiguous
])
def test_words_that_are_not_read_as_place_words(kb, word):
    assert kb.typo_reading(word) is None


def test_a_known_word_is_never_corrected(kb):
    """Every word of every term (count words like "eight" included) and the listed English words read as
    themselves, even where they are one edit from a place word ("lung"/"lungs", "zone"/"zones")."""
    from nnunet_tgc.text.knowledge import _term_words
    from nnunet_tgc.text.typos import COMMON_WORDS
    words = {w for e in kb.entries for t in e.terms for w in _term_words(t)} | COMMON_WORDS
    assert {"eight", "lung", "zone", "lobe", "sides"} <= words
    assert [w for w in sorted(words) if kb.typo_reading(w) is not None] == []


def test_one_edit_rule():
    from nnunet_tgc.text.typos import one_edit
    assert one_edit("rigth", "right") and one_edit("lowr", "lower") and one_edit("lowerr", "lower")
    assert one_edit("uooer", "upper") and one_edit("uller", "upper")  # o and l sit next to p
    assert not one_edit("utter", "upper") and not one_edit("loer", "upper") and not one_edit("rgith", "right")
    assert not one_edit("lower", "low") and not one_edit("lwore", "lower") and one_edit("lwoer", "lower")


def test_misspelt_terms_are_found_where_they_were_typed(kb):
    chest = kb.for_domain("chest")
    text = "Opacity in the rigth lowr lobe, the Lft lung is clear; Rigth-sided effusion."
    found = [(text[s:e], entry.id) for s, e, entry in chest.find(text)]
    assert found == [("Opacity", "opacity"), ("rigth lowr lobe", "right_lower_lobe"), ("lung", "lung"),
                     ("Rigth-sided", "right_side"), ("effusion", "pleural_effusion")]  # "Lft": too short
    # every span is cut from the text as typed, so rewording and withholding replace the word itself
    assert ids(chest.match("Consolidation of the left lowr lobe.")) == ["consolidation", "left_lower_lobe"]
    assert ids(chest.match("uooer middle left lung")) == ["upper_zone", "middle_zone", "left_lung"]


def test_typos_are_read_only_into_the_domains_place_words(kb):
    none = kb.for_domain("none")
    assert none.typo_reading("rigth") == "right"       # the sides of the image are general knowledge
    assert none.typo_reading("lowr") is None           # a lung zone is not a place in another domain
    assert kb.for_domain("chest").typo_reading("lowr") == "lower"


def test_region_words_from_anatomy(kb):
    """Where on a frontal chest image the region words point (zones only: their side, if any, comes
    from the side word beside them, so that mirroring and the side convention stay word swaps)."""
    expected = {"suprahilar": ("upper", "middle"), "infrahilar": ("middle", "lower"),
                "paracardiac": ("middle", "lower"), "retrocardiac": ("lower",),
                "cardiophrenic_angle": ("lower",), "infraclavicular": ("upper",)}
    for entry_id, zones in expected.items():
        entry = kb[entry_id]
        assert entry.domain == "chest" and entry.zones == zones and entry.sides == (), entry_id
    assert ids(kb.match("Left infra-hilar and right supra-hilar opacities, hilum, hila, perihilar")) == \
        ["left_side", "infrahilar", "right_side", "suprahilar", "opacity", "hilum", "central"]
    # the hila are an entry of their own: a place where involved, but "hila normal" frees no middle zone
    assert {"hilum", "hila"} <= set(kb["hilum"].terms) and kb["hilum"].zones == ("middle",)
    assert "perihilar" in kb["central"].terms
