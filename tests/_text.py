"""Reports encoded as the network reads them (frozen features, knowledge and places), for model tests."""
from nnunet_tgc.text.cache import TextFeatureCache
from nnunet_tgc.text.knowledge import KnowledgeBase


def encode_reports(towers, texts, domain: str = "chest"):
    """The batch of ``texts`` through the text path the trainer uses (``TextFeatureCache``)."""
    knowledge = KnowledgeBase.load().for_domain(domain)
    return TextFeatureCache(towers, knowledge).batch(list(texts))
