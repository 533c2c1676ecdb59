"""``nnunet-tgc places REPORTS_JSON``: what the model reads from each report: the places it states.

Before training on a new dataset, or predicting with another hospital's reports, a user can see how each
report is read: the cells (side of the image x zone) it names as involved and as free, and its count, after
the one normalisation every report gets (``convention.prepare_report``) and with the knowledge of a domain
(documentation/text.md, "Places"). A report that places nothing is segmented from the image alone.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .convention import CONVENTIONS, NO_REPORT, prepare_report
from .knowledge import KnowledgeBase
from .places import CELLS, read_places
from .reports import LATERALITY_KEY, ReportsFileError, load_reports_with_options


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("places", help="print the places the model reads from each report of a reports.json",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reports", type=Path, help="a reports.json ({case id: report})")
    p.add_argument("--domain", default="chest", help="knowledge domain (a dataset.json's tgc_knowledge_domain; "
                                                     "default chest)")
    p.add_argument("--laterality", choices=CONVENTIONS,
                   help="whose left/right the reports mean (default: the file's tgc_laterality, else unknown: "
                        "read as written)")
    p.add_argument("--json", type=Path, help="also write the reads to this JSON file")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        reports, options = load_reports_with_options(args.reports)
        knowledge = KnowledgeBase.load().for_domain(args.domain)
    except (ReportsFileError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    convention = args.laterality or options.get(LATERALITY_KEY) or "unknown"
    reads = {case: read_one(text, convention, knowledge) for case, text in sorted(reports.items())}
    print(f"{args.reports}: {len(reads)} report(s), knowledge domain {args.domain!r}, laterality {convention!r} "
          f"(sides of the image{'' if convention != 'unknown' else ', as written'})")
    for case, r in reads.items():
        print(f"{case}: {describe(r)}")
    placed_nothing = sum(not r["involved"] for r in reads.values())
    print(f"{placed_nothing} of {len(reads)} report(s) place nothing (segmented from the image alone)")
    whole = sum(bool(r.get("whole_sides")) for r in reads.values())
    if whole:
        print(f"{whole} of {len(reads)} report(s) name a side without any zone on it, read as the whole side "
              f"(marked 'whole ... lung'): check that the side word there names a finding, not something else "
              f"on that side (a device, a bone, a border)")
    if args.json:
        args.json.write_text(json.dumps(reads, indent=1) + "\n", encoding="utf-8")
    return 0


def read_one(text, convention: str, knowledge: KnowledgeBase) -> dict:
    """The read of one report: involved and free cells ("left lower", ...) in CELLS order, and the count; where the
    report abbreviates, also the text with its abbreviations spelled out, as the text tower reads it."""
    prepared = prepare_report(text, convention)
    if prepared == NO_REPORT:
        return {"involved": [], "free": [], "count": None, "no_report": True}
    places = read_places(prepared, knowledge)
    read = {"involved": _named(places.involved), "free": _named(places.free), "count": places.count,
            "whole_sides": sorted(places.whole_sides)}
    spelled = knowledge.spell_out(prepared)
    return read if spelled == prepared else {**read, "spelled_out": spelled}  # what the text tower reads


def _named(cells) -> list:
    return [f"{side} {zone}" for side, zone in CELLS if (side, zone) in cells]


def describe(read: dict) -> str:
    if read.get("no_report"):
        return "no report"
    parts = [f"involved: {', '.join(read['involved']) or 'nothing placed'}"]
    if read.get("whole_sides"):
        parts.append(", ".join(f"whole {side} lung: a side word without a zone" for side in read["whole_sides"]))
    if read["free"]:
        parts.append(f"free: {', '.join(read['free'])}")
    if read["count"] is not None:
        parts.append(f"count: {read['count']}")
    return " | ".join(parts)
