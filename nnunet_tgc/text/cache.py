"""Encode each distinct report once per run, with the knowledge it mentions.

Text features depend only on the text (QaTa-COV19 holds 301 distinct reports for 7,145 cases), so
the frozen text tower sees every distinct report (and every knowledge description) once; batches are
then assembled from the cache by lookup, never re-encoded per iteration.
"""
import time
from typing import Dict, List, Optional, Sequence

import torch

from ..model.clip_towers import FrozenCLIP
from ..model.text_features import EncodedText
from .convention import NO_REPORT
from .knowledge import NO_DOMAIN, KnowledgeBase
from .places import place_vector, read_places
from .withheld import without_places


class TextFeatureCache:
    def __init__(self, towers: FrozenCLIP, knowledge: Optional[KnowledgeBase] = None,
                 vocabulary: Optional[KnowledgeBase] = None, features_without_places: bool = False):
        """``knowledge``: the entries DATE reads (None: DATE runs without knowledge, nothing is matched);
        ``vocabulary``: the entries the places of a report are read with (default ``knowledge``, else the
        general entries only: sides of the image and counts; the no-knowledge ablation still reads places).
        ``features_without_places``: the text tower and the knowledge lookup read the report with its place
        terms taken out (``withheld.without_places``); the places are read from the whole report, for the
        place map alone (``TGCNet.places_only_in_map``). The text tower and the knowledge lookup read a report
        with its abbreviations spelled out (``KnowledgeBase.spell_out``, with ``vocabulary``)."""
        self.towers = towers
        self.knowledge = knowledge
        self.vocabulary = vocabulary or knowledge or KnowledgeBase.load().for_domain(NO_DOMAIN)
        self.features_without_places = features_without_places
        # the towers' checkpoint record names the knowledge base; a checkpoint trained with another one refuses
        towers.bind_knowledge(knowledge.fingerprint() if knowledge is not None else None)
        self._reports: Dict[str, EncodedText] = {}
        self._entries: Dict[str, torch.Tensor] = {}
        self.encode_calls = 0  # how many times the text tower ran on a report (for tests and logs)

    def __len__(self) -> int:
        return len(self._reports)

    def encode(self, text: str, remember: bool = True) -> EncodedText:
        """One report -> its frozen encoding (kept on the CPU, float32); NO_REPORT -> the "no report" input.
        ``remember=False``: not kept (texts drawn at random in training, which would grow the cache without
        bound)."""
        if text == NO_REPORT:
            return self._with_places(EncodedText.no_report(self.towers.joint_dim), text)
        cached = self._reports.get(text)
        if cached is None:
            self.encode_calls += 1
            # ordinary tensors even when first asked for inside inference_mode (test-time prediction):
            # the cache is shared with training, where inference tensors cannot enter autograd
            read = self.vocabulary.spell_out(text)  # the tower has read words, not "RLZ" or "Lt" (knowledge.py)
            read = without_places(read, self.vocabulary) if self.features_without_places else read
            with torch.inference_mode(False):
                enc = self.towers.encode_texts([read])[0]
                enc.knowledge, enc.knowledge_mask = self._knowledge_for(read)
            cached = self._with_places(enc.to("cpu", torch.float32), text)
            if remember:
                self._reports[text] = cached
        return cached

    def _with_places(self, enc: EncodedText, text: str) -> EncodedText:
        enc.places = torch.tensor([place_vector(read_places(text, self.vocabulary))], dtype=torch.float32)
        return enc

    def batch(self, texts: Sequence[str], device=None, remember: bool = True) -> EncodedText:
        return EncodedText.collate([self.encode(t, remember) for t in texts]).to(device)

    def warm_up(self, texts: Sequence[str]) -> float:
        """Encode all distinct ``texts`` now (start of training); returns the seconds it took."""
        start = time.perf_counter()
        for t in dict.fromkeys(texts):
            self.encode(t)
        return time.perf_counter() - start

    def _knowledge_for(self, text: str):
        d = self.towers.joint_dim
        device = self.towers.device
        entries = self.knowledge.match(text) if self.knowledge is not None else []
        if not entries:
            return torch.zeros(1, 0, d, device=device), torch.zeros(1, 0, dtype=torch.bool, device=device)
        missing = [e for e in entries if e.id not in self._entries]
        if missing:
            emb = self.towers.embed_sentences([e.description for e in missing])
            for e, v in zip(missing, emb):
                self._entries[e.id] = v
        stacked = torch.stack([self._entries[e.id] for e in entries])[None]
        return stacked, torch.ones(1, len(entries), dtype=torch.bool, device=device)

    def matched_entries(self, text: str) -> List[str]:
        return [e.id for e in self.knowledge.match(text)] if self.knowledge is not None else []
