"""DATE, the Domain-Augmented Text Encoder (trainable part).

The frozen CLIP text tower has already encoded the report (token features and the pooled embedding)
and the descriptions of the knowledge-base entries that the report mentions (see
``nnunet_tgc.text``). Here the report tokens read the knowledge embeddings through one
cross-attention layer whose output starts at zero, followed by a small residual adapter: the
clinical wording is enriched with what a language model wrote about each finding, zone and side.
A learned "no knowledge" entry keeps the attention defined when nothing matched.

With ``learn_no_report`` (trainers with report dropout) a learned "no report" vector stands in for the
report embedding of every sample flagged ``absent``, so the model can segment a case that has no
report yet; its text is that one vector (no tokens, no knowledge). The vector takes part in every
forward pass of such a model, also of a batch in which no sample is flagged (its gradient is then zero,
not absent): DistributedDataParallel requires every parameter in every step (``nnunet/ddp.py``).
"""
from typing import Tuple

import torch
from torch import nn

from .blocks import CrossAttention, ResidualAdapter
from .text_features import EncodedText


class DATE(nn.Module):
    def __init__(self, dim: int, inner_dim: int = 256, heads: int = 8, adapter_dim: int = 128,
                 use_knowledge: bool = True, learn_no_report: bool = False):
        super().__init__()
        self.use_knowledge = use_knowledge
        self.no_report = nn.Parameter(torch.randn(1, dim) * 0.02) if learn_no_report else None
        if use_knowledge:
            self.null_entry = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
            self.read_knowledge = CrossAttention(dim, dim, inner_dim, heads, zero_init=True)
        self.adapter = ResidualAdapter(dim, adapter_dim)

    def forward(self, text: EncodedText) -> Tuple[torch.Tensor, torch.Tensor]:
        """-> tokens (B, 1 + L, D) with the pooled report embedding as token 0, and their mask."""
        tokens = torch.cat([self._report_or_no_report(text)[:, None], text.tokens], dim=1)
        mask = torch.cat([text.token_mask.new_ones(text.batch_size, 1), text.token_mask], dim=1)
        if self.use_knowledge:
            b = text.batch_size
            entries = torch.cat([self.null_entry.expand(b, -1, -1).to(text.knowledge.dtype), text.knowledge], 1)
            entry_mask = torch.cat([mask.new_ones(b, 1), text.knowledge_mask], dim=1)
            tokens = self.read_knowledge(tokens, entries, entry_mask)
        return self.adapter(tokens), mask

    @property
    def supports_no_report(self) -> bool:
        return self.no_report is not None

    def _report_or_no_report(self, text: EncodedText) -> torch.Tensor:
        if self.no_report is None:
            if text.absent is not None and bool(text.absent.any()):
                raise ValueError("this model was trained without report dropout and cannot segment a case without "
                                 "a report; train a variant with report dropout (nnUNetTrainerTGC_reportDropout)")
            return text.pooled
        absent = text.absent if text.absent is not None else \
            torch.zeros(text.batch_size, dtype=torch.bool, device=text.pooled.device)
        return torch.where(absent[:, None], self.no_report.to(text.pooled.dtype), text.pooled)
