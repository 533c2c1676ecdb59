"""A tiny synthetic dataset in which the report, not the image, decides the answer.

Every image holds two equally bright blob "lesions", one in the image's left half and one in the
right half. The report names one of them ("Unilateral pulmonary infection, one infected area,
upper left lung.") and the mask contains only that blob; some cases name both. An image-only
model can at best guess, so this dataset shows quickly whether a model reads its text.

Sides follow the image-side convention (``"tgc_laterality": "image"``: "left" = the image's
left half, as in QaTa-COV19); zones are the image's thirds from top to bottom. Both survive
mirroring with :func:`nnunet_tgc.text.laterality.mirror_text`: a blob is kept inside its zone
band, and the bands are symmetric under a vertical flip.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .text.reports import save_reports

ZONES = ("upper", "middle", "lower")
SIDES = ("left", "right")
CASES_FILE = "synthetic_cases.json"  # per-case blob geometry, for the demo and for tests


@dataclass(frozen=True)
class Blob:
    side: str     # "left" / "right": half of the image it lies in
    zone: str     # "upper" / "middle" / "lower": third of the image it lies in
    cy: float
    cx: float
    ry: float
    rx: float

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        yy, xx = np.mgrid[: shape[0], : shape[1]]
        return ((yy - self.cy) / self.ry) ** 2 + ((xx - self.cx) / self.rx) ** 2 <= 1.0


def _radius_range(shape) -> tuple[float, float]:
    # blobs must fit inside one zone band (a third of the height) with a margin
    s = min(shape[0] / 3, shape[1] / 2)
    return max(2.0, 0.22 * s), max(2.5, 0.36 * s)


def _random_blob(rng: np.random.Generator, shape, side: str) -> Blob:
    h, w = shape
    r_lo, r_hi = _radius_range(shape)
    ry, rx = rng.uniform(r_lo, r_hi, size=2)
    zone = ZONES[rng.integers(3)]
    top = h * ZONES.index(zone) / 3
    cy = rng.uniform(top + ry + 0.5, top + h / 3 - ry - 1.5)
    lo, hi = (rx + 1, w / 2 - rx - 2) if side == "left" else (w / 2 + rx + 1, w - rx - 2)
    return Blob(side, zone, float(cy), float(rng.uniform(lo, hi)), float(ry), float(rx))


def report_for(blobs: list[Blob]) -> str:
    """A QaTa-style report naming exactly ``blobs`` (one or two, left before right)."""
    blobs = sorted(blobs, key=lambda b: SIDES.index(b.side))
    places = " and ".join(f"{b.zone} {b.side} lung" for b in blobs)
    if len(blobs) == 1:
        return f"Unilateral pulmonary infection, one infected area, {places}."
    return f"Bilateral pulmonary infection, two infected areas, {places}."


def _render(rng: np.random.Generator, shape, blobs: dict[str, Blob]) -> np.ndarray:
    """Noisy background with both blobs at one shared brightness (so the image cannot tell
    which one is meant)."""
    h, w = shape
    background = rng.uniform(40, 80)
    # a smooth left-right-symmetric vignette, so neither half is brighter than the other
    yy, xx = np.mgrid[:h, :w]
    vignette = 15 * np.cos((xx - (w - 1) / 2) / w * np.pi) * np.cos((yy - (h - 1) / 2) / h * np.pi)
    img = background + vignette + rng.normal(0, 12, size=shape)
    brightness = rng.uniform(70, 130)
    for b in blobs.values():
        img += brightness * b.mask(shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_case(rng: np.random.Generator, shape=(64, 80), p_both: float = 0.2):
    """(image uint8, mask uint8 0/1, report, info) of one synthetic case."""
    blobs = {side: _random_blob(rng, shape, side) for side in SIDES}
    target = "both" if rng.random() < p_both else SIDES[rng.integers(2)]
    named = list(blobs.values()) if target == "both" else [blobs[target]]
    mask = np.zeros(shape, dtype=np.uint8)
    for b in named:
        mask[b.mask(shape)] = 1
    image = _render(rng, shape, blobs)
    info = {"target": target, "blobs": {s: asdict(b) for s, b in blobs.items()}}
    return image, mask, report_for(named), info


def _write_png(array: np.ndarray, path: Path) -> None:
    Image.fromarray(array, mode="L").save(path)


def _write_split(folder: Path, split: str, n: int, shape, seed: int, p_both: float):
    images = folder / f"images{split}"
    labels = folder / f"labels{split}"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    reports, infos = {}, {}
    for i in range(n):
        # one generator per case: test cases do not change when n_train changes
        rng = np.random.default_rng([seed, 0 if split == "Tr" else 1, i])
        case = f"{'train' if split == 'Tr' else 'test'}_{i:04d}"
        image, mask, reports[case], info = make_case(rng, shape, p_both)
        _write_png(image, images / f"{case}_0000.png")
        _write_png(mask, labels / f"{case}.png")
        infos[case] = {"split": split, **info}
    return reports, infos


def make_text_decides_dataset(raw_root, dataset_id: int = 990, name: str = "TextDecides", n_train: int = 64,
                              n_test: int = 16, shape=(64, 80), seed: int = 0, p_both: float = 0.2) -> Path:
    """Write ``raw_root/DatasetXXX_<name>`` (imagesTr/labelsTr/reports.json, imagesTs/labelsTs/
    imagesTs/reports.json, dataset.json) and return its folder. Deterministic for a seed."""
    shape = tuple(int(s) for s in shape)
    folder = Path(raw_root) / f"Dataset{dataset_id:03d}_{name}"
    tr_reports, tr_info = _write_split(folder, "Tr", n_train, shape, seed, p_both)
    ts_reports, ts_info = _write_split(folder, "Ts", n_test, shape, seed, p_both)
    save_reports(tr_reports, folder / "reports.json")
    save_reports(ts_reports, folder / "imagesTs" / "reports.json")
    dataset_json = {
        "name": name,
        "description": "Synthetic: two equally bright blobs per image; the report names the one(s) in the mask.",
        "channel_names": {"0": "xray"},
        "labels": {"background": 0, "lesion": 1},
        "numTraining": n_train,
        "file_ending": ".png",
        "reports_file": "reports.json",
        "tgc_laterality": "image",
        "tgc_knowledge_domain": "chest",  # QaTa-style chest reports (lung zones)
    }
    (folder / "dataset.json").write_text(json.dumps(dataset_json, indent=2), encoding="utf-8")
    (folder / CASES_FILE).write_text(json.dumps({**tr_info, **ts_info}, indent=1, sort_keys=True), encoding="utf-8")
    return folder


def load_cases(dataset_folder) -> dict[str, dict]:
    """Per-case geometry written by :func:`make_text_decides_dataset`."""
    path = Path(dataset_folder) / CASES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {dataset_folder} was not made by make_text_decides_dataset.")
    return json.loads(path.read_text(encoding="utf-8"))


def _case(dataset_folder, case_id: str) -> dict:
    cases = load_cases(dataset_folder)
    if case_id not in cases:
        raise KeyError(f"case {case_id!r} is not in {Path(dataset_folder) / CASES_FILE}")
    info = cases[case_id]
    if info["target"] == "both":
        raise ValueError(f"case {case_id!r} names both blobs, so it has no opposite; pick a unilateral case.")
    return info


def _other_blob(info: dict) -> Blob:
    other = "right" if info["target"] == "left" else "left"
    return Blob(**info["blobs"][other])


def opposite_report(dataset_folder, case_id: str) -> str:
    """The report naming the *other* blob of a unilateral case: with it, a model that reads the
    text must segment the other side of the same image."""
    return report_for([_other_blob(_case(dataset_folder, case_id))])


def opposite_mask(dataset_folder, case_id: str, shape=None) -> np.ndarray:
    """Ground-truth mask (uint8 0/1) that goes with :func:`opposite_report`."""
    if shape is None:
        split = "Tr" if case_id.startswith("train") else "Ts"
        shape = np.asarray(Image.open(Path(dataset_folder) / f"images{split}" / f"{case_id}_0000.png")).shape
    return _other_blob(_case(dataset_folder, case_id)).mask(tuple(shape)).astype(np.uint8)
