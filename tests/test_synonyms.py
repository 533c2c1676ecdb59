"""Training reports re-worded with the knowledge base's synonyms (text/synonyms.py): other words, the same
places, and a text cache that does not grow with them."""
import numpy as np

from nnunet_tgc.model import create_towers
from nnunet_tgc.text.cache import TextFeatureCache
from nnunet_tgc.text.knowledge import KnowledgeBase
from nnunet_tgc.text.places import read_places
from nnunet_tgc.text.synonyms import reword_batch, with_synonyms

REPORTS = ["Unilateral pulmonary infection, one infected area, lower right lung.",
           "Bilateral pulmonary infection, two infected areas, all left lung and middle lower right lung.",
           "Unilateral pulmonary infection, one infected area, upper left lung."]


def test_synonyms_change_the_words_and_keep_the_places():
    kb = KnowledgeBase.load().for_domain("chest")
    rng = np.random.default_rng(0)
    for text in REPORTS:
        variants = {with_synonyms(text, kb, rng) for _ in range(20)}
        assert len(variants) > 5
        for v in variants:
            assert read_places(v, kb) == read_places(text, kb), v


def test_rate_zero_keeps_every_text_and_rate_one_rewords_most():
    kb = KnowledgeBase.load().for_domain("chest")
    assert reword_batch(REPORTS, 0.0, kb, np.random.default_rng(0)) == REPORTS
    changed = sum(a != b for a, b in zip(reword_batch(REPORTS * 10, 1.0, kb, np.random.default_rng(0)), REPORTS * 10))
    assert changed >= 20


def test_texts_encoded_without_remembering_do_not_grow_the_cache():
    towers = create_towers("tiny")
    cache = TextFeatureCache(towers, KnowledgeBase.load().for_domain("chest"))
    cache.batch(REPORTS)
    assert len(cache) == 3
    batch = cache.batch(["Basal right hemithorax, single infected area."], remember=False)
    assert len(cache) == 3 and batch.places is not None and batch.batch_size == 1
