#!/usr/bin/env python
"""Where does the report help? A TGC-Net model's Dice per image against plain nnU-Net's, by the kind of
places each validation case's report states and by how often training reports state the same places.

``nnunet-tgc ablate`` splits cases by whether their report *text* occurs in training. A case's report can
also be rare or new in what it says: its set of places (the side x zone cells of its place vector, as the
trainer reads it). This script groups the validation cases of one fold by

* the kind of places: one side; both sides, every zone; both sides, some zones; no place;
* how many training cases state the same set of places: frequent (at least ``--frequent`` of them, default
  5 %), rare (fewer), never;
* whether the report text itself occurs in training (seen / unseen),

and prints, per group, the number of cases and the mean Dice per image of each model's ``correct``
variant (plain nnU-Net: its ``image_only``), from ablation folders ``nnunet-tgc ablate`` wrote.

With ``--place-map CHECKPOINT --labels DIR`` it also prints what the report's places can give at all: plain
nnU-Net's prediction kept only where the report's place map (the map module of a TGC-Net checkpoint, read
from the same place vector the network reads) gives a lesion a probability above ``--gate``. A network that
used the report exactly as far as its places rule regions out would score about that.

Example::

    python scripts/gain_by_places.py --raw $nnUNet_raw/Dataset501_QaTaCOV19 \\
        --splits $nnUNet_preprocessed/Dataset501_QaTaCOV19/splits_final.json --fold 0 \\
        --plain ABLATION_OF_PLAIN_MODEL --tgc run1=ABLATION_OF_RUN_1 run2=ABLATION_OF_RUN_2
"""
import argparse
import collections
import json
import sys
from pathlib import Path

import numpy as np
import torch

from nnunet_tgc.evaluation.metrics import dice_iou, label_reader, read_label_map
from nnunet_tgc.model.place_map import PLACE_EXTRA, PlaceMap, image_grid
from nnunet_tgc.text.convention import dataset_convention, prepare_reports
from nnunet_tgc.text.knowledge import dataset_knowledge
from nnunet_tgc.text.places import CELLS, place_vector, read_places
from nnunet_tgc.text.reports import load_reports_with_options

KINDS = ("one side", "both sides, every zone", "both sides, some zones", "no place")
FREQUENCIES = ("frequent", "rare", "never")


def kind_of(places: tuple) -> str:
    """The kind of a place vector's cells (the last entry, "places nothing", is not a cell)."""
    named = [cell for cell, weight in zip(CELLS, places) if weight > 0.5]
    sides = {side for side, _ in named}
    if places[len(CELLS)] > 0.5 or not named:
        return "no place"
    if len(sides) == 1:
        return "one side"
    return "both sides, every zone" if len(named) == len(CELLS) else "both sides, some zones"


def frequency_of(count: int, n_training: int, frequent_share: float) -> str:
    if count == 0:
        return "never"
    return "frequent" if count >= frequent_share * n_training else "rare"


def read_places_of(raw: Path) -> tuple:
    """({case: its report's place vector, a tuple}, {case: its report as the model reads it}), read as the
    trainer reads the raw dataset's reports."""
    dataset_json = json.loads((raw / "dataset.json").read_text())
    reports, _ = load_reports_with_options(raw / dataset_json.get("reports_file", "reports.json"))
    reports = prepare_reports(reports, dataset_convention(dataset_json, str(raw / "dataset.json")))
    knowledge = dataset_knowledge(dataset_json, str(raw / "dataset.json"))
    return {c: tuple(place_vector(read_places(text, knowledge))) for c, text in reports.items()}, reports


def case_groups(raw: Path, splits: Path, fold: int, frequent_share: float) -> dict:
    """{case: (kind, frequency, "seen"/"unseen")} for the fold's validation cases."""
    places, reports = read_places_of(raw)
    split = json.loads(splits.read_text())[fold]
    counts = collections.Counter(places[c] for c in split["train"])
    texts = {reports[c] for c in split["train"]}
    return {c: (kind_of(places[c]), frequency_of(counts[places[c]], len(split["train"]), frequent_share),
                "seen" if reports[c] in texts else "unseen") for c in split["val"]}


def dice_per_case(ablation: Path, variant: str) -> dict:
    path = ablation / variant / "ablation_metrics.json"
    if not path.is_file():
        sys.exit(f"error: {path} not found: give the output folder of nnunet-tgc ablate (with its '{variant}' variant)")
    return {r["case"]: r["dice"] for r in json.loads(path.read_text())["per_case"]}


def gated_by_place_map(checkpoint: Path, raw: Path, labels: Path, plain: Path, cases, threshold: float) -> dict:
    """{case: Dice of plain nnU-Net's prediction kept where the report's place map exceeds ``threshold``}."""
    weights = torch.load(checkpoint, map_location="cpu", weights_only=False)["network_weights"]
    own = {k[len("place_map."):]: v for k, v in weights.items() if k.startswith("place_map.")}
    if not own:
        sys.exit(f"error: {checkpoint} holds no place map (no 'place_map.*' weights): give the checkpoint of a "
                 f"TGC-Net model trained with the place map")
    place_map = PlaceMap(len(CELLS), PLACE_EXTRA)
    place_map.load_state_dict(own)
    places, _ = read_places_of(raw)
    ending = json.loads((raw / "dataset.json").read_text())["file_ending"]
    reader = label_reader(ending, labels / f"{cases[0]}{ending}")
    dice = {}
    for case in cases:
        truth = read_label_map(reader, labels / f"{case}{ending}") > 0
        prediction = read_label_map(reader, plain / "image_only" / f"{case}{ending}") > 0
        with torch.no_grad():  # a 2D label reads as (1, H, W)
            logits = place_map(torch.tensor([places[case]]), image_grid(1, *truth.shape[-2:]))
        kept = prediction & (torch.sigmoid(logits)[0, 0].numpy() > threshold)
        dice[case] = dice_iou(kept, truth)[0]
    return dice


def table(groups: dict, plain: dict, models: dict) -> str:
    names = list(models)
    head = ["kind of places", "places in training", "text", "n", "plain nnU-Net", *names,
            *[f"{n} - plain" for n in names]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    order = {g: i for i, g in enumerate([*KINDS, *FREQUENCIES, "seen", "unseen"])}  # the table's row order
    rows = [(key, [c for c, g in groups.items() if g == key])
            for key in sorted(set(groups.values()), key=lambda k: [order[x] for x in k])]
    rows += [(("all", "any", text), [c for c, g in groups.items() if g[2] == text]) for text in ("seen", "unseen")]
    for key, cases in rows:
        if not cases:
            continue
        p = 100 * np.mean([plain[c] for c in cases])
        m = [100 * np.mean([models[n][c] for c in cases]) for n in names]
        lines.append("| " + " | ".join([*key, str(len(cases)), f"{p:.1f}", *[f"{x:.1f}" for x in m],
                                        *[f"{x - p:+.1f}" for x in m]]) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raw", type=Path, required=True, help="the nnU-Net raw dataset folder (reports.json, dataset.json)")
    ap.add_argument("--splits", type=Path, required=True, help="splits_final.json of the preprocessed dataset")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--plain", type=Path, required=True, help="nnunet-tgc ablate's folder of a plain nnU-Net model")
    ap.add_argument("--tgc", nargs="+", required=True, metavar="NAME=FOLDER",
                    help="nnunet-tgc ablate's folders of TGC-Net models, each named")
    ap.add_argument("--frequent", type=float, default=0.05,
                    help="a set of places is frequent when at least this share of training cases states it")
    ap.add_argument("--place-map", type=Path, help="a TGC-Net checkpoint whose place map gates plain nnU-Net's "
                                                  "prediction (with --labels)")
    ap.add_argument("--labels", type=Path, help="the validation cases' ground-truth label files")
    ap.add_argument("--gate", type=float, default=0.1, help="the place map's probability below which --place-map "
                                                            "removes plain nnU-Net's foreground")
    args = ap.parse_args(argv)
    models = {}
    for item in args.tgc:
        name, sep, folder = item.partition("=")
        if not sep:
            ap.error(f"--tgc takes NAME=FOLDER, got {item!r}")
        models[name] = dice_per_case(Path(folder), "correct")
    groups = case_groups(args.raw, args.splits, args.fold, args.frequent)
    plain = dice_per_case(args.plain, "image_only")
    missing = [c for c in groups if c not in plain or any(c not in m for m in models.values())]
    if missing:
        sys.exit(f"error: {len(missing)} validation case(s) of fold {args.fold} lack a result ({', '.join(missing[:3])})")
    if args.place_map:
        if not args.labels:
            ap.error("--place-map needs --labels (the ground truth to score the gated prediction)")
        models[f"plain gated by the map > {args.gate}"] = gated_by_place_map(
            args.place_map, args.raw, args.labels, args.plain, list(groups), args.gate)
    print(table(groups, plain, models))
    return 0


if __name__ == "__main__":
    sys.exit(main())
