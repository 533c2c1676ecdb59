"""Matching images, masks and report rows by file stem.

A mask belongs to the image with the same stem, with or without a ``mask_`` prefix (the LViT
layout names masks ``mask_<name>.png``); a report row names either the image or the mask file,
with or without extension (QaTa's workbooks list the *mask* file name).  Everything that does
not pair up becomes a :class:`Problem` tied to the image stem, so ``--skip-bad`` can drop exactly
the affected cases.
"""
from collections import defaultdict
from pathlib import Path

from .common import MASK_PREFIX, Case, Collected, Problem, image_stem, safe_case_id


def pair_cases(images: list, masks: list, rows: list, image_folder: Path, mask_folder: Path,
               restrict_to_rows: bool = False) -> Collected:
    """Cases for every image with exactly one mask and one report row.

    ``restrict_to_rows``: only the images named by ``rows`` are wanted (``--limit``); unpaired
    files outside that selection are not reported.
    """
    problems = []
    image_by_stem = _index_images(images, problems)
    masks_by_stem = _index_masks(masks, image_by_stem, mask_folder, problems)
    rows_by_stem = _index_rows(rows, image_by_stem, image_folder, problems)

    # rows naming a missing image count as wanted, so --limit still reports them
    row_keys = {_owner(image_stem(r.name), image_by_stem) or _bare(image_stem(r.name)) for r in rows}
    wanted = row_keys if restrict_to_rows else set(image_by_stem)
    collected = Collected()
    bad = {p.key for p in problems}
    for stem in sorted(wanted & set(image_by_stem)):
        image = image_by_stem[stem]
        found_masks, found_rows = masks_by_stem.get(stem, []), rows_by_stem.get(stem, [])
        if not found_masks:
            problems.append(Problem(stem, image, f"image without mask: no {stem}.* or "
                                                 f"{MASK_PREFIX}{stem}.* in {mask_folder}"))
        elif len(found_masks) > 1:
            names = ", ".join(m.name for m in found_masks)
            problems.append(Problem(stem, found_masks[0], f"duplicated mask name: {names} all "
                                                          f"match image {image.name}"))
        if not found_rows:
            problems.append(Problem(stem, image, "image without report: no row of the report "
                                                 "table names it"))
        if found_masks and found_rows and len(found_masks) == 1 and stem not in bad:
            row = found_rows[0]
            collected.cases.append(Case(case_id=safe_case_id(stem), image=image, mask=found_masks[0],
                                        report=row.text, split=row.split, source_name=image.name))
    if restrict_to_rows:
        problems = [p for p in problems if p.key in wanted]
    bad = {p.key for p in problems}
    collected.cases = [c for c in collected.cases if image_stem(c.source_name) not in bad]
    collected.problems = problems
    return collected


def _index_images(images: list, problems: list) -> dict:
    by_stem = defaultdict(list)
    for path in images:
        by_stem[image_stem(path.name)].append(path)
    for stem, paths in by_stem.items():
        if len(paths) > 1:
            names = ", ".join(p.name for p in paths)
            problems.append(Problem(stem, paths[0], f"duplicated image name {stem!r}: {names}"))
    return {stem: paths[0] for stem, paths in by_stem.items()}


def _owner(stem: str, image_by_stem: dict):
    """The image stem a mask or row stem refers to, or None."""
    if stem in image_by_stem:
        return stem
    if stem.startswith(MASK_PREFIX) and stem[len(MASK_PREFIX):] in image_by_stem:
        return stem[len(MASK_PREFIX):]
    return None


def _bare(stem: str) -> str:
    return stem[len(MASK_PREFIX):] if stem.startswith(MASK_PREFIX) else stem


def _index_masks(masks: list, image_by_stem: dict, mask_folder: Path, problems: list) -> dict:
    by_stem = defaultdict(list)
    for path in masks:
        stem = image_stem(path.name)
        owner = _owner(stem, image_by_stem)
        if owner is None:
            bare = _bare(stem)
            problems.append(Problem(bare, path, f"mask without image: no image {bare}.* for it"))
        else:
            by_stem[owner].append(path)
    return by_stem


def _index_rows(rows: list, image_by_stem: dict, image_folder: Path, problems: list) -> dict:
    by_stem = defaultdict(list)
    for row in rows:
        stem = image_stem(row.name)
        owner = _owner(stem, image_by_stem)
        if owner is None:
            bare = _bare(stem)
            problems.append(Problem(bare, row.table, f"row {row.row}: report for a missing image "
                                                     f"{row.name!r} (no {bare}.* in {image_folder})"))
            continue
        by_stem[owner].append(row)
        if not row.text.strip():
            problems.append(Problem(owner, row.table, f"row {row.row}: empty report for {row.name!r}"))
    for stem, found in by_stem.items():
        if len(found) > 1:
            where = ", ".join(str(r.row) for r in found)
            problems.append(Problem(stem, found[0].table,
                                    f"duplicated name: rows {where} all name image {stem!r}"))
    return by_stem
