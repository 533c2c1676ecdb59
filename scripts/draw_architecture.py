#!/usr/bin/env python
"""Draw documentation/figures/architecture.png: TGC-Net's data flow (frozen parts grey, trainable blue, data
orange, the per-sample routing green, the image route dashed)."""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Polygon  # noqa: E402

FROZEN, TRAINABLE, DATA, GATE = "#d9d9d9", "#9ecae1", "#fdd0a2", "#c7e9c0"
LABEL = dict(fontsize=7, color="#444444")
# a line drawn over another gets a white border, so a crossing reads as a bridge, not a junction
HALO = [patheffects.withStroke(linewidth=4, foreground="white")]


def box(ax, x, y, w, h, text, color, fontsize=8.5, ls="-"):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08", fc=color, ec="black",
                                lw=0.8, ls=ls))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize, wrap=True)


def diamond(ax, cx, cy, w, h, text, color):
    ax.add_patch(Polygon([(cx - w / 2, cy), (cx, cy + h / 2), (cx + w / 2, cy), (cx, cy - h / 2)], fc=color,
                         ec="black", lw=0.8))
    ax.text(cx, cy, text, ha="center", va="center", fontsize=8)


def label(ax, at, text, **kw):
    ax.text(*at, text, **{**LABEL, "va": "center", **kw})


def arrow(ax, start, end, text=None, color="black", ls="-", at=None, zorder=3):
    """An arrow; its label at ``at`` (left-aligned), by default just right of and above the midpoint."""
    # above lines (zorder 2), from its very start: it may continue a route() or branch off a bus line
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, lw=0.9, color=color, ls=ls,
                                 shrinkA=0, zorder=zorder))
    if text:
        label(ax, at or ((start[0] + end[0]) / 2 + 0.05, (start[1] + end[1]) / 2 + 0.1), text)


def route(ax, points, text=None, at=None, halo=False):
    """A right-angled path through ``points``, with an arrowhead at the last one."""
    xs, ys = zip(*points[:-1])
    # a haloed line goes below the boxes (zorder 1), so its halo cuts the line it crosses, not a box's edge
    ax.plot(xs, ys, color="black", lw=0.9, path_effects=HALO if halo else None, zorder=0.8 if halo else 2)
    arrow(ax, points[-2], points[-1])
    if text:
        label(ax, at, text)


def draw(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(15.3, 12.1))
    ax.set_xlim(0, 15.3)
    ax.set_ylim(0, 12.1)
    ax.axis("off")
    ax.text(7.65, 11.95, "TGC-Net in nnunet_tgc: SSE + DATE + VLCM on a frozen CLIP, a place map and an image "
            "route", ha="center", fontsize=12)

    # inputs
    box(ax, 0.2, 9.85, 1.9, 0.8, "image patch\n(C x H x W, nnU-Net\nz-scored)", DATA)
    box(ax, 0.2, 1.8, 1.9, 0.9, "report\n(reports.json,\nlooked up by case key)", DATA)

    # SSE
    ax.text(2.5, 11.4, "SSE  (model/sse.py)", fontsize=10, weight="bold")
    box(ax, 2.5, 9.65, 2.3, 1.2, "CLIP ViT (frozen, no_grad)\npatch 16, position table\ninterpolated to H/16 x W/16\ntaps after blocks 3, 6, 9, 12", FROZEN)
    box(ax, 2.5, 7.45, 2.3, 1.7, "CNN branch\nnnU-Net's planned stages\n(kernels, strides from plans)\nat half width\nconv-IN-LeakyReLU", TRAINABLE)
    box(ax, 5.35, 8.0, 2.2, 2.3, "tap fusion per stage\nLayerNorm + 1x1 conv\nresample: tap 3 -> stride 4\n6 -> 8, 9 -> 16, 12 -> 32\nadded through a gate\ninitialised at 0", TRAINABLE)
    arrow(ax, (2.1, 10.25), (2.5, 10.25))
    arrow(ax, (1.15, 9.85), (2.5, 8.3))
    arrow(ax, (4.8, 9.85), (5.35, 9.85), "taps", at=(4.85, 10.0))
    arrow(ax, (4.8, 8.45), (5.35, 8.45), "stage\nmaps", at=(4.85, 8.73))

    # DATE
    ax.text(2.5, 3.95, "DATE  (model/date.py, text/cache.py)", fontsize=10, weight="bold")
    box(ax, 2.5, 1.2, 2.3, 1.3, "CLIP text tower (frozen)\ntokens + pooled embedding\nlong reports: chunks of\n<= 75 tokens at sentences", FROZEN)
    box(ax, 2.5, 2.75, 2.3, 1.0, "knowledge base match\n(text_reports/knowledge)\nside, zone, count, finding", FROZEN)
    box(ax, 5.35, 1.7, 2.2, 1.7, "report tokens read the\nknowledge embeddings\n(cross-attention, output\ninit 0, + null entry)\n+ residual adapter", TRAINABLE)
    arrow(ax, (2.1, 2.25), (2.5, 1.85))
    arrow(ax, (2.1, 2.25), (2.5, 3.25))
    arrow(ax, (4.8, 1.85), (5.35, 2.1))
    arrow(ax, (4.8, 3.25), (5.35, 3.0))
    label(ax, (4.9, 3.6), "entry embeddings")
    ax.text(2.5, 0.9, "encoded once per distinct text, outside forward()", fontsize=7, style="italic")

    # place map: where the report's places lie, from the places it states and each pixel's whole-image position
    ax.text(0.2, 6.6, "place map  (model/place_map.py)", fontsize=10, weight="bold")
    box(ax, 0.2, 5.5, 1.9, 0.85, "pixel coordinates\n(row, column) in\nthe whole image", DATA)
    box(ax, 0.2, 4.45, 1.9, 0.85, "place vector: 2 sides\nx 3 zones + \"places\nnothing\"", DATA)
    box(ax, 2.5, 4.45, 2.3, 1.9, "PlaceMap (small)\na region per cell, smooth\nin the position (Fourier\nbasis); soft union of the\nnamed cells -> log-odds\nfitted to the training\nmasks before epoch 0", TRAINABLE)
    arrow(ax, (1.15, 2.7), (1.15, 4.45), "read by rules\n(text/places.py)", at=(1.22, 3.55))
    arrow(ax, (2.1, 5.92), (2.5, 5.92))
    arrow(ax, (2.1, 4.87), (2.5, 4.87))
    arrow(ax, (4.4, 6.35), (4.4, 7.45), "as probability:\nCNN input channel", at=(4.47, 6.9))
    # one bus to where the map is added: the skips (after SSE) and VLCM's similarity maps
    ax.plot([4.8, 9.3], [5.0, 5.0], color="black", lw=0.9)
    arrow(ax, (6.2, 5.0), (6.2, 8.0), "1x1 embedding:\n+ every skip", at=(6.27, 6.9))
    arrow(ax, (9.3, 5.0), (9.3, 7.25), "+ similarity\nmaps", at=(9.37, 6.3))

    # VLCM
    ax.text(8.15, 11.4, "VLCM  (model/vlcm.py)", fontsize=10, weight="bold")
    box(ax, 8.15, 7.25, 2.4, 3.6, "at strides 16 and 32:\n\npixels -> joint space\n(1x1 conv + CLIP's dense\nfeatures: ln_post + proj)\n\n1. text tokens read pixels\n2. pixels read text tokens\n3. similarity map =\n   exp(t) cos(pixel, report) + b\n   + place map log-odds", TRAINABLE)
    arrow(ax, (7.55, 9.0), (8.15, 9.0), "skips\n16, 32", at=(7.6, 9.3))
    route(ax, [(7.55, 2.6), (10.25, 2.6), (10.25, 7.25)], "tokens (report = token 0)", at=(7.7, 2.75))
    arrow(ax, (4.8, 10.65), (8.15, 10.65), color="#777777", zorder=0.5)  # below the skips that cross it
    label(ax, (6.85, 10.82), "dense CLIP features", ha="right")
    # the skips VLCM does not read pass over it, across the dense features
    route(ax, [(7.0, 10.3), (7.0, 11.0), (11.1, 11.0), (11.1, 10.5), (11.35, 10.5)],
          "skips at strides 1..8", at=(8.3, 11.12), halo=True)

    # decoder
    ax.text(11.35, 11.4, "decoder  (model/decoder.py)", fontsize=10, weight="bold")
    box(ax, 11.35, 6.6, 2.4, 4.25, "nnU-Net U-Net decoder\ntransposed conv + skip\n+ conv blocks per stage\n\neach stage gated:\nf + g_s * f * sigmoid(sim)\n(g_s init 0)\n\ndeep supervision heads;\nfinest similarity -> logits\nthrough a 1x1 conv (init 0)", TRAINABLE)
    arrow(ax, (10.55, 9.6), (11.35, 9.6), "refined\nskips", at=(10.6, 9.9))
    arrow(ax, (10.55, 7.9), (11.35, 7.9), "similarity", at=(10.6, 8.05))

    # the image route: a report that says nothing of places never enters the network
    diamond(ax, 12.55, 5.55, 2.1, 1.15, "report says\nanything of\nplaces?", GATE)
    arrow(ax, (12.55, 6.6), (12.55, 6.125), "yes: text route", at=(12.65, 6.37))
    box(ax, 10.9, 2.55, 3.3, 1.75, "image route (model/tgc_net.py)\nfor \"Pulmonary infection.\" or no report:\nthe same SSE and decoder read the\nimage with the place map of \"places\nnothing\"; no DATE, no VLCM, no gates,\nno similarity in the logits", TRAINABLE, ls="--")
    arrow(ax, (12.55, 4.3), (12.55, 4.975), "no (places nothing, rules\nnothing out): image route", ls="--",
          at=(12.65, 4.62))
    box(ax, 14.0, 4.9, 1.2, 1.3, "logits\nhighest\nresolution\nfirst (DS)\nor one map", DATA)
    arrow(ax, (13.6, 5.55), (14.0, 5.55))
    label(ax, (10.9, 2.1), "training: both routes run, and the image route's\nlogits get nnU-Net's loss on every sample",
          fontsize=7.5, style="italic")

    # legend
    for x, c, text in ((2.5, FROZEN, "frozen (checkpoints: fingerprint only)"), (5.9, TRAINABLE, "trainable"),
                       (7.6, DATA, "data"), (8.8, GATE, "per-sample routing")):
        box(ax, x, 0.25, 0.3, 0.3, "", c)
        label(ax, (x + 0.4, 0.4), text, fontsize=7.5, color="black")
    ax.plot([10.9, 11.35], [0.4, 0.4], color="black", lw=0.9, ls="--")
    label(ax, (11.45, 0.4), "image route", fontsize=7.5, color="black")
    ax.text(7.9, 0.85, "ablations: no-VLCM: the pooled report modulates the bottleneck (FiLM);\n"
            "no-CNN: every stage from the ViT taps; no-knowledge: DATE without the KB;\n"
            "no-place-map, no-image-route: without them", fontsize=7.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "documentation" / "figures" /
                   "architecture.png")
    draw(p.parse_args().out)
