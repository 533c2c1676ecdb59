"""A middle lobe named without a side is the right lung's (text/middle_lobe.py): read there in every convention,
and moved with the image by mirroring."""
import pytest

from nnunet_tgc.text.convention import prepare_report
from nnunet_tgc.text.knowledge import KnowledgeBase
from nnunet_tgc.text.laterality import swap_left_right
from nnunet_tgc.text.middle_lobe import middle_lobe_sided
from nnunet_tgc.text.places import read_places


@pytest.fixture(scope="module")
def chest():
    return KnowledgeBase.load().for_domain("chest")


def cells(text, kb, convention="image"):
    read = read_places(prepare_report(text, convention), kb)
    return ({f"{s} {z}" for s, z in read.involved}, {f"{s} {z}" for s, z in read.free})


@pytest.mark.parametrize("text, involved", [
    ("Middle lobe pneumonia.", {"right middle"}),
    ("Consolidation in the middle lobe.", {"right middle"}),
    ("MIDDLE LOBE COLLAPSE.", {"right middle"}),
    ("Middle-lobe consolidation.", {"right middle"}),
    ("Opacities in the left upper lobe and the middle lobe.", {"left upper", "right middle"}),
    ("Opacity in the middle lobe and left lower lobe.", {"right middle", "left lower"}),
    ("Lingular and middle lobe opacities.", {"left middle", "right middle"}),
    ("Right lower lobe and middle lobe consolidation.", {"right middle", "right lower"}),
])
def test_a_middle_lobe_without_a_side_is_the_right_lungs(chest, text, involved):
    assert cells(text, chest)[0] == involved


def test_a_clear_middle_lobe_frees_the_right_middle_zone_only(chest):
    assert cells("Left lower lobe consolidation. Middle lobe clear.", chest) == ({"left lower"}, {"right middle"})


@pytest.mark.parametrize("text", [
    "Right middle lobe consolidation.", "R. middle lobe consolidation.", "Right lung, middle lobe: consolidation.",
    "Consolidation of the middle lobe on the left.", "Middle lobe (L) consolidation.", "Both middle lobes.",
    "Opacity in the middle zone.",
])
def test_a_side_written_beside_it_or_no_lobe_stays_as_written(text):
    assert middle_lobe_sided(text) == text


def test_the_side_is_written_in_the_case_of_the_word():
    assert middle_lobe_sided("Middle lobe and middle lobe, MIDDLE LOBE") == \
        "Right middle lobe and right middle lobe, RIGHT MIDDLE LOBE"


def test_the_patient_convention_puts_it_on_the_images_left(chest):
    assert cells("Middle lobe pneumonia.", chest, "patient")[0] == {"left middle"}


def test_mirroring_moves_it_with_the_image(chest):
    prepared = prepare_report("Consolidation in the middle lobe.", "image")
    assert {f"{s} {z}" for s, z in read_places(swap_left_right(prepared), chest).involved} == {"left middle"}


def test_prepare_report_stays_idempotent():
    for convention in ("image", "patient", "unknown"):
        once = prepare_report("Middle lobe pneumonia; lingula clear.", convention)
        assert prepare_report(once, "image") == once
