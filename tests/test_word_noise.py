"""Word noise (text/word_noise.py): training reports with words that state nothing left out or put in, the
facts kept."""
import numpy as np
import pytest

from nnunet_tgc.text.knowledge import KnowledgeBase
from nnunet_tgc.text.places import is_cue, read_places
from nnunet_tgc.text.word_noise import filler_words, noise_batch, with_word_noise

REPORTS = [
    "Bilateral pulmonary infection, two infected areas, upper left lung and lower right lung.",
    "Unilateral pulmonary infection, one infected area, lower right lung.",
    "No right-sided opacity. Consolidation in the left lower lobe.",
    "Opacity at the right lung base, left lung is clear.",
    "Opacities in the lower zones, more marked on the left.",
    "Left lung: lower zone opacity. Right lung: clear.",
]


@pytest.fixture(scope="module")
def chest():
    return KnowledgeBase.load().for_domain("chest")


def test_a_noised_report_states_what_its_original_states_and_keeps_every_term(chest):
    """The same facts, and the same knowledge-base entries in the same order (a filler may lengthen a term of
    the same entry: "left lung" + "field")."""
    rng = np.random.default_rng(0)
    changed = 0
    for text in REPORTS:
        entries = [entry.id for _, _, entry in chest.find(text)]
        for _ in range(50):
            noised = with_word_noise(text, chest, rng)
            assert read_places(noised, chest) == read_places(text, chest), noised
            assert [entry.id for _, _, entry in chest.find(noised)] == entries, noised
            changed += noised != text
    assert changed > 120  # of 300 draws (the guard keeps a draw that would read otherwise)


def test_fillers_are_no_term_and_no_cue_of_the_reader(chest):
    fillers = filler_words(chest)
    assert len(fillers) > 50 and list(fillers) == sorted(fillers)
    assert not [w for w in fillers if chest.find(w) or is_cue(w)]
    assert {"no", "and", "clear", "more", "left", "lower", "one"}.isdisjoint(fillers)


def test_noise_batch_draws_a_share_and_checks_its_rate(chest):
    assert noise_batch(REPORTS, 0.0, chest, np.random.default_rng(0)) == REPORTS
    draws = noise_batch(REPORTS * 50, 0.5, chest, np.random.default_rng(1))
    assert 0.2 < np.mean([a != b for a, b in zip(draws, REPORTS * 50)]) < 0.6
    assert noise_batch(["", "Lower left lung."], 0.99, chest, np.random.default_rng(2))[0] == ""
    with pytest.raises(ValueError, match="tgc_word_noise_rate"):
        noise_batch(REPORTS, 1.0, chest, np.random.default_rng(0))
