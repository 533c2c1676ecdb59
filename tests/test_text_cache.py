"""TextFeatureCache: each distinct report is encoded once, with the knowledge it mentions."""
import time

import pytest
import torch

from nnunet_tgc.model import create_towers
from nnunet_tgc.text.cache import TextFeatureCache
from nnunet_tgc.text.knowledge import KnowledgeBase

A = "Unilateral pulmonary infection, one infected area, lower left lung."
B = "Bilateral pulmonary infection, two infected areas, all left lung and all right lung."


@pytest.fixture(scope="module")
def towers():
    return create_towers("tiny")


def test_each_distinct_text_is_encoded_once(towers):
    cache = TextFeatureCache(towers, KnowledgeBase.load())
    batch = cache.batch([A, B, A, A, B])
    assert cache.encode_calls == 2 and len(cache) == 2
    assert batch.batch_size == 5
    assert torch.equal(batch.pooled[0], batch.pooled[2]) and not torch.equal(batch.pooled[0], batch.pooled[1])
    cache.batch([B, A])
    assert cache.encode_calls == 2


def test_warm_up_encodes_only_new_texts_and_returns_the_seconds_it_took(towers, monkeypatch):
    cache = TextFeatureCache(towers, KnowledgeBase.load())
    cache.batch([A, B])
    encode_texts = towers.encode_texts

    def slow_encode_texts(texts):  # a text tower that takes a known minimum time per report
        time.sleep(0.2)
        return encode_texts(texts)
    monkeypatch.setattr(towers, "encode_texts", slow_encode_texts)
    start = time.perf_counter()
    seconds = cache.warm_up([A, B, "No pulmonary infection.", "No pulmonary infection."])
    wall = time.perf_counter() - start
    assert cache.encode_calls == 3 and len(cache) == 3  # only the new text was encoded, once
    assert 0.2 <= seconds <= wall
    assert cache.warm_up([A, B]) < 0.2 and cache.encode_calls == 3  # nothing new: nothing encoded


def test_knowledge_entries_are_matched_and_padded(towers):
    kb = KnowledgeBase.load()
    cache = TextFeatureCache(towers, kb)
    batch = cache.batch([A, B])
    n_a, n_b = len(kb.match(A)), len(kb.match(B))
    assert n_a > 0 and n_b > 0
    assert batch.knowledge.shape == (2, max(n_a, n_b), towers.joint_dim)
    assert batch.knowledge_mask.sum(1).tolist() == [n_a, n_b]
    # an entry's embedding is that of its description through the same frozen tower
    first = kb.match(A)[0]
    assert torch.allclose(batch.knowledge[0, 0], towers.embed_sentences([first.description])[0], atol=1e-6)


def test_without_knowledge_nothing_is_matched(towers):
    batch = TextFeatureCache(towers, None).batch([A])
    assert batch.knowledge.shape[1] == 0


def test_encodings_made_in_inference_mode_can_train(towers):
    cache = TextFeatureCache(towers, KnowledgeBase.load())
    with torch.inference_mode():
        cache.batch([A])
    enc = cache.batch([A])
    weight = torch.nn.Parameter(torch.ones(towers.joint_dim))
    (enc.pooled * weight).sum().backward()  # would fail on an inference tensor
    assert weight.grad is not None


def test_features_without_places_read_the_places_for_the_map_alone(towers):
    """With ``features_without_places`` (TGCNet.places_only_in_map) two reports that differ only in their places
    get the same text features and knowledge, and different place vectors: a sentence's location cannot be
    recalled from its features, only read by the place map. The default keeps the places in the features."""
    chest = KnowledgeBase.load().for_domain("chest")
    right = "Unilateral pulmonary infection, one infected area, upper right lung."
    only_map = TextFeatureCache(towers, chest, features_without_places=True)
    a, b = only_map.encode(A), only_map.encode(right)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.pooled, b.pooled)
    assert torch.equal(a.knowledge, b.knowledge) and a.knowledge.shape[1] > 0  # "infection" and the count stay
    assert not torch.equal(a.places, b.places)
    assert torch.equal(a.places, TextFeatureCache(towers, chest).encode(A).places)
    both = TextFeatureCache(towers, chest)
    assert not torch.equal(both.encode(A).pooled, both.encode(right).pooled)


def test_the_tower_reads_abbreviations_spelled_out(towers):
    """"RLZ" and "right lower zone" are one report to the text tower and the knowledge lookup (the knowledge base's
    ``spelled_out``), and the place map reads the same places from both; an unknown abbreviation stays as written."""
    chest = KnowledgeBase.load().for_domain("chest")
    cache = TextFeatureCache(towers, chest)
    short, long = cache.encode("Patchy GGOs RLZ, L lung clear."), cache.encode(
        "Patchy ground-glass opacities right lower zone, left lung clear.")
    assert torch.equal(short.tokens, long.tokens) and torch.equal(short.pooled, long.pooled)
    assert torch.equal(short.knowledge, long.knowledge) and torch.equal(short.places, long.places)
    assert not torch.equal(cache.encode("Patchy GGOs RLZ, L lung clear, NGT.").pooled, short.pooled)
