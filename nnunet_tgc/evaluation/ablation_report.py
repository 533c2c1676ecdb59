"""The ablation's markdown table and figure (from the summaries in ablation.json)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from ..text.report_variants import REWORDED_AGGREGATE, SIDE_CATEGORIES, VARIANT_DESCRIPTIONS


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}"


def _share(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _delta(x, ref, scale=100.0, digits=2) -> str:
    if x is None or ref is None:
        return "n/a"
    return f"{scale * (x - ref):+.{digits}f}"


def _count(x) -> str:
    if x is None:
        return "n/a"
    return str(x) if float(x).is_integer() else f"{x:.1f}"


SHARE_KEYS = ("side_share", "side_share_vs_correct", "side_share_pooled", "side_share_pooled_vs_correct")


def _shares(summary: dict) -> list:
    """The side share cells: mean over cases and pooled, against the given and the correct report's side."""
    return [_share(summary.get(k)) for k in SHARE_KEYS]


def markdown_table(report: dict) -> str:
    """Variants x metrics (with the ``reworded`` mean), the seen/unseen split, the rewording's unchanged
    reports, then the deltas against ``correct`` (or the first variant)."""
    done = {name: v["summary"] for name, v in report["variants"].items() if "summary" in v}
    aggregates = {name: a["summary"] for name, a in report.get("aggregates", {}).items()}
    categories = [c for c in SIDE_CATEGORIES if any(c in s["by_category"] for s in done.values())]
    head = ["variant", "Dice", "IoU", "pooled Dice", *[f"Dice {c} (n)" for c in categories],
            "side share", "side share vs correct side", "pooled side share", "pooled vs correct side", "empty pred.",
            "empty pred. (one-side cases)"]
    lines = [f"Text ablation of `{report['model_folder']}` fold {report['fold']} ({report['checkpoint']}) on "
             f"{report['n_cases']} cases of `{report['images']}`, {report['date']}.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in done.items():
        cells = [f"`{name}`", _pct(s["mean_dice"]), _pct(s["mean_iou"]), _pct(s["pooled_dice"])]
        for c in categories:
            group = s["by_category"].get(c)
            cells.append(f"{_pct(group['mean_dice'])} ({group['n_cases']})" if group else "n/a")
        cells += [*_shares(s), _count(s.get("n_empty_prediction")), str(s["n_side_empty_prediction"])]
        lines.append("| " + " | ".join(cells) + " |")
    for name, s in aggregates.items():
        cells = [f"**{name}** (mean of {s['n_variants']})", _pct(s["mean_dice"]), _pct(s["mean_iou"]),
                 _pct(s["pooled_dice"]), *["" for _ in categories], *_shares(s), _count(s["n_empty_prediction"]), ""]
        lines.append("| " + " | ".join(cells) + " |")
    for name, v in report["variants"].items():
        if "summary" not in v:
            lines.append(f"| `{name}` | {v['status']} |" + " |" * (len(head) - 2))
    lines += ["", *_training_lines(report, done, aggregates), *_unchanged_lines(report),
              *_delta_lines(done, aggregates), "", *_legend(report)]
    return "\n".join(lines) + "\n"


TRAINING_ROWS = (("seen", "seen"), ("unseen", "unseen"), ("unseen_known_places", "unseen: known places"),
                 ("unseen_new_places", "unseen: new places"))


def _training_lines(report: dict, done: dict, aggregates: dict) -> list:
    """The seen/unseen table, or the visible line saying why there is none."""
    split = report.get("training_split") or {}
    if split.get("status") != "ok":
        return [f"**Seen/unseen in training: not computed** ({split.get('reason', 'no split in this report')}).", ""]
    lines = [f"Seen / unseen in training: a case is *seen* when its correct report (as the model reads it) occurs "
             f"among the {split['n_training_cases']} training reports of fold {split['fold']} "
             f"({split['n_training_texts']} distinct texts, `{split['reports_file']}`): {split['n_seen']} seen, "
             f"{split['n_unseen']} unseen; the same cases in every variant.{_places_sentence(split)}", "",
             "| variant | group | n | Dice | pooled Dice | empty pred. | side share | side share vs correct side "
             "| pooled side share | pooled vs correct side |", "|---|---|---|---|---|---|---|---|---|---|"]
    rows = [(f"`{n}`", s) for n, s in done.items()] + [(f"**{n}**", s) for n, s in aggregates.items()]
    for label, s in rows:
        groups = s.get("by_training") or {}
        for g, title in TRAINING_ROWS:
            if g in groups or g in ("seen", "unseen"):  # summaries of an older version have no places groups
                lines.append(_training_row(label, title, groups.get(g) or {}))
    return lines + [""]


def _training_row(label: str, title: str, x: dict) -> str:
    return (f"| {label} | {title} | {x.get('n_cases', 0)} | {_pct(x.get('mean_dice'))} | "
            f"{_pct(x.get('pooled_dice'))} | {_count(x.get('n_empty_prediction'))} | " + " | ".join(_shares(x)) + " |")


def _places_sentence(split: dict) -> str:
    if "n_unseen_known_places" not in split:
        return ""  # a report of an older version
    return (f" Of the unseen, *known places* ({split['n_unseen_known_places']}): the report states a set of places "
            f"(side x zone cells, as the model reads them) that some training report states; *new places* "
            f"({split['n_unseen_new_places']}): a set no training report states.")


def _unchanged_lines(report: dict) -> list:
    counted = {n: v for n, v in report["variants"].items() if "n_unchanged" in v}
    if not counted:
        return []
    cells = ", ".join(f"`{n}` {v['n_unchanged']}" for n, v in counted.items())
    return [f"Reports the rewording could not read and left unchanged (of {report['n_cases']}): {cells}.", ""]


def _delta_lines(done: dict, aggregates: dict = None) -> list:
    if len(done) < 2:
        return []  # nothing to compare (a plain nnU-Net model has one variant)
    ref_name = "correct" if "correct" in done else next(iter(done))
    ref = done[ref_name]
    lines = [f"Differences against `{ref_name}` (Dice in points, side share as a fraction):", "",
             "| variant | ΔDice | ΔIoU | Δpooled Dice | Δside share vs correct side |", "|---|---|---|---|---|"]
    rows = [(f"`{n}`", s) for n, s in done.items() if n != ref_name]
    rows += [(f"**{n}**", s) for n, s in (aggregates or {}).items()]
    for name, s in rows:
        lines.append(f"| {name} | {_delta(s['mean_dice'], ref['mean_dice'])} | "
                     f"{_delta(s['mean_iou'], ref['mean_iou'])} | {_delta(s['pooled_dice'], ref['pooled_dice'])} | "
                     f"{_delta(s['side_share_vs_correct'], ref['side_share_vs_correct'], 1.0, 3)} |")
    return lines


def _legend(report: dict) -> list:
    lines = ["Variants: " + "; ".join(f"`{n}`: {v.get('description') or VARIANT_DESCRIPTIONS.get(n, n)}"
                                      for n, v in report["variants"].items()) + ".",
             "Dice/IoU in %, per image and averaged over images (LViT protocol, empty ground truth: both empty -> 1, "
             "else 0); pooled: over all pixels. Categories by what the correct report says. Side share: over cases "
             "whose correct report names one side, the mean share of predicted foreground in the image half the "
             "given report names (0.5 = text-blind, 1 = reads the side); 'vs correct side': the half the correct "
             "report names; cases without predicted foreground are excluded and counted in the last column; "
             "pooled: the foreground in the named halves over all foreground of those cases (a few stray pixels "
             "weigh little); "
             "'empty pred.': cases without any predicted foreground. "
             f"`{REWORDED_AGGREGATE}`: the mean of the reworded_<style> rows."]
    return lines


# ---------------------------------------------------------------- figure

def draw_figure(report: dict, panels: list, output: Path) -> None:
    """Bars of the variants' Dice, pooled Dice and side share; below, one row per panel case.

    ``panels``: dicts with ``case``, ``report``, ``image``, ``gt`` and ``predictions`` (a list of
    (title, 2D array)).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_cols = 2 + max((len(p["predictions"]) for p in panels), default=0)
    fig = plt.figure(figsize=(max(8.0, 2.6 * n_cols), 3.6 + 2.9 * len(panels)))
    grid = fig.add_gridspec(1 + len(panels), n_cols, height_ratios=[1.4] + [1.0] * len(panels))
    _bars(fig.add_subplot(grid[0, :]), report)
    for row, panel in enumerate(panels, start=1):
        images = [("image", panel["image"], "gray"), ("ground truth", panel["gt"], "viridis")]
        images += [(title, pred, "viridis") for title, pred in panel["predictions"]]
        for col, (title, array, cmap) in enumerate(images):
            ax = fig.add_subplot(grid[row, col])
            ax.imshow(array, cmap=cmap, interpolation="nearest", **({} if cmap == "gray" else {"vmin": 0, "vmax": 1}))
            ax.set_title(title if col else f"{panel['case']}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_xlabel("\n".join(textwrap.wrap(panel["report"], 34)), fontsize=7)
    fig.tight_layout()
    fig.savefig(output, dpi=90)
    plt.close(fig)


def _bars(ax, report: dict) -> None:
    done = {name: v["summary"] for name, v in report["variants"].items() if "summary" in v}
    names = list(done)
    metrics = [("Dice", "mean_dice"), ("pooled Dice", "pooled_dice"), ("side share vs correct side",
                                                                       "side_share_vs_correct")]
    x = np.arange(len(names))
    width = 0.8 / len(metrics)
    rotate = len(names) > 6
    for i, (label, key) in enumerate(metrics):
        values = [done[n][key] if done[n][key] is not None else np.nan for n in names]
        ax.bar(x + (i - 1) * width, values, width, label=label)
    ax.axhline(0.5, color="gray", linestyle=":", linewidth=1)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=30 if rotate else 0, ha="right" if rotate else "center",
                       fontsize=7 if rotate else None)
    ax.set_ylim(0, 1.2)
    ax.set_title(f"Text ablation, {report['n_cases']} cases (dotted: side share of a text-blind model)", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", ncol=len(metrics), frameon=False)
