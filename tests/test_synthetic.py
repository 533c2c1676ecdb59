import json
import os

import numpy as np
import pytest
from PIL import Image

from nnunet_tgc.synthetic import (
    load_cases,
    make_text_decides_dataset,
    opposite_mask,
    opposite_report,
    report_for,
    Blob,
)
from nnunet_tgc.text.knowledge import KnowledgeBase
from nnunet_tgc.text.laterality import mirror_text
from nnunet_tgc.text.reports import load_reports

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_text_decides_dataset(tmp_path_factory.mktemp("raw"), dataset_id=7, name="Probe",
                                     n_train=40, n_test=10, shape=(64, 80), seed=3)


def _png(path):
    return np.asarray(Image.open(path))


def _cases(folder, split):
    reports = load_reports(folder / "reports.json" if split == "Tr" else folder / "imagesTs" / "reports.json")
    for case, report in sorted(reports.items()):
        yield case, report, _png(folder / f"images{split}" / f"{case}_0000.png"), _png(folder / f"labels{split}" / f"{case}.png")


def test_layout_and_dataset_json(dataset):
    assert dataset.name == "Dataset007_Probe"
    dj = json.loads((dataset / "dataset.json").read_text())
    assert dj["channel_names"] == {"0": "xray"} and dj["labels"] == {"background": 0, "lesion": 1}
    assert dj["numTraining"] == 40 and dj["file_ending"] == ".png"
    assert dj["reports_file"] == "reports.json" and dj["tgc_laterality"] == "image"
    assert len(list((dataset / "imagesTr").glob("*_0000.png"))) == 40
    assert len(list((dataset / "labelsTs").glob("*.png"))) == 10
    assert len(load_reports(dataset / "imagesTs" / "reports.json")) == 10


def _components(mask):
    """(side, zone) of each half of the image that holds mask pixels, from the pixels themselves."""
    h, w = mask.shape
    found = set()
    for side, half in (("left", mask[:, : w // 2]), ("right", mask[:, w // 2:])):
        ys = np.nonzero(half)[0]
        if len(ys):
            cy = ys.mean()
            found.add((side, ("upper", "middle", "lower")[int(cy // (h / 3))]))
    return found


@pytest.mark.parametrize("split", ["Tr", "Ts"])
def test_masks_follow_the_report(dataset, split):
    kb = KnowledgeBase.load()
    n_both = 0
    for case, report, image, mask in _cases(dataset, split):
        assert image.shape == mask.shape == (64, 80) and image.dtype == np.uint8
        assert set(np.unique(mask)) == {0, 1}
        named = {e.id for e in kb.match(report)}
        sides = {s for s in ("left", "right") if f"{s}_lung" in named}
        comps = _components(mask)
        assert {s for s, _ in comps} == sides, (case, report)
        for side, zone in comps:  # the zone named next to each side is where that blob lies
            assert f"{zone} {side} lung" in report, (case, report)
        n_both += len(sides) == 2
    if split == "Tr":  # p_both = 0.2: some, not all, training cases name both blobs
        assert 0 < n_both < 20


def test_both_sides_have_an_equally_bright_blob(dataset):
    cases = load_cases(dataset)
    for case, report, image, mask in _cases(dataset, "Tr"):
        means = []
        for side in ("left", "right"):
            blob = Blob(**cases[case]["blobs"][side])
            inside = blob.mask(image.shape)
            assert inside.sum() > 10
            assert (np.nonzero(inside)[1] < 40).all() == (side == "left")
            ring = blob.mask(image.shape) ^ Blob(blob.side, blob.zone, blob.cy, blob.cx, blob.ry + 3, blob.rx + 3).mask(image.shape)
            assert image[inside].mean() > image[ring].mean() + 40  # the blob stands out
            means.append(image[inside].mean())
        assert abs(means[0] - means[1]) < 15  # the image alone cannot tell which one is meant


def test_determinism(tmp_path, dataset):
    again = make_text_decides_dataset(tmp_path, dataset_id=7, name="Probe", n_train=40, n_test=10, seed=3)
    for sub in ("reports.json", "imagesTs/reports.json", "imagesTr/train_0005_0000.png", "labelsTs/test_0003.png"):
        assert (again / sub).read_bytes() == (dataset / sub).read_bytes()
    other = make_text_decides_dataset(tmp_path / "b", dataset_id=7, name="Probe", n_train=5, n_test=10, seed=4)
    assert (other / "imagesTr/train_0000_0000.png").read_bytes() != (dataset / "imagesTr/train_0000_0000.png").read_bytes()
    # test cases do not depend on n_train
    fewer = make_text_decides_dataset(tmp_path / "c", dataset_id=7, name="Probe", n_train=3, n_test=10, seed=3)
    assert (fewer / "imagesTs/test_0007_0000.png").read_bytes() == (dataset / "imagesTs/test_0007_0000.png").read_bytes()


def test_opposite_report_names_the_other_blob(dataset):
    cases = load_cases(dataset)
    reports = load_reports(dataset / "imagesTs" / "reports.json")
    uni = [c for c in reports if cases[c]["target"] != "both"]
    assert uni
    for case in uni:
        mask = _png(dataset / "labelsTs" / f"{case}.png")
        other = opposite_mask(dataset, case)
        assert other.shape == mask.shape and other.sum() > 0 and not (other & mask).any()
        opp = opposite_report(dataset, case)
        assert opp != reports[case]
        assert _components(other) == {(s, z) for s in ("left", "right") for z in ("upper", "middle", "lower")
                                      if f"{z} {s} lung" in opp}
    both = [c for c in reports if cases[c]["target"] == "both"]
    for case in both:
        with pytest.raises(ValueError, match="both"):
            opposite_report(dataset, case)


def test_reports_stay_consistent_under_mirroring(dataset):
    """hflip of image + mask and mirror_text of the report still agree."""
    for case, report, image, mask in _cases(dataset, "Tr"):
        flipped = mask[::-1, ::-1]
        text = mirror_text(report, (0, 1), lateral_axis=1, vertical_axis=0)
        for side, zone in _components(flipped):
            assert f"{zone} {side} lung" in text, (case, report, text)


def test_report_for_orders_sides():
    a = Blob("right", "upper", 5, 60, 3, 3)
    b = Blob("left", "lower", 50, 10, 3, 3)
    assert report_for([a, b]) == "Bilateral pulmonary infection, two infected areas, lower left lung and upper right lung."
    assert report_for([a]) == "Unilateral pulmonary infection, one infected area, upper right lung."
