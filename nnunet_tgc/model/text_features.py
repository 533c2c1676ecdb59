"""The frozen text encoding of a batch of reports, as the network consumes it.

Text features depend only on the text, so they are computed once per distinct report (outside the
network's forward pass) and batched here. Everything is in CLIP's joint embedding space.
"""
from dataclasses import dataclass, fields
from typing import List, Optional

import torch


@dataclass
class EncodedText:
    tokens: torch.Tensor          # (B, L, D) per-token features, projected into the joint space
    token_mask: torch.Tensor      # (B, L) bool, True where a real token is
    pooled: torch.Tensor          # (B, D) the report embedding (CLIP's usual text embedding)
    knowledge: torch.Tensor       # (B, K, D) embeddings of the matched knowledge entries (K may be 0)
    knowledge_mask: torch.Tensor  # (B, K) bool, True where a matched entry is
    # (B,) bool, True where the sample has no report (DATE substitutes its learned "no report" input);
    # None: every sample has one
    absent: Optional[torch.Tensor] = None
    # (B, PLACE_VECTOR_SIZE) the places each report states (``place_map.py``; written by the text layer,
    # ``nnunet_tgc.text.places``); None: not read (a network with a place map refuses it)
    places: Optional[torch.Tensor] = None

    @property
    def batch_size(self) -> int:
        return self.pooled.shape[0]

    @staticmethod
    def no_report(dim: int, device=None) -> "EncodedText":
        """The input of a case without a report: no tokens, no knowledge, flagged ``absent``."""
        return EncodedText(tokens=torch.zeros(1, 0, dim, device=device),
                           token_mask=torch.zeros(1, 0, dtype=torch.bool, device=device),
                           pooled=torch.zeros(1, dim, device=device), knowledge=torch.zeros(1, 0, dim, device=device),
                           knowledge_mask=torch.zeros(1, 0, dtype=torch.bool, device=device),
                           absent=torch.ones(1, dtype=torch.bool, device=device))

    def _map(self, fn) -> "EncodedText":
        return EncodedText(**{f.name: None if getattr(self, f.name) is None else fn(getattr(self, f.name))
                              for f in fields(self)})

    def to(self, device=None, dtype: Optional[torch.dtype] = None) -> "EncodedText":
        def move(t: torch.Tensor) -> torch.Tensor:
            # masks stay boolean; only floating tensors follow a requested dtype
            return t.to(device=device, dtype=dtype if (dtype is not None and t.is_floating_point()) else None)
        return self._map(move)

    def index(self, i: int) -> "EncodedText":
        """Sample i as a batch of one."""
        return self._map(lambda t: t[i:i + 1])

    def repeat(self, n: int) -> "EncodedText":
        """A batch of one repeated n times (sliding-window tiles of one case share its report)."""
        assert self.batch_size == 1, "repeat() expects a single report"
        return self._map(lambda t: t.expand(n, *t.shape[1:]))

    @staticmethod
    def collate(items: List["EncodedText"]) -> "EncodedText":
        """Stack single reports into a batch, padding tokens and knowledge entries (masked out)."""
        absent, places = None, None
        if all(i.places is not None for i in items):
            places = torch.cat([i.places for i in items])
        if any(i.absent is not None for i in items):
            absent = torch.cat([i.absent if i.absent is not None else i.pooled.new_zeros(i.batch_size, dtype=torch.bool)
                                for i in items])
        return EncodedText(
            tokens=_pad_cat([i.tokens for i in items]),
            token_mask=_pad_cat([i.token_mask for i in items]),
            pooled=torch.cat([i.pooled for i in items]),
            knowledge=_pad_cat([i.knowledge for i in items]),
            knowledge_mask=_pad_cat([i.knowledge_mask for i in items]),
            absent=absent,
            places=places,
        )


def _pad_cat(tensors: List[torch.Tensor]) -> torch.Tensor:
    """Concatenate along the batch axis, zero-padding axis 1 to the longest (False for masks)."""
    n = max(t.shape[1] for t in tensors)
    padded = []
    for t in tensors:
        if t.shape[1] < n:
            pad = t.new_zeros((t.shape[0], n - t.shape[1], *t.shape[2:]))
            t = torch.cat([t, pad], dim=1)
        padded.append(t)
    return torch.cat(padded)
