"""One normalisation and one laterality convention for every report (nnunet_tgc/text/convention.py)."""
import pytest

from nnunet_tgc.text.convention import (NO_REPORT, LateralityConventionError, dataset_convention, from_internal,
                                        prepare_report, prepare_reports, reconcile, to_internal)


LITERAL = {
    # a QaTa-style report written from the patient's side -> the image side, and back
    "Unilateral pulmonary infection, one infected area, lower left lung.":
        "Unilateral pulmonary infection, one infected area, lower right lung.",
    "Bilateral pulmonary infection, two infected areas, all left lung and middle lower right lung.":
        "Bilateral pulmonary infection, two infected areas, all right lung and middle lower left lung.",
    "LEFT-sided effusion; Right lung clear.": "RIGHT-sided effusion; Left lung clear.",
    "No pulmonary infection, zero infected areas.": "No pulmonary infection, zero infected areas.",
}


@pytest.mark.parametrize("patient, image", list(LITERAL.items()))
def test_patient_reports_map_to_the_image_side_and_back(patient, image):
    assert prepare_report(patient, "patient") == image
    assert from_internal(image, "patient") == patient
    assert prepare_report(image, "image") == image and prepare_report(image, "unknown") == image


def test_one_normalisation_and_idempotence():
    messy = "  Unilateral  pulmonary infection,\none infected area, upper left lung.. "
    once = prepare_report(messy, "patient")
    assert once == "Unilateral pulmonary infection, one infected area, upper right lung."
    # internal text read as internal stays as it is; "leftover"/"bright" are not sides
    assert prepare_report(once, "image") == once
    assert prepare_report("leftover bright lung", "patient") == "leftover bright lung"
    assert prepare_report(None, "image") == NO_REPORT == prepare_report("   ", "patient")


def test_conventions_are_checked_and_reconciled():
    assert dataset_convention({}) == "unknown" and dataset_convention({"tgc_laterality": "patient"}) == "patient"
    with pytest.raises(LateralityConventionError, match="dataset.json.*'image', 'patient', 'unknown'"):
        dataset_convention({"tgc_laterality": "radiological"})
    with pytest.raises(LateralityConventionError, match="'Patient'"):
        prepare_reports({"a": "left"}, "Patient")
    assert reconcile("patient", "image", "reports.json") == "patient"
    with pytest.raises(LateralityConventionError, match="reports.json.*unknown"):
        reconcile("patient", "unknown", "reports.json")
    with pytest.raises(LateralityConventionError, match="unknown"):
        reconcile("unknown", "image", "reports.json")


def test_real_qata_reports_both_directions(shared_data):
    from nnunet_tgc.convert.tables import read_table
    folder = shared_data("QaTa-COV19-subset")
    rows = read_table(folder / "Train_Folder" / "Train_text.xlsx", ["Image"], ["Description"], "train")
    texts = sorted({r.text for r in rows})
    assert len(texts) > 50
    swapped = 0
    for text in texts:
        internal = prepare_report(text, "patient")
        assert from_internal(internal, "patient") == prepare_report(text, "image")  # back to the source
        assert prepare_report(internal, "image") == internal                     # idempotent
        lower, mapped = text.lower(), internal.lower()
        assert lower.count("left") == mapped.count("right") and lower.count("right") == mapped.count("left")
        swapped += internal != prepare_report(text, "image")
    assert swapped > len(texts) // 2  # most QaTa reports name a side
    assert to_internal("Unilateral pulmonary infection, one infected area, upper left lung.", "patient") in \
        {prepare_report(t, "image") for t in texts}


def test_check_measures_qatas_image_side_convention_on_the_real_masks(shared_data):
    from nnunet_tgc.convert.tables import read_table
    from nnunet_tgc.text.check import measure_laterality
    val = shared_data("QaTa-COV19-subset") / "Val_Folder"
    rows = read_table(val / "Val_text.xlsx", ["Image"], ["Description"], "val")
    raw = {r.name.rsplit(".", 1)[0]: r.text for r in rows}  # the Image column names the mask file
    as_image = measure_laterality(prepare_reports(raw, "image"), val / "labelcol", ".png")
    as_patient = measure_laterality(prepare_reports(raw, "patient"), val / "labelcol", ".png")
    assert as_image["cases"] == as_patient["cases"] > 20
    # 96.7% on the training subset (documentation/measurements/qata_subset_facts.md): "left" is the image's left
    assert as_image["share"] > 0.85 and abs(as_image["share"] + as_patient["share"] - 1) < 1e-6
