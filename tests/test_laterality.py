import random
import re

import pytest

from nnunet_tgc.text.laterality import (
    mirror_text,
    patient_to_image_side,
    swap_left_right,
    swap_upper_lower,
)


def test_left_right_keeps_case():
    assert swap_left_right("Left lung, RIGHT lung, left-sided, right.") == "Right lung, LEFT lung, right-sided, left."


def test_glued_place_words_swap_part_by_part():
    assert swap_left_right("consolidation Rightbase and LTUPPER zone, leftlung clear, the midline") == \
        "consolidation Leftbase and RTUPPER zone, rightlung clear, the midline"
    assert swap_upper_lower("bothbases and leftapex") == "bothapices and leftbase"


def test_b_slash_l_is_bilateral_and_keeps_its_letter():
    assert swap_left_right("B/L LZ & L mid zone; b/l bases") == "B/L LZ & R mid zone; b/l bases"


def test_words_of_a_records_keys_and_values_swap_a_digit_stays_part_of_its_word():
    assert swap_left_right('location=left_lower_zone {"right_upper": true} L2 vertebra') == \
        'location=right_lower_zone {"left_upper": true} L2 vertebra'
    assert swap_upper_lower("zones=left_lower_zone") == "zones=left_upper_zone"
    assert swap_upper_lower("opacity bibasally") == "opacity biapically"


def test_left_right_leaves_other_words():
    text = "leftover bright Wright copyright lefts righteous"
    assert swap_left_right(text) == text


def test_upper_lower():
    assert swap_upper_lower("Upper middle LOWER left lung; superior top apical apex") == \
        "Lower middle UPPER left lung; inferior bottom basal base"
    assert swap_upper_lower("lowered uppercase topology") == "lowered uppercase topology"


def test_mirror_text_axes():
    t = "Upper left lung."
    assert mirror_text(t, (), lateral_axis=1, vertical_axis=0) == t
    assert mirror_text(t, (1,), lateral_axis=1, vertical_axis=0) == "Upper right lung."
    assert mirror_text(t, (0,), lateral_axis=1, vertical_axis=0) == "Lower left lung."
    assert mirror_text(t, (0, 1), lateral_axis=1, vertical_axis=0) == "Lower right lung."
    # axial CT: zones run along the body axis, a vertical flip does not move them
    assert mirror_text(t, (0, 1), lateral_axis=1, vertical_axis=None) == "Upper right lung."


def test_patient_to_image_side():
    assert patient_to_image_side("Consolidation in the right lower lobe.") == "Consolidation in the left lower lobe."


_WORDS = ["left", "Left", "LEFT", "right", "Right", "upper", "Lower", "BOTTOM", "top", "middle", "lung",
          "apex", "bases", "inferior", "Superior", "leftover", "bright", ",", ".", "-", "all", "two"]


@pytest.mark.parametrize("seed", range(50))
def test_swaps_are_involutions(seed):
    rng = random.Random(seed)
    text = "".join(rng.choice(_WORDS) + rng.choice([" ", "", "-", "\n"]) for _ in range(rng.randint(0, 30)))
    assert swap_left_right(swap_left_right(text)) == text
    assert swap_upper_lower(swap_upper_lower(text)) == text
    for axes in [(0,), (1,), (0, 1)]:
        assert mirror_text(mirror_text(text, axes, 1, 0), axes, 1, 0) == text


def _qata_reports(shared_data):
    xlsx = shared_data("QaTa-COV19-subset") / "Train_Folder" / "Train_text.xlsx"
    import openpyxl
    ws = openpyxl.load_workbook(xlsx, read_only=True).active
    return [str(r[1]) for r in ws.iter_rows(min_row=2, values_only=True) if r[1]]


def test_real_reports_swap_exactly_the_sides(shared_data):
    reports = _qata_reports(shared_data)
    mask = re.compile(r"\b(left|right)\b", re.IGNORECASE)
    for r in reports:
        s = swap_left_right(r)
        assert swap_left_right(s) == r
        assert mask.sub("SIDE", s) == mask.sub("SIDE", r)  # nothing else changed
        before = [w.lower() for w in mask.findall(r)]
        after = [w.lower() for w in mask.findall(s)]
        assert after == [{"left": "right", "right": "left"}[w] for w in before]
    # the unilateral reports name exactly one side, and that side changes
    uni = [r for r in reports if r.startswith("Unilateral")]
    assert uni and all(("left" in r) != ("left" in swap_left_right(r)) for r in uni)
