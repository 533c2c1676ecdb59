#!/usr/bin/env python
"""How fast can a text path learn *where* a report points? A probe on the real QaTa-COV19 reports.

No image network: each model maps a case's report to a coarse map of log-odds over positions and is
trained on the masks alone (VLCM's alignment loss: soft foreground share per cell, BCE + soft Dice),
with nnU-Net's optimiser (SGD 1e-2, momentum 0.99, Nesterov, poly decay, gradient clipping at 12)
for the same number of steps and batch size as the issue-7 benchmark budget (400 x 8). It then
measures, on the validation cases whose report names one side only, the **side share** of the map
(mass in the named image half; 0.5 = the text is not read) and the mean logit margin between the
named and the other half.

Models:

* ``bilinear``: ``<MLP(position), MLP(report)>`` (VLCM's first text-position term);
* ``basis``: VLCM's ``TextPositionPrior`` (report + mean knowledge entry -> coefficients of a
  fixed smooth position basis; linear in its parameters for a given report);
* ``basis_words``: the same basis read by a bag of side/zone words (an explicit parse; a ceiling
  for what the text holds, not a model the plugin uses);
* ``basis_prefit``: ``TextPositionPrior`` fitted before training, as the TGC trainers now do
  (``model/position_fit.py``: full-batch Adam on the training masks grouped by report, with
  left-right mirrored copies and mirrored reports), instead of the SGD steps.

Example::

    HF_HUB_OFFLINE=1 python scripts/probe_text_position.py --json probe.json

The QaTa subset defaults to ``$NNUNET_TGC_SHARED_DATA/QaTa-COV19-subset`` (the variable defaults to
``shared/data`` beside the repository).
"""
import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import machine, shared_data_dir, write_json  # noqa: E402

from nnunet_tgc.model.alignment_loss import similarity_map_loss  # noqa: E402
from nnunet_tgc.model.blocks import coordinate_encoding  # noqa: E402
from nnunet_tgc.model.factory import create_towers  # noqa: E402
from nnunet_tgc.model.position_fit import PositionTargets, fit_position_prior  # noqa: E402
from nnunet_tgc.model.vlcm import TextPositionPrior, position_basis  # noqa: E402
from nnunet_tgc.text.cache import TextFeatureCache  # noqa: E402
from nnunet_tgc.text.knowledge import KnowledgeBase  # noqa: E402
from nnunet_tgc.model.alignment_loss import foreground_share  # noqa: E402
from nnunet_tgc.nnunet.position_fit import GRID, grouped_targets  # noqa: E402

DEFAULT_QATA = shared_data_dir() / "QaTa-COV19-subset"
WORDS = ["left", "right", "upper", "middle", "lower", "all", "bilateral", "unilateral"]


def load_split(root: Path, folder: str, table: str):
    """(reports, masks (N, 1, H, W)) of one LViT-layout split (columns Image, Description)."""
    from openpyxl import load_workbook
    rows = list(load_workbook(root / folder / table, read_only=True).active.iter_rows(values_only=True))[1:]
    texts, masks = [], []
    for name, text in rows:
        text = str(text).strip()
        mask = np.array(Image.open(root / folder / "labelcol" / name)) > 127
        texts.append(text)
        masks.append(torch.from_numpy(mask).float()[None])
    return texts, torch.stack(masks)


def named_side(text: str):
    t = text.lower()
    left, right = "left" in t, "right" in t
    return "left" if left and not right else "right" if right and not left else None


class Bilinear(nn.Module):
    def __init__(self, dim, size, rank=64, pos_dim=32):
        super().__init__()
        self.size, self.rank, self.pos_dim = size, rank, pos_dim
        self.position = nn.Sequential(nn.Linear(pos_dim, rank), nn.GELU(), nn.Linear(rank, rank))
        self.report = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, rank), nn.GELU(), nn.Linear(rank, rank))

    def forward(self, enc, texts):
        where = coordinate_encoding(*self.size, self.pos_dim)
        return (self.report(enc.pooled) @ self.position(where).T / math.sqrt(self.rank)).reshape(-1, 1, *self.size)


class Basis(nn.Module):
    def __init__(self, dim, size):
        super().__init__()
        self.size, self.prior = size, TextPositionPrior(dim)

    def forward(self, enc, texts):
        return self.prior(TextPositionPrior.report_features(enc.pooled, enc.knowledge, enc.knowledge_mask), self.size)


class BasisWords(nn.Module):
    def __init__(self, dim, size, frequencies=4):
        super().__init__()
        self.size, self.frequencies = size, frequencies
        self.linear = nn.Linear(len(WORDS), 4 * frequencies + 1)

    def forward(self, enc, texts):
        x = torch.tensor([[float(w in t.lower()) for w in WORDS] for t in texts])
        return (self.linear(x) @ position_basis(*self.size, self.frequencies).T).reshape(-1, 1, *self.size)


MODELS = {"bilinear": Bilinear, "basis": Basis, "basis_words": BasisWords, "basis_prefit": Basis}
PREFIT_STEPS = 300  # nnUNetTrainerTGC.tgc_position_fit_steps


def prefit(model, cache, train):
    """The trainers' fit before epoch 0: every training mask on the fit grid, grouped by report, plus its
    left-right mirror with the mirrored report (columns = image left-right)."""
    texts, masks = train
    pooled = {}
    for i, m in enumerate(masks):
        share, valid = foreground_share(m[None], GRID)
        pooled[str(i)] = (share[0], valid[0], 1)
    grouped, share, valid, count = grouped_targets({str(i): t for i, t in enumerate(texts)}, pooled, (1,), 1, 0)
    enc = cache.batch(grouped)
    features = TextPositionPrior.report_features(enc.pooled, enc.knowledge, enc.knowledge_mask)
    return fit_position_prior(model.prior, PositionTargets(features, share, valid, count), steps=PREFIT_STEPS)


def train_and_measure(model, cache, train, val, steps, batch, seed, fit_first=False):
    texts, masks = train
    if fit_first:
        loss = torch.tensor(prefit(model, cache, train)["loss_after"])
        steps = 0
    opt = torch.optim.SGD(model.parameters(), 1e-2, momentum=0.99, nesterov=True, weight_decay=3e-5)
    gen = torch.Generator().manual_seed(seed)
    for it in range(steps):
        for group in opt.param_groups:
            group["lr"] = 1e-2 * (1 - it / steps) ** 0.9
        idx = torch.randint(0, len(texts), (batch,), generator=gen).tolist()
        chosen = [texts[i] for i in idx]
        loss = similarity_map_loss([model(cache.batch(chosen), chosen)], masks[idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 12)
        opt.step()
    vtexts, vmasks = val
    with torch.no_grad():
        logits = torch.cat([model(cache.batch(vtexts[i:i + 50]), vtexts[i:i + 50]) for i in range(0, len(vtexts), 50)])
    prob = torch.sigmoid(logits)
    half = logits.shape[-1] // 2
    shares, margins = [], []
    for text, p, lg in zip(vtexts, prob, logits):
        side = named_side(text)
        if side is None:
            continue
        left = float(p[..., :half].sum() / p.sum())
        margin = float(lg[..., :half].mean() - lg[..., half:].mean())
        shares.append(left if side == "left" else 1 - left)
        margins.append(margin if side == "left" else -margin)
    target = F.adaptive_avg_pool2d(vmasks, logits.shape[2:])
    soft_dice = float(2 * (prob * target).sum() / (prob.sum() + target.sum()))
    return {"side_share": round(float(np.mean(shares)), 3), "logit_margin": round(float(np.mean(margins)), 3),
            "n_unilateral_val": len(shares), "map_soft_dice": round(soft_dice, 3), "final_train_loss": round(float(loss.detach()), 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--qata", type=Path, default=DEFAULT_QATA)
    p.add_argument("--backbone", default="tiny", help="text tower (tiny: the CPU tests' random CLIP)")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--size", type=int, default=14, help="map size (14 = stride 16 of a 224 image)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if not (args.qata / "Train_Folder").is_dir():
        sys.exit(f"error: QaTa subset not found at {args.qata} (LViT layout: Train_Folder, Val_Folder); pass --qata")
    torch.set_num_threads(1)
    train = load_split(args.qata, "Train_Folder", "Train_text.xlsx")
    val = load_split(args.qata, "Val_Folder", "Val_text.xlsx")
    towers = create_towers(args.backbone)
    cache = TextFeatureCache(towers, KnowledgeBase.load())
    results = {"machine": machine(), "command": " ".join([sys.executable] + sys.argv), "steps": args.steps,
               "batch_size": args.batch_size, "size": args.size, "backbone": args.backbone, "models": {}}
    for name in args.models:
        runs = []
        for seed in args.seeds:
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            r = train_and_measure(MODELS[name](towers.joint_dim, (args.size, args.size)), cache, train, val,
                                  args.steps, args.batch_size, seed, fit_first=name == "basis_prefit")
            r["seconds"] = round(time.perf_counter() - t0, 1)
            runs.append(r)
            print(f"{name} seed {seed}: side share {r['side_share']:.3f}, logit margin {r['logit_margin']:.2f}, "
                  f"map soft Dice {r['map_soft_dice']:.3f} ({r['seconds']} s)", flush=True)
        results["models"][name] = runs
    write_json(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
