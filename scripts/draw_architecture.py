#!/usr/bin/env python
"""Draw documentation/figures/architecture.png: TGC-Net's data flow (frozen parts grey, trainable blue)."""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

FROZEN, TRAINABLE, DATA, GATE = "#d9d9d9", "#9ecae1", "#fdd0a2", "#c7e9c0"


def box(ax, x, y, w, h, text, color, fontsize=8.5):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08", fc=color, ec="black",
                                lw=0.8))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize, wrap=True)


def arrow(ax, start, end, text=None, style="-|>", color="black"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=10, lw=0.9, color=color))
    if text:
        ax.text((start[0] + end[0]) / 2 + 0.05, (start[1] + end[1]) / 2 + 0.08, text, fontsize=7, color="#444444")


def draw(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(15, 8.2))
    ax.set_xlim(0, 15)
    ax.set_ylim(0, 8.2)
    ax.axis("off")

    # inputs
    box(ax, 0.2, 6.6, 1.9, 0.8, "image patch\n(C x H x W, nnU-Net\nz-scored)", DATA)
    box(ax, 0.2, 1.0, 1.9, 0.9, "report\n(reports.json,\nlooked up by case key)", DATA)

    # SSE
    ax.text(2.5, 7.85, "SSE  (model/sse.py)", fontsize=10, weight="bold")
    box(ax, 2.5, 6.4, 2.3, 1.2, "CLIP ViT (frozen, no_grad)\npatch 16, position table\ninterpolated to H/16 x W/16\ntaps after blocks 3, 6, 9, 12", FROZEN)
    box(ax, 2.5, 4.1, 2.3, 1.7, "CNN branch\nnnU-Net's planned stages\n(kernels, strides from plans)\nat half width\nconv-IN-LeakyReLU", TRAINABLE)
    box(ax, 5.2, 5.0, 2.2, 2.4, "tap fusion per stage\nLayerNorm + 1x1 conv\nresample: tap 3 -> stride 4\n6 -> 8, 9 -> 16, 12 -> 32\nadded through a gate\ninitialised at 0", TRAINABLE)
    arrow(ax, (2.1, 7.0), (2.5, 7.0))
    arrow(ax, (1.15, 6.6), (2.5, 5.0))
    arrow(ax, (4.8, 7.0), (5.2, 6.6), "taps")
    arrow(ax, (4.8, 5.0), (5.2, 5.6), "stage maps")

    # DATE
    ax.text(2.5, 3.15, "DATE  (model/date.py, text/cache.py)", fontsize=10, weight="bold")
    box(ax, 2.5, 0.4, 2.3, 1.3, "CLIP text tower (frozen)\ntokens + pooled embedding\nlong reports: chunks of\n<= 75 tokens at sentences", FROZEN)
    box(ax, 2.5, 1.95, 2.3, 1.0, "knowledge base match\n(text_reports/knowledge)\nside, zone, count, finding", FROZEN)
    box(ax, 5.2, 0.9, 2.2, 1.8, "report tokens read the\nknowledge embeddings\n(cross-attention, output\ninit 0, + null entry)\n+ residual adapter", TRAINABLE)
    arrow(ax, (2.1, 1.45), (2.5, 1.05))
    arrow(ax, (2.1, 1.45), (2.5, 2.45))
    arrow(ax, (4.8, 1.05), (5.2, 1.5))
    arrow(ax, (4.8, 2.45), (5.2, 2.2), "entry embeddings")
    ax.text(2.5, 0.1, "encoded once per distinct text, outside forward()", fontsize=7, style="italic")

    # VLCM
    ax.text(7.9, 7.85, "VLCM  (model/vlcm.py)", fontsize=10, weight="bold")
    box(ax, 7.9, 3.5, 2.6, 3.9, "at strides 16 and 32:\n\npixels -> joint space\n(1x1 conv + CLIP's dense\nfeatures: ln_post + proj)\n\n1. text tokens read pixels\n2. pixels read text tokens\n3. similarity map =\n   exp(t) cos(pixel, report) + b\n   (learned temperature, bias)", TRAINABLE)
    arrow(ax, (7.4, 6.2), (7.9, 6.2), "skips 16, 32")
    arrow(ax, (7.4, 1.8), (9.2, 3.5), "tokens (report = token 0)")
    arrow(ax, (4.8, 7.3), (7.9, 7.2), "dense CLIP features", color="#777777")

    # decoder
    ax.text(11.0, 7.85, "decoder  (model/decoder.py)", fontsize=10, weight="bold")
    box(ax, 11.0, 2.9, 2.4, 4.5, "nnU-Net U-Net decoder\ntransposed conv + skip\n+ conv blocks per stage\n\neach stage gated:\nf + g_s * f * sigmoid(sim)\n(g_s init 0)\n\ndeep supervision heads", TRAINABLE)
    arrow(ax, (10.5, 5.9), (11.0, 5.9), "refined skips")
    arrow(ax, (10.5, 4.0), (11.0, 4.0), "similarity")
    ax.plot([6.3, 6.3, 10.7], [5.0, 3.1, 3.1], color="black", lw=0.9)  # the other skips pass below VLCM
    arrow(ax, (10.7, 3.1), (11.0, 3.1), None)
    ax.text(7.9, 3.18, "skips at strides 1..8", fontsize=7, color="#444444")
    box(ax, 13.7, 4.6, 1.15, 1.6, "logits\nhighest\nresolution\nfirst (DS)\nor one map", DATA)
    arrow(ax, (13.4, 5.4), (13.7, 5.4))

    # legend
    for i, (c, label) in enumerate(((FROZEN, "frozen (checkpoints: fingerprint only)"),
                                    (TRAINABLE, "trainable"), (DATA, "data"))):
        box(ax, 7.9 + i * 3.2, 0.5, 0.3, 0.3, "", c)
        ax.text(8.3 + i * 3.2, 0.65, label, fontsize=7.5, va="center")
    ax.text(8.2, 1.3, "no-VLCM ablation: the pooled report modulates the bottleneck (FiLM);\n"
            "no-CNN ablation: every stage from the ViT taps; no-knowledge: DATE without the KB", fontsize=7.5)
    fig.suptitle("TGC-Net in nnunet_tgc: SSE + DATE + VLCM on a frozen CLIP", fontsize=12)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "documentation" / "figures" /
                   "architecture.png")
    draw(p.parse_args().out)
