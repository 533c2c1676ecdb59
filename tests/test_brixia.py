"""Brixia zone letters (text/brixia.py): they name the patient's lungs whatever a report's convention, so they are
written out in the convention's side words before the convention is mapped."""
import pytest

from nnunet_tgc.text.convention import prepare_report
from nnunet_tgc.text.knowledge import KnowledgeBase
from nnunet_tgc.text.places import read_places


@pytest.fixture(scope="module")
def chest():
    return KnowledgeBase.load().for_domain("chest")


def involved(text, convention, kb):
    return {f"{s} {z}" for s, z in read_places(prepare_report(text, convention), kb).involved}


# A and B: the patient's right upper and middle zones; F: the patient's left lower zone. The patient's right is
# the image's left on a frontal radiograph, and the internal convention is the image's side.
IMAGE_CELLS = {"left upper", "left middle", "right lower"}


@pytest.mark.parametrize("text", [
    "Brixia: A2 B1 C0 | D0 E0 F3",
    "Brixia score 6 (A=2, B=1, C=0, D=0, E=0, F=3).",
    "CXR: bilateral opacities. Zones A:2 B:1 C:0 / D:0 E:0 F:3, total 6/18. No effusion.",
    "A2 B1 C0 D0 E0 F3",
])
def test_letters_name_the_same_image_cells_in_either_convention(chest, text):
    assert involved(text, "patient", chest) == IMAGE_CELLS
    assert involved(text, "image", chest) == IMAGE_CELLS


def test_words_beside_the_letters_follow_the_convention(chest):
    # written by a radiologist of the patient's side: "Right lung" and the letters A to C agree
    text = "Right lung: A2 B1 C0. Left lung: D0 E0 F3."
    assert involved(text, "patient", chest) == IMAGE_CELLS
    assert "(Brixia A2)" in prepare_report(text, "patient")


def test_unknown_convention_leaves_the_letters_unread(chest):
    text = "Brixia: A2 B1 C0 | D0 E0 F3"
    assert prepare_report(text, "unknown") == text
    assert involved(text, "unknown", chest) == set()


@pytest.mark.parametrize("text", [
    "A 2 cm nodule projects over the right lower zone.",
    "B: impression. C: 1 view.",
    "Form section A1 completed; see A2 and A3.",
    "Score A1 B1",
])
def test_letters_outside_a_run_of_three_zone_scores_stay_as_written(text):
    assert prepare_report(text, "image") == text


def test_written_out_once(chest):
    once = prepare_report("Brixia: A2 B1 C0 | D0 E0 F3", "patient")
    assert prepare_report(once, "image") == once
