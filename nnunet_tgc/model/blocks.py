"""Small building blocks shared by SSE, DATE and VLCM (the CNN blocks are in ``cnn.py``)."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) map (ViT features carry a few huge channels)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class CrossAttention(nn.Module):
    """Pre-norm multi-head cross-attention with a residual: queries read keys/values of another stream.

    ``zero_init`` starts the block as the identity (output projection at zero), so a pretrained
    stream is left untouched until training finds the other stream useful.
    """

    def __init__(self, q_dim: int, kv_dim: int, inner_dim: int, heads: int, zero_init: bool = False):
        super().__init__()
        assert inner_dim % heads == 0, f"inner_dim {inner_dim} not divisible by heads {heads}"
        self.heads = heads
        self.norm_q = nn.LayerNorm(q_dim)
        self.norm_kv = nn.LayerNorm(kv_dim)
        self.q = nn.Linear(q_dim, inner_dim)
        self.kv = nn.Linear(kv_dim, 2 * inner_dim)
        self.out = nn.Linear(inner_dim, q_dim)
        if zero_init:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: Optional[torch.Tensor] = None,
                query_pos: Optional[torch.Tensor] = None):
        """x (B, N, q_dim), context (B, M, kv_dim), context_mask (B, M) bool True = attend; ``query_pos``
        (N, q_dim) is added to the queries only (as in DETR), not to the residual stream."""
        b, n, _ = x.shape
        q = self.q(self.norm_q(x if query_pos is None else x + query_pos))
        k, v = self.kv(self.norm_kv(context)).chunk(2, dim=-1)
        q, k, v = (t.reshape(b, t.shape[1], self.heads, -1).transpose(1, 2) for t in (q, k, v))
        mask = None if context_mask is None else context_mask[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return x + self.out(y.transpose(1, 2).reshape(b, n, -1))


class ResidualAdapter(nn.Module):
    """Bottleneck MLP with a residual, up-projection at zero (identity at initialisation)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x):
        return x + self.net(x)


def coordinate_encoding(coordinates: torch.Tensor, dim: int) -> torch.Tensor:
    """coordinates (B, 2, h, w), each pixel's normalised (row, column) in [0, 1] -> (B, h*w, dim) sine/cosine
    features of them.

    Normalised coordinates of the whole image make the encoding independent of the patch: "left
    half" is the same code in a 224 patch as in a sliding window of a larger image."""
    n = dim // 4
    c = coordinates.float().flatten(2).transpose(1, 2)                       # (B, hw, 2)
    freqs = torch.pi * 2.0 ** torch.arange(n, device=c.device, dtype=torch.float32)
    ys, xs = c[..., :1] * freqs, c[..., 1:] * freqs
    return torch.cat([ys.sin(), ys.cos(), xs.sin(), xs.cos()], dim=-1)
