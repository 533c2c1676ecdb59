"""Reports without their places, counts or laterality words (text/withheld.py), drawn in training so that a report naming no
place leaves the network an image-only segmenter and one counting nothing gets a fitted map; and the place
map's fit to them (nnunet/place_fit.py)."""
import numpy as np
import pytest
import torch

from nnunet_tgc.model import create_towers
from nnunet_tgc.model.place_map import PLACE_CELLS, PlaceMap, fit_place_map, image_grid
from nnunet_tgc.nnunet.place_fit import training_place_targets
from nnunet_tgc.text.cache import TextFeatureCache
from nnunet_tgc.text.knowledge import KnowledgeBase
from nnunet_tgc.text.places import CELLS, place_vector, read_places
from nnunet_tgc.text.withheld import (NO_PLACE_STATEMENT, withhold_batch, withheld_versions, without_counts,
                                     without_laterality_words, without_places)

# written for this test in the ways radiologists place findings: sides, zones, lobes, abbreviations, negation
REPORTS = ["Patchy consolidation in the left lower zone, two foci.",
           "No right-sided opacity. Ground-glass opacity in the LUL and lingula.",
           "Bilateral pulmonary infection, three infected areas, upper left lung and lower right lung.",
           "Bibasal atelectasis, L>R.",
           "Airspace opacity at the right apex and in the RML."]


@pytest.fixture(scope="module")
def chest():
    return KnowledgeBase.load().for_domain("chest")


def test_the_place_free_report_reads_no_place_and_keeps_findings_and_counts(chest):
    for text in REPORTS:
        free = without_places(text, chest)
        places, before = read_places(free, chest), read_places(text, chest)
        assert before.involved and not places.involved and not places.free, (text, free)
        assert places.count == before.count, (text, free)
        assert free[0].isupper() and not free.endswith((" ,", ",.", " .")), free
    assert "consolidation" in without_places(REPORTS[0], chest).lower()
    assert "two" in without_places(REPORTS[0], chest).lower()
    assert "atelectasis" in without_places(REPORTS[3], chest).lower()
    # how many sides is a place fact too: with "unilateral" kept, a place-free one-sided report would still
    # differ from a place-free two-sided one
    assert without_places("Unilateral pulmonary infection, one infected area, lower right lung.", chest) == \
        "Pulmonary infection, one infected area."
    assert without_places("Opacity in one lung only.", chest) == "Opacity."


def test_a_report_of_places_only_becomes_a_finding_without_place(chest):
    assert without_places("Left lung.", chest) == NO_PLACE_STATEMENT
    assert not read_places(NO_PLACE_STATEMENT, chest).involved
    # outside the chest domain only the general side words are places: "lower zone" is no lung zone there
    general = KnowledgeBase.load().for_domain("none")
    assert without_places(REPORTS[0], general) == "Patchy consolidation in the lower zone, two foci."


def test_the_count_free_report_reads_no_count_and_keeps_places_and_findings(chest):
    for text in REPORTS:
        free = without_counts(text, chest)
        before, after = read_places(text, chest), read_places(free, chest)
        assert after.count is None and after.involved == before.involved and after.free == before.free, (text, free)
    assert without_counts(REPORTS[2], chest) == \
        "Bilateral pulmonary infection, infected areas, upper left lung and lower right lung."
    assert without_counts("A single nodule in the RUL.", chest) == "Nodule in the RUL."
    assert without_counts(without_places(REPORTS[0], chest), chest) == "Patchy consolidation, foci."


def test_withhold_batch_draws_each_fact_at_its_rate(chest):
    texts = REPORTS * 80
    assert withhold_batch(texts, 0.0, 0.0, chest, np.random.default_rng(0)) == texts
    out = withhold_batch(texts, 0.25, 0.0, chest, np.random.default_rng(0))
    assert 0.15 < np.mean([a != b for a, b in zip(out, texts)]) < 0.35
    assert all(read_places(a, chest).count == read_places(b, chest).count for a, b in zip(out, texts))
    out = withhold_batch(texts, 0.0, 0.5, chest, np.random.default_rng(0))
    uncounted = [read_places(a, chest).count is None for a, b in zip(out, texts) if read_places(b, chest).count]
    assert 0.4 < np.mean(uncounted) < 0.6
    assert all(read_places(a, chest).involved == read_places(b, chest).involved for a, b in zip(out, texts))
    assert withhold_batch(["", *REPORTS], 0.99, 0.99, chest, np.random.default_rng(0))[0] == ""  # no report stays none
    with pytest.raises(ValueError, match="tgc_unplaced_rate"):
        withhold_batch(texts, 1.0, 0.0, chest, np.random.default_rng(0))
    with pytest.raises(ValueError, match="tgc_uncounted_rate"):
        withhold_batch(texts, 0.0, -0.1, chest, np.random.default_rng(0))


def test_the_fit_weights_each_version_as_often_as_training_draws_it():
    shares = dict((f.__name__, s) for f, s in withheld_versions(0.2, 0.5))
    assert shares == pytest.approx({"unchanged": 0.4, "without_places": 0.1, "without_counts": 0.4, "neither": 0.1})
    assert [f.__name__ for f, _ in withheld_versions(0.0, 0.0)] == ["unchanged"]


class _Dataset:
    def __init__(self, segs):
        self.segs = segs

    def load_case(self, key):
        return None, self.segs[key], None, {}


def _lesion(side: str, size=64):
    m = np.zeros((1, 1, size, size), dtype=np.int16)
    cols = slice(8, 24) if side == "left" else slice(40, 56)  # image left = low column (internal convention)
    m[..., 24:40, cols] = 1
    return m


def _fit_targets(chest, left_report: str, right_report: str, **rates):
    """The place map's fit targets of 6 cases with a left lesion and 6 with a right one, each side with its report."""
    reports = {f"l{i}": left_report for i in range(6)}
    reports.update({f"r{i}": right_report for i in range(6)})
    segs = {k: _lesion("left" if k[0] == "l" else "right") for k in reports}
    cache = TextFeatureCache(create_towers("tiny"), chest)
    return cache, training_place_targets(cache, _Dataset(segs), reports, sorted(reports), (), 1, 0, "cpu",
                                         progress=lambda msg: None, **rates)


def test_the_fitted_map_of_a_place_free_report_covers_where_lesions_lie_in_general(chest):
    torch.manual_seed(0)
    _, targets = _fit_targets(chest, "Opacity in the left mid zone.", "Opacity in the right mid zone.",
                              unplaced_rate=0.2)
    unplaced = targets.places[:, PLACE_CELLS] == 1
    assert int(unplaced.sum()) == 1 and targets.places.shape[0] == 3
    # weighted as often as training draws it: 12 cases x 0.2 against 12 x 0.8 for the placed ones
    assert float(targets.count[unplaced]) == pytest.approx(12 * 0.2)
    assert float(targets.count[~unplaced].sum()) == pytest.approx(12 * 0.8)

    place_map = PlaceMap(PLACE_CELLS, targets.places.shape[1] - PLACE_CELLS)
    fit_place_map(place_map, targets, steps=300)
    with torch.no_grad():
        probs = torch.sigmoid(place_map(targets.places, image_grid(3, 64, 64)))[:, 0]
    left_area, right_area, empty = (slice(24, 40), slice(8, 24)), (slice(24, 40), slice(40, 56)), (slice(0, 8), slice(0, 64))
    free, left = probs[unplaced][0], probs[(targets.places[:, CELLS.index(("left", "middle"))] > 0) & ~unplaced][0]
    # the place-free map: both sides, each about as likely as lesions are there in general (1/2)
    for area in (left_area, right_area):
        assert 0.3 < float(free[area].mean()) < 0.7
        assert float(free[area].mean()) > 3 * float(free[empty].mean())
    # the placed map still says which side
    assert float(left[left_area].mean()) > 0.8 and float(left[right_area].mean()) < 0.2


def test_the_fit_gives_a_report_and_its_count_free_version_the_same_place_and_their_cases_once(chest):
    cache, targets = _fit_targets(chest, "One opacity in the left mid zone.", "Two opacities in the right mid zone.",
                                  uncounted_rate=0.25)
    # 2 reports x (counted, count-free): the count-free text reads the same places (the map says where, not
    # how much), and each report's 6 cases are weighted once over its two versions (0.75 + 0.25)
    assert targets.places.shape[0] == 4
    left = (targets.places == cache.encode("Opacity in the left mid zone.").places).all(1)
    assert int(left.sum()) == 2 and float(targets.count[left].sum()) == pytest.approx(6.0)
    assert sorted(targets.count[left].tolist()) == pytest.approx([6 * 0.25, 6 * 0.75])


def test_laterality_words_go_only_where_the_places_say_it_without_them(chest):
    # QaTa's opening word, written out and abbreviated, goes; the findings, counts and places stay
    assert without_laterality_words("Unilateral pulmonary infection, one infected area, lower right lung.", chest) == \
        "Pulmonary infection, one infected area, lower right lung."
    assert without_laterality_words(REPORTS[2], chest) == \
        "Pulmonary infection, three infected areas, upper left lung and lower right lung."
    assert without_laterality_words("b/l GGOs, RLL and LLL.", chest) == "GGOs, RLL and LLL."
    # where the word is itself the place, it stays: without it the report would place nothing
    for text in ("Bilateral opacities.", "Opacities in both lungs.", "Bilateral pulmonary infection, two infected areas."):
        assert without_laterality_words(text, chest) == text
    # a report without such a word is returned as it is
    assert without_laterality_words(REPORTS[0], chest) == REPORTS[0]
    for text in REPORTS + ["Unilateral opacity in one lung only, the left lower zone."]:
        out = without_laterality_words(text, chest)
        assert place_vector(read_places(out, chest)) == place_vector(read_places(text, chest)), (text, out)
        assert read_places(out, chest).count == read_places(text, chest).count, (text, out)


def test_withhold_batch_draws_laterality_words_out_at_their_rate(chest):
    texts = ["Unilateral pulmonary infection, one infected area, lower left lung."] * 400
    out = withhold_batch(texts, 0.0, 0.0, chest, np.random.default_rng(1), no_laterality_word_rate=0.5)
    assert 0.4 < np.mean([not o.startswith("Unilateral") for o in out]) < 0.6
    assert withhold_batch(texts, 0.0, 0.0, chest, np.random.default_rng(1)) == texts  # off by default
    with pytest.raises(ValueError, match="tgc_no_laterality_word_rate"):
        withhold_batch(texts, 0.0, 0.0, chest, np.random.default_rng(1), no_laterality_word_rate=1.0)


def test_every_real_qata_report_loses_its_laterality_word_and_keeps_its_places(chest, shared_data):
    from nnunet_tgc.convert.tables import read_table
    folder = shared_data("QaTa-COV19-subset")
    rows = read_table(folder / "Train_Folder" / "Train_text.xlsx", ["Image"], ["Description", "text"], "train")
    lateral = [r.text for r in rows if r.text.lower().startswith(("unilateral", "bilateral"))]
    assert len(lateral) > 500
    kept = 0
    for text in lateral:
        out = without_laterality_words(text, chest)
        assert place_vector(read_places(out, chest)) == place_vector(read_places(text, chest)), (text, out)
        if out == text:  # "... all left lung and upper lower lung.": only "Bilateral" puts that zone on the right
            kept += 1
            continue
        assert "lateral" not in out.lower() and out[0].isupper(), (text, out)
    assert kept <= len(lateral) // 100
