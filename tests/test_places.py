"""What a report states about places (text/places.py): sides, zones, lobes, counts and negation, read
from the knowledge base's terms and composed, whatever the wording."""
import pytest

from nnunet_tgc.text.knowledge import KnowledgeBase
from nnunet_tgc.text.laterality import swap_left_right, swap_upper_lower
from nnunet_tgc.text.places import CELLS, named_sides, place_vector, read_places

ALL = {"upper", "middle", "lower"}


@pytest.fixture(scope="module")
def chest():
    return KnowledgeBase.load().for_domain("chest")


def cells(text, kb):
    return {f"{s} {z}" for s, z in read_places(text, kb).involved}


@pytest.mark.parametrize("text, expected", [
    ("Unilateral pulmonary infection, one infected area, lower right lung.", {"right lower"}),
    ("Bilateral pulmonary infection, two infected areas, middle left lung and upper right lung.",
     {"left middle", "right upper"}),
    ("Bilateral pulmonary infection, two infected areas, all left lung and all right lung.",
     {f"{s} {z}" for s in ("left", "right") for z in ALL}),
    # an unseen combination of known facts, with and without the conjunction
    ("Unilateral pulmonary infection, one infected area, upper lower left lung.", {"left upper", "left lower"}),
    ("Upper and lower left lung.", {"left upper", "left lower"}),
    # lobes, abbreviations and anatomy
    ("RLL consolidation.", {"right lower"}),
    ("Patchy opacities in the LUL and lingula.", {"left upper", "left middle"}),
    ("Right middle lobe infiltrate.", {"right middle"}),
    ("Right upper and lower lobe opacities.", {"right upper", "right lower"}),
    ("Patchy opacities in the left and right lower lobes.", {"left lower", "right lower"}),
    ("Bibasal airspace disease.", {"left lower", "right lower"}),
    ("Blunting of the left costophrenic angle.", {"left lower"}),
    ("Opacity at the right apex.", {"right upper"}),
    ("Multifocal perihilar opacities bilaterally.", {"left middle", "right middle"}),
    ("Bilateral opacities, predominantly in the lower zones.", {"left lower", "right lower"}),
    ("L lower zone opacity. Single focus.", {"left lower"}),
    ("Consolidation involving the right mid and lower zones.", {"right middle", "right lower"}),
    # zones listed after their side continue it; a summary word does not widen the side a phrase names
    ("Opacities in the left mid and lower zones, as well as the right lower zone.",
     {"left middle", "left lower", "right lower"}),
    ("Opacities in the left upper, middle and lower zones, as well as the right lower zone.",
     {"left upper", "left middle", "left lower", "right lower"}),
    ("Bilateral pulmonary infection of the whole left lung and lower right lung.",
     {"left upper", "left middle", "left lower", "right lower"}),
    ("Bilateral pulmonary infection of the middle and lower parts of the right lung and the lower part of the "
     "left lung.", {"right middle", "right lower", "left lower"}),
    ("Unilateral pulmonary infection, one infected area, all lower left lung.", {"left lower"}),
    ("Lt lower zone opacity.", {"left lower"}),
    ("Bilat. basal opacities.", {"left lower", "right lower"}),
])
def test_places_of_reports_worded_many_ways(chest, text, expected):
    assert cells(text, chest) == expected


def test_negation_frees_a_side_instead_of_naming_it(chest):
    places = read_places("No right-sided opacity.", chest)
    assert places.involved == frozenset() and {s for s, _ in places.free} == {"right"}
    assert named_sides("No right-sided opacity.", chest) == frozenset()
    both = read_places("Opacity in the LLL; the right lung is clear.", chest)
    assert cells("Opacity in the LLL; the right lung is clear.", chest) == {"left lower"}
    assert {s for s, _ in both.free} == {"right"}
    assert cells("Left lower zone consolidation without right-sided involvement.", chest) == {"left lower"}


def test_a_report_that_places_nothing_points_everywhere_it_does_not_exclude(chest):
    generic = place_vector(read_places("Pulmonary infection.", chest))
    assert generic[:len(CELLS)] == [1.0] * len(CELLS) and generic[len(CELLS)] == 1.0
    no_right = place_vector(read_places("No right-sided opacity.", chest))
    assert no_right[:len(CELLS)] == [float(side == "left") for side, _ in CELLS]
    placed = place_vector(read_places("Lower left lung.", chest))
    assert placed[:len(CELLS)] == [float(c == ("left", "lower")) for c in CELLS] and placed[len(CELLS)] == 0.0


def test_the_place_vector_says_where_not_how_many(chest):
    counted = read_places("Unilateral pulmonary infection, one infected area, lower left lung.", chest)
    assert counted.count == 1
    assert place_vector(counted) == place_vector(read_places("Opacity in the lower left lung.", chest)) \
        == place_vector(read_places("Three foci of consolidation in the left lower zone.", chest))


@pytest.mark.parametrize("text, count", [
    ("Unilateral pulmonary infection, one infected area, lower right lung.", 1),
    ("Bilateral pulmonary infection, two infected areas, all left lung and all right lung.", 2),
    ("Multiple patchy opacities.", 3),
    ("Solitary nodule in the RUL.", 1),
    ("Right lower lobe opacity.", None),
    ("There is one area of hazy infiltrate in the right mid and lower zones.", 1),  # "There" is not "three"
])
def test_counts(chest, text, count):
    assert read_places(text, chest).count == count


def test_mirrored_words_read_as_mirrored_places(chest):
    """Mirroring swaps the words (laterality.py); every place the report states swaps with them, lobes and
    single-letter sides included, so a mirrored image and its mirrored report stay consistent."""
    for text in ("RLL and lingula opacities; L lower zone.", "Upper and lower left lung.", "RUL, RML and LLL."):
        flipped = {(("right" if s == "left" else "left"), z) for s, z in read_places(text, chest).involved}
        assert read_places(swap_left_right(text), chest).involved == flipped
        upside = {(s, {"upper": "lower", "lower": "upper"}.get(z, z)) for s, z in read_places(text, chest).involved}
        assert read_places(swap_upper_lower(text), chest).involved == upside


def test_a_domain_without_chest_knowledge_reads_sides_but_no_lung_zone():
    bone = "One benign osteochondroma lesion in the femur of the lower limb (frontal view), located in the left side."
    none = KnowledgeBase.load().for_domain("none")
    assert cells(bone, none) == {f"left {z}" for z in ALL}  # the left half of the image, no zone
    assert read_places(bone, none).count == 1
    assert cells("Upper left lung.", none) == {f"left {z}" for z in ALL}  # zones are chest knowledge


def test_zone_words_typed_without_a_space_read_as_the_words_they_are(chest):
    assert cells("Bilateral pulmonary infection, upperlower left lung and lower right lung.", chest) == \
        {"left upper", "left lower", "right lower"}
    assert cells("Opacity in the middlelower right lung.", chest) == {"right middle", "right lower"}
    # only a word made entirely of zone words is split: "Flowers" stays what it is, "uppermost" is a word of its own
    assert cells("Flowers in the upper left lung.", chest) == {"left upper"}
    assert cells("Opacity in the uppermost part of the right lung.", chest) == {"right upper"}
    assert cells("Opacity in the lowermost part of the left lung.", chest) == {"left lower"}


def test_both_lungs_names_both_sides_in_the_chest_domain_only(chest):
    assert cells("Patchy opacities in both lungs.", chest) == {f"{s} {z}" for s in ("left", "right")
                                                               for z in ("upper", "middle", "lower")}
    assert cells("Opacities in both lung fields, worse in the lower zones.", chest) == {"left lower", "right lower"}
    assert read_places("Fractures in both lungs.", KnowledgeBase.load().for_domain("none")).involved == frozenset()


@pytest.mark.parametrize("text, expected", [
    # misspelt place words are read as the word meant (text/typos.py)
    ("Patchy opacities in the rigth lower zone.", {"right lower"}),
    ("Consolidation of the left lowr lobe.", {"left lower"}),
    ("Bilateral pulmonary infection, three infected areas, uooer middle left lung and middle right lung.",
     {"left upper", "left middle", "right middle"}),
    ("Opacities in the upper midddle lower right lung.", {"right upper", "right middle", "right lower"}),
    ("Rigth-sided basal opacity.", {"right lower"}),
    # ... and ordinary words stay what they are
    ("The patient might have opacities in the lower zones.", {"left lower", "right lower"}),
    ("Eight nodules in the lower left lung.", {"left lower"}),
    ("Opacity in the left lower zone, increasing while on treatment.", {"left lower"}),
    ("Opacities at night in the lower zones, based on the tower view.", {"left lower", "right lower"}),
    # region words, read from anatomy: their zones, the side from the side word beside them
    ("Airspace opacity in the right infrahilar region.", {"right middle", "right lower"}),
    ("Streaky opacity in the left suprahilar region.", {"left upper", "left middle"}),
    ("Left retrocardiac opacity.", {"left lower"}),
    ("Opacity at the right cardiophrenic angle.", {"right lower"}),
    ("Right paracardiac consolidation.", {"right middle", "right lower"}),
    ("Nodular opacity in the left infraclavicular region.", {"left upper"}),
    ("Nodular opacity projecting over the right hilum.", {"right middle"}),
])
def test_misspellings_and_region_words(chest, text, expected):
    assert cells(text, chest) == expected


@pytest.mark.parametrize("text, expected", [
    # a comma ends a negated stretch where a finding is stated beyond it, not inside a list of places
    ("Opacity at the right lung base, left lung is clear.", {"right lower"}),
    ("Right lower zone opacity, otherwise clear lungs.", {"right lower"}),
    ("Clear left lung, right basal opacity.", {"right lower"}),
    ("No focal consolidation on the right, left basal opacity.", {"left lower"}),
    ("No opacity in the right upper, middle or lower zones, left lower zone consolidation.", {"left lower"}),
    ("Opacity in the right lower zone while the left lung is clear.", {"right lower"}),
    ("Opacities in the right lung, sparing the apex.", {"right middle", "right lower"}),
    # a heading names the place of what follows its colon
    ("Left lung: lower zone opacity. Right lung: clear.", {"left lower"}),
    ("Findings: opacity in the lower left lung field.", {"left lower"}),
    # a side that only weighs findings placed already places nothing; one that names its own zone does
    ("Opacities in the lower zones, more marked on the left.", {"left lower", "right lower"}),
    ("Bilateral upper lobe opacities, right greater than left.", {"left upper", "right upper"}),
    ("Opacity, more marked in the right lower zone.", {"right lower"}),
    # zones beside a lobe take the lobe's side; UK zone abbreviations; the CP angle
    ("Retrocardiac opacity in the left lower lobe.", {"left lower"}),
    ("LLZ consolidation.", {"left lower"}),
    ("RUZ and RMZ opacities.", {"right upper", "right middle"}),
    ("Opacity in the right CP angle.", {"right lower"}),
    # a side named alone before a negation, in a clause stating no finding, is free
    ("Right lung - well aerated, no opacity. Left lung - airspace shadowing in the lower third.", {"left lower"}),
    ("R lung: ground-glass opacity in the lower zone. L lung: no focal abnormality.", {"right lower"}),
    ("Left basal consolidation, no effusion.", {"left lower"}),
    # words that are no place: a central trachea, RT-PCR
    ("Trachea is central. Infiltrates of the LLL.", {"left lower"}),
    ("Viral pneumonia of the entire left lung. Correlate with RT-PCR.", {"left upper", "left middle", "left lower"}),
    # sides and zones of what is not a lung: the upper abdomen, a line in a neck vein
    ("Opacities in the right upper lung. Visualized upper abdomen is unremarkable.", {"right upper"}),
    ("Left internal jugular catheter tip in the SVC. Right basal consolidation.", {"right lower"}),
    # what has resolved, is not involved or spared (then on the side of its clause)
    ("New opacities in the right lower lung field. The previously involved left lung has cleared.", {"right lower"}),
    ("Left lower zone opacity persists. The right upper zone opacity has resolved.", {"left lower"}),
    ("The left lung is not involved; the right lung, in its upper and lower thirds, with the middle third spared.",
     {"right upper", "right lower"}),
    ("Opacity throughout the left lung, apex to base; the right lung, with its middle third spared.",
     {"left upper", "left middle", "left lower", "right upper", "right lower"}),
    # ranges, landmarks
    ("Opacity extending from the right apex down to the hilum.", {"right upper", "right middle"}),
    ("Consolidation from the left hilum to the base.", {"left middle", "left lower"}),
    ("Hazy opacity just above the left hemidiaphragm.", {"left lower"}),
    ("Biapical airspace opacification.", {"left upper", "right upper"}),
    # what is cleared is the rest: "otherwise", "o/w", "rest", "remainder"
    ("Quick read: patchy opac Lt lower, otherwise clear.", {"left lower"}),
    ("Both lower zone GGO, o/w lungs clear. R IJ line tip in SVC.", {"left lower", "right lower"}),
    ("Right mid zone opacity. The remainder of the lungs is clear.", {"right middle"}),
    ("Rt lower patchy opac, Lt lung clear.", {"right lower"}),
    # plain words, a line that lists what is normal, a table by zone
    ("What looks normal: the top and middle parts of the right lung; heart size.\n"
     "What is abnormal: fluffy white patches in the bottom of the right lung.", {"right lower"}),
    ("- Upper zones: no opacity on both sides\n- Mid zone \u2014 L: no opacity | R: not involved\n"
     "- Lower zone \u2014 L: no opacity | R: ground-glass opacity", {"right lower"}),
    ("Lung right: down part is opacity.", {"right lower"}),
    # zones of a vein, a quadrant, a pleural recess; a new phrase does not continue the previous side
    ("Catheter tip in the lower superior vena cava. Opacities in the upper zone of the left lung.", {"left upper"}),
    ("Clips over the right upper quadrant. The costophrenic recesses are not obscured. Left lower zone opacity.",
     {"left lower"}),
    ("Airspace opacities at the right lung base and in the middle and lower zones of the left lung.",
     {"right lower", "left middle", "left lower"}),
    # a free lobe frees its own cell; a free place without any side frees nothing stated involved
    ("Left lower zone opacity. No RLL consolidation.", {"left lower"}),
    ("Consolidation in the left mid zone. Hila of normal size and morphology.", {"left middle"}),
    # units and hyphenated sides; the diaphragm is no lung, what lies above it is the lower zone
    ("Right basal opacity. CRP 155 mg/L, lymphocytes 1.0 x10^9/L, oxygen 2 L/min.", {"right lower"}),
    ("Consolidation LLZ; no R-sided opacity; LUZ/LMZ clear.", {"left lower"}),
    ("Both hemidiaphragms are well defined. Opacity just above the left hemidiaphragm.", {"left lower"}),
    # severity scores per zone, plain words
    ("Brixia score. R upper zone (A): 0\nR mid zone (B): 0\nR lower zone (C): 2\nL upper zone (D): 0\n"
     "L mid zone (E): 1\nL lower zone (F): 0", {"right lower", "left middle"}),
    ("The changes are in the bottom part of your left lung. Your right lung looks healthy.", {"left lower"}),
    # voice dictation's spoken punctuation; NAD (no abnormality detected)
    ("there is hazy opacity in the left lower and mid zones full stop the right lung is clear.",
     {"left lower", "left middle"}),
    ("B - patchy consolidation LMZ; Rt lung NAD; no effusion", {"left middle"}),
    # a size at the limit of normal is no zone; a lung "well aerated" is clear; a rib is no lung
    ("Rt base consolidation. Heart size upper nl.", {"right lower"}),
    ("Cardiac silhouette at the upper limit of normal. Opacity in the LLZ.", {"left lower"}),
    ("Consolidation involving the left lower lobe. The right lung is well aerated.", {"left lower"}),
    ("Old fracture of a left posterior rib. Right mid zone opacity.", {"right middle"}),
    # a zone word beside a lobe without a side names a part of the lobe: the lobe's cell, involved or free
    ("Ground-glass opacity in the superior segment of the RLL.", {"right lower"}),
    ("Consolidation of the superior lingular segment and the RML.", {"left middle", "right middle"}),
    ("Opacity in the whole left upper lobe including the lingula.", {"left upper", "left middle"}),
    ("Opacity in the RUL. No opacity in the superior segment of the LLL.", {"right upper"}),
    # "both"/"bilateral" right before zone words is those zones' side, not a summary of the phrases after it
    ("Consolidation in both lower zones and the right upper zone.", {"left lower", "right lower", "right upper"}),
    ("Opacity in the lingula, the bilateral lower lobes and the left upper zone.",
     {"left upper", "left middle", "left lower", "right lower"}),
    # "predominantly" weighs what is placed before it; alone, it places
    ("Opacities at both lung bases, predominantly on the left.", {"left lower", "right lower"}),
    ("Patchy opacities, predominantly on the left.", {"left upper", "left middle", "left lower"}),
    # "diffuse" names no zone first: the side before the zones in brackets is theirs
    ("Diffuse Lt lung opacities (upper, mid & lower zones) + Rt lower zone opacity.",
     {"left upper", "left middle", "left lower", "right lower"}),
    # a whole side freed ("but not in the right") frees no cell another statement places with its own side
    ("Opacity in the left mid zone but not in the right. Airspace opacity in both lower zones.",
     {"left middle", "left lower", "right lower"}),
    ("Lower zone opacities, no right-sided involvement.", {"left lower"}),
    ("Bilateral opacities. The left lung is clear.", {"right upper", "right middle", "right lower"}),
    # a list of what is normal by regions; a side at 0 %; a share of both lungs; "i.e." ends no sentence
    ("Finding 1: opacity | Side: Left | Zone: lower\nNormal regions: left upper, left mid, right upper",
     {"left lower"}),
    ("Left: 0%. The lung is clear. Right: ~20% involved (lower zone).", {"right lower"}),
    ("Right lung - 15%, lower zone. Left lung - 0%. Total: about 8% of both lungs.", {"right lower"}),
    ("Left lung: involvement of all zones, i.e. upper, middle and lower. Right lung: lower zone opacity, upper and "
     "mid zones spared.", {"left upper", "left middle", "left lower", "right lower"}),
    # a heading's side is that of the zones after it, whichever comes first
    ("Right lung: upper and mid zones spared, lower zone opacity.", {"right lower"}),
    # queried items of a run-on list, each with its own side
    ("Radiographer comment: ?consolidation both bases ?patchy shadowing left mid-zone.",
     {"left lower", "left middle", "right lower"}),
    ("query consolidation Lt base query consolidation Rt mid zone", {"left lower", "right middle"}),
    # the silhouette sign, and a border that is sharp; levels by anterior ribs (zones meet at the 2nd and 4th)
    ("Airspace opacity silhouetting the right heart border. The left lung is clear.", {"right middle"}),
    ("Hazy opacity effacing the left hemidiaphragm.", {"left lower"}),
    ("The right heart border is sharply defined. Left basal consolidation.", {"left lower"}),
    ("The left hemidiaphragm is not obscured. Right upper zone opacity.", {"right upper"}),
    ("Opacity at the level of the left 4th anterior rib.", {"left middle"}),
    ("Opacity below the level of the right 6th anterior rib.", {"right lower"}),
    ("Consolidation over the right 1st and 2nd anterior rib ends.", {"right upper"}),
    ("Consolidation over the left 2nd and 3rd anterior ribs (left upper zone).", {"left upper"}),
    # a device or a bone named with its side and a word or two between is no lung
    ("Right mid zone opacity. Left-sided dual-chamber pacemaker in place.", {"right middle"}),
    ("Right basal opacity. Old healed fracture of the left 8th posterolateral rib.", {"right lower"}),
    # what a clearing word is said of, after it; a clear costophrenic angle is no clear lower zone
    ("Upper fields free on both sides. Right laterobasal confluent infiltrates.", {"right lower"}),
    ("On the right patchy infiltrates in the upper and lower field. Costophrenic sinus free on both sides.",
     {"right upper", "right lower"}),
    ("Lower zone opacities. The costophrenic angles are sharp.", {"left lower", "right lower"}),
    ("Airspace shadowing in the right costophrenic recess. The left costophrenic recess is not obscured.",
     {"right lower"}),
    ("Consolidation behind the heart on the left. CVC via the right jugular vein.", {"left lower"}),
    # the fields of a structured export's record are one statement; a normal record frees its place
    ("observation[1].code = opacity\nobservation[1].bodySite = Right lung\nobservation[1].zones = lower; middle\n"
     "observation[1].interpretation = abnormal\nobservation[2].code = lung field\n"
     "observation[2].bodySite = Left lung, upper zone\nobservation[2].interpretation = N", {"right lower", "right middle"}),
    # hurried dotted abbreviations; a dot before a capital or an unrelated word still ends a sentence
    ("CXR AP supine. Rt. lung clear. Airspace opac. Lt. mid. & lower z.", {"left middle", "left lower"}),
    ("Patchy consolid. rt. mid zone; Lt low. zone. Lt upp. & mid zones clear.", {"right middle", "left lower"}),
    ("R./L. lower zones: airspace opac.", {"left lower", "right lower"}),
    ("Rt base: consolid. Rt sup./mid zones clear. no abn. Lt lung.", {"right lower"}),
    ("cxr infiltrates entire L lung; diffuse R. no fx seen.",
     {"left upper", "left middle", "left lower", "right upper", "right middle", "right lower"}),
    ("hazy opacities diffuse b/l. no free air.",
     {"left upper", "left middle", "left lower", "right upper", "right middle", "right lower"}),
    # a side word before zones shares all the zones that continue the phrase
    ("Consolidation in the left and right upper and mid zones.",
     {"left upper", "left middle", "right upper", "right middle"}),
    # plain words of a clinician's message: "looks fine", "nothing on the right", a hedge, a question
    ("Looks like consolidation in both bases. Left mid zone looks fine to me.", {"left lower", "right lower"}),
    ("Haziness in the left mid and lower zones. Nothing on the right that I can see.", {"left middle", "left lower"}),
    ("Patch in the RUZ (not 100% sure), and another patch in the right mid zone.", {"right upper", "right middle"}),
    ("Possibly a bit of haze in the right mid zone as well? The heart is normal.", {"right middle"}),
    # "each" zone is both sides'; a patient's rotation is no place
    ("Two foci in each lower zone. A further single focus in the left middle zone.",
     {"left lower", "left middle", "right lower"}),
    ("Patient rotated to the left. Right basal opacity.", {"right lower"}),
    # neighbouring structures: the breast shadow, below the clavicle, the cardiac apex
    ("Consolidation overlying the right breast shadow.", {"right lower"}),
    ("Opacity projected below the left clavicle.", {"left upper"}),
    ("Opacity adjacent to the left hilum and at the left cardiac apex.", {"left middle", "left lower"}),
    # ward and physiotherapy notes: zone abbreviations joined by a slash, a patient's position, a joint replacement,
    # a weakness
    ("CXR reviewed: B/L MZ/LZ patchy opac, 2 areas.", {"left middle", "left lower", "right middle", "right lower"}),
    ("CXR: patchy opac L LZ. Rx: R side lying to target L LZ. PMH: L TKR, R-sided weakness.", {"left lower"}),
    # a structure outside the lungs with a side and no finding; the sharpness of a shadow's edges
    ("Infiltration without clear contours in the lower third of the right lung field. The heart shadow is widened "
     "to the left.", {"right lower"}),
    # lettered items of a numbered list, and a differential diagnosis, which names diseases, not places
    ("FINDINGS:\n1. Two foci of airspace shadowing:\n(a) The left base\n(b) The right lower lobe\n"
     "2. Remaining lung zones clear.\nDDx:\n1. COVID-19 pneumonia.\n2. Diffuse alveolar haemorrhage - unlikely.",
     {"left lower", "right lower"}),
    # a negation or clearing word in brackets is about what the brackets hold; a clearing word after a finding
    # and a place clears back to the finding ("consol" ends a bullet whose next line was joined to it)
    ("Patchy airspace opacification in the right upper and lower zones (sparing the right mid zone) and the left "
     "lower zone.", {"right upper", "right lower", "left lower"}),
    ("CXR: opacification L UZ + LZ (L MZ spared), R base.", {"left upper", "left lower", "right lower"}),
    ("CXR: lingula + LLL - consol UZs clear, no effusion.", {"left middle", "left lower"}),
    ("Right lower zone opacity has cleared.", set()),
    # the empty-set sign of ward notes; an SBAR handover's recommendation; initials; a first impression taken back
    ("CXR: patchy opacities B/L LZ; apices \u00d8, \u00d8 effusion.", {"left lower", "right lower"}),
    ("S: 67M, NEWS2 6.\nB: COVID-19.\nA: CXR shows consolidation in the left lower zone.\nR: Escalate if worse.",
     {"left lower"}),
    ("Consolidation in the left lower zone. Electronically signed by Dr R. Patel.", {"left lower"}),
    ("Ground-glass change in the left lower lobe. At first I thought the left apex looked a bit hazy, but it is just "
     "the clavicle.", {"left lower"}),
    # the sign at a line's end is that line's; a count in brackets is no score; "all 6 zones"
    ("CXR: patchy opac L mid zone; R lung, L apex, L base \u00d8\nAusc: bronchial BS L mid zone", {"left middle"}),
    ("CXR:\n- RLL - shadowing\n- LMZ/LLZ - shadowing (2 areas)\napices clear", {"right lower", "left middle",
                                                                               "left lower"}),
    ("Chest: creps RLL. CXR: opacification all 6 zones.", {f"{s} {z}" for s in ("left", "right") for z in ALL}),
    # the hila stated normal are vessels and nodes, not a clear middle zone; a line of the zones without lesions;
    # a place right before "no effusion" is not what it negates; an initial before a surname and a comma
    ("Hazy opacities are noted in all six zones.\nBoth hila are normal.",
     {f"{s} {z}" for s in ("left", "right") for z in ALL}),
    ("Lesion 1 - right lung, lower zone - GGO\nZones without lesion: right upper, right mid, left upper, left mid, "
     "left lower", {"right lower"}),
    ("CXR reviewed: infiltrates in RUL; RLL and LLL, no effusion/PTX.", {"right upper", "right lower", "left lower"}),
    ("CXR: infiltrates in RLL.\n- L. Martinez, MD (eICU)", {"right lower"}),
    # a place alone on its line as a heading is the side of the lines under it that name none
    ("FINDINGS:\nRight lung:\nClear.\nLeft lung:\nPatchy consolidation in the lower zone and the mid zone.\n"
     "Heart: normal.\nIMPRESSION: left-sided pneumonia.", {"left lower", "left middle"}),
    ("RIGHT LUNG:\nPatchy opacity in the lower zone.\nLEFT LUNG:\nClear.", {"right lower"}),
    # a chat handover line by line; a coded field whose title is abbreviated; zones as a range of abbreviations
    ("[08:09] Tom (rad): ICU bed 3 cxr (PA): covid changes in R UZ-LZ and L upper/mid zones\n"
     "[08:10] Tom (rad): elsewhere the lungs are clear",
     {"right upper", "right middle", "right lower", "left upper", "left middle"}),
    # an amendment takes places back
    ("Opacity in the right lower zone. Reason for amendment: laterality corrected. The opacity was previously "
     "reported in the left lower zone.", {"right lower"}),
    ("Opacity in the left mid zone. ADDENDUM: Please disregard the reference to the right upper zone.",
     {"left middle"}),
    ("Opacity in the left upper zone. Amendment: the original version erroneously stated right upper zone.",
     {"left upper"}),
    # "costophrenic angles sharp" without a verb; translated reports: "totality", "summits", "the two hemithoraxes",
    # "the mean and inferior thirds", "from the apices to the diaphragm"
    ("1) Patchy airspace opacities in the left upper zone.\n2) Costophrenic angles sharp.", {"left upper"}),
    ("Opacity in the totality of the right pulmonary field, and at the summit of the left lung.",
     {"right upper", "right middle", "right lower", "left upper"}),
    ("Alveolo-interstitial syndrome in the mean and inferior thirds of the two hemithoraxes.",
     {"left middle", "left lower", "right middle", "right lower"}),
    ("In the right lung from the apex to the diaphragm, ground-glass shadowing.",
     {"right upper", "right middle", "right lower"}),
    # translated reports: "the two lungs" after its zones is their side; "mean third"
    ("Opacities in the inferior thirds of the two lungs, and in the mean third of the left pulmonary field. "
     "Bilateral pneumopathy.", {"left lower", "left middle", "right lower"}),
    # a heading spreads over its row up to the end of its sentence, not into the next heading's
    ("Left lung: upper zone opacity; middle zone opacity; lower zone clear. Right lung: upper zone clear; middle "
     "zone clear; lower zone clear.", {"left upper", "left middle"}),
    # a lateral view shows no side: what it places was placed on the frontal view
    ("Opacity in the left mid zone and the right lower zone. Lateral view: the opacity projects posteriorly "
     "over the lower lobe.", {"left middle", "right lower"}),
    # clinicians' notes: sides of limbs, teeth, cannula sites and views name no lung, also through place words
    ("Airway: MP 2; dentition: crown upper left central incisor, loose lower right molar; upper denture.\n"
     "Access: 18G (left) ACF, 22G right forearm. Splint right wrist. Frontal and left lateral views.\n"
     "CXR: patchy consolidation in the right base.", {"right lower"}),
    ("Wound swab right shin wound: no significant growth. Renal graft in the right iliac fossa.\n"
     "CXR: opacity in the right upper zone.", {"right upper"}),
    # "spare", "nil", "OK"; "together with" joins what is cleared; a finding standing as a heading
    ("Opacities in both lower zones. The changes spare the upper and mid zones bilaterally.",
     {"left lower", "right lower"}),
    ("Airspace opacity in the left midzone. Nil abnormality in the right lung and the left upper zone.",
     {"left middle"}),
    ("Shadowing in the right base. Left side, together with right upper and mid zones clear.", {"right lower"}),
    ("Shadowing in the right base. The left lung and the upper two-thirds of the right lung OK.", {"right lower"}),
    ("Key finding: Airspace opacity: L lower zone, R lung clear.", {"left lower"}),
    # lobes of whole lungs, two of three zones, the (right) middle lobe, zones listed before their side
    ("Consolidation in every lobe of both lungs including the lingula.",
     {"left upper", "left middle", "left lower", "right upper", "right middle", "right lower"}),
    ("Opacity in the right lower lobe and both lobes of the left lung including the lingula.",
     {"right lower", "left upper", "left middle", "left lower"}),
    ("Ground-glass shadowing in the lower two-thirds of the left lung.", {"left middle", "left lower"}),
    ("COVID changes right mid zone, upper and middle zones of the left lung.",
     {"right middle", "left upper", "left middle"}),
    ("Patchy opacities in both lungs, upper through lower zones.",
     {"left upper", "left middle", "left lower", "right upper", "right middle", "right lower"}),
    # an initial without its dot, both test results, a glossary of zones, "Hila N"
    ("Dr L Kowalski\nThe Health Centre\nDear Dr Kowalski,\nHer chest X-ray shows consolidation in the right base.",
     {"right lower"}),
    ("Swabs x2: both negative. Opacity in the left lower zone. Hila N.", {"left lower"}),
    ("There is a hazy area in the bottom of your right lung. Doctors divide each lung into upper, middle and lower "
     "zones to describe where something is.", {"right lower"}),
    # an HL7 message: the text its OBX segments carry, a sentence split over two of them; a PDF's page break
    ("MSH|^~\\&|RIS|H|EHR|H|202003201602||ORU^R01|1|P|2.5.1\nPID|1||123^^^H^MR||DOE^R|||\n"
     "OBX|1|TX|71045&BODY^XR CHEST||There is consolidation in the left lower||||||F\n"
     "OBX|2|TX|71045&BODY^XR CHEST||zone. The right lung is clear.||||||F", {"left lower"}),
    ("Findings: consolidation in the left lung base. The right lung is Page 1 of 2\nConfidential: patient data "
     "Department of Radiology - Patient ID 11 (continued) clear. No effusion.", {"left lower"}),
    # a list stated free after its last place, which an "and" closes; a comma alone leaves it the last place's
    ("Opacity in the right lower zone. The upper and middle thirds of the right hemithorax and the whole left "
     "hemithorax with preserved transparency.", {"right lower"}),
    ("Opacity in the left lower field. Right lung upper, middle field and left whole lung not see lesion.",
     {"left lower"}),
    ("Ground-glass in the lower fields. The upper and middle lung fields of right and of left regularly ventilated.",
     {"left lower", "right lower"}),
    ("Ground-glass change. Lower zones bilaterally, left upper zone without opacity.", {"left lower", "right lower"}),
    ("Opacity in the right base. In the upper and middle sections of the right lung and in the left lung, without "
     "infiltrative changes.", {"right lower"}),
    # a structure outside the lungs in the middle; "free" opening a stretch; "till" and an arrow in a range
    ("Opacity in the right lower zone. Trachea in the middle. Free costophrenic recesses.", {"right lower"}),
    ("Analogous infiltration is noted in the left lung from the root to the diaphragm (middle and lower thirds).",
     {"left middle", "left lower"}),
    ("Opacities in the left lung from apex till base.", {"left upper", "left middle", "left lower"}),
    ("patchy consolidation right lung apex\u2192base", {"right upper", "right middle", "right lower"}),
    ("Naso-gastric tube with apex under the diaphragm. Right base opacity.",
     {"right lower"}),
    # "both lungs" before its zones is both lungs'; a similar change is a finding; figures of speech
    ("Opacity in both lungs from the mid zones to the bases and the left upper zone.",
     {"left upper", "left middle", "left lower", "right middle", "right lower"}),
    ("Opacity in the right lower zone. Similar change is present in the left upper zone and the left lower zone, "
     "the left mid zone being spared.", {"right lower", "left upper", "left lower"}),
    ("Consolidation in the right lower zone. Given the pandemic, COVID-19 pneumonia is top of my list. "
     "I reserve the right to revise my opinion.", {"right lower"}),
    # a form: what it ticks, not its other options; "tick all that apply"; a name after a label
    ("Claimant: R. Morrison\nSide: [ ] Left [x] Right [ ] Both\nZones affected (tick all that apply):\n"
     "Right lung: [ ] Upper [ ] Mid [x] Lower\nDetails: opacity in the right base.", {"right lower"}),
    ("Side: ( ) Left (X) Right\nDr R O'Donnell\nOpacity in the right base.", {"right lower"}),
    # a dictation without stops: what a clearing word clears starts at a new subject or a structure outside the lungs;
    # spoken punctuation ends a clause
    ("findings there is consolidation in the left lung base the right lung is clear the heart is normal in size",
     {"left lower"}),
    ("there is airspace disease in the right base and the heart is normal in size", {"right lower"}),
    ("findings colon patchy opacity in both lower lobes period the upper lungs are clear new paragraph impression "
     "colon COVID-19 pneumonia", {"left lower", "right lower"}),
    ("Patchy opacities in the right lower zone. Both domes of diaphragm are normal.", {"right lower"}),
    # scoring software: a verdict per region in a table, a field or JSON; decimal points end no clause
    ("Region | Score | Result\nRight upper zone | 0.07 | below threshold\nRight lower zone | 0.97 | POSITIVE\n"
     "Left lower zone | 0.12 | not detected", {"right lower"}),
    ("Opacity / RUZ: 0.18 [-] below threshold\nOpacity / RLZ: 0.91 [+] ABOVE THRESHOLD", {"right lower"}),
    ('{"regions": {"left_upper": {"score": 0.21, "positive": false}, "left_lower": {"score": 0.81, "positive": true}}}',
     {"left lower"}),
    ("Regions above threshold (0.45):\n* LLZ 0.72\nRegions below threshold (negative): RUZ 0.18; LUZ 0.25",
     {"left lower"}),
    # a dictation's corrections of itself: a sentence struck, a place corrected by a place, a statement restated
    ("There is opacity in the right mid zone and the left base period. Scratch that whole sentence. Patchy "
     "shadowing is seen in both lung bases period.", {"left lower", "right lower"}),
    ("Consolidation in the right and left lower zones period. No -- go back, delete that. Consolidation in the right "
     "lower zone period.", {"right lower"}),
    ("There is patchy consolidation in the left upper, strike that, the lower zones bilaterally.",
     {"left lower", "right lower"}),
    ("Opacity in the right lower zone and the left upper -- I mean -- the left lower zone.",
     {"right lower", "left lower"}),
    ("Airspace opacity in the right base -- no wait, I said that wrong -- opacification in the left lower zone.",
     {"left lower"}),
    ("*RLZ (not R upper z, sorry - typo). So: R base + L base", {"left lower", "right lower"}),
    # a registry's export: a header and a row per record, a yes/no column per zone
    ('"Patient ID"\t"Right upper"\t"Right lower"\t"Left upper"\t"Left lower"\t"Comment"\n'
     '"C19-1"\t"no"\t"yes"\t"no"\t"no"\t"GGO, see PACS"', {"right lower"}),
    ("record_id,opac_rt_up,opac_rt_low,opac_lt_up,opac_lt_low,n_lesions\nC19-2,N,Y,Y,N,2",
     {"right lower", "left upper"}),
    # a log whose header names a place per column among others: each cell is its column's place
    ("| Date | Time | View | Right lung | Left lung | Lesions | Notes |\n"
     "| 2020-11-06 | 20:47 | AP | lower | upper, mid & lower | 2 | tubes OK |",
     {"right lower", "left upper", "left middle", "left lower"}),
    ("Date\tView\tRight lung\tLeft lung\tLesions\n2020-11-06\tPA\tclear\tlower\t1", {"left lower"}),
    ("ID|STATUS|LATERALITY|BODY_SITE|COMMENT\n1|Active|Right|Lower zone of right lung|\n"
     "2|Resolved|I10|Essential hypertension|hx", {"right lower"}),
    # talk: "right" that means correct, a yes/no question, "X, not Y", "nothing else", "don't see"
    ("Got it, that's the right patient. There is consolidation in the left base. Is that right? Yes, that's right.",
     {"left lower"}),
    ('Consolidation in the bottom of the right lung. "Is it in both lungs?" "No, just the right lung."',
     {"right lower"}),
    ("There's consolidation in the right upper zone. The left upper zone, not the right upper zone.",
     {"left upper"}),
    ("Okay, reading that back: the right lung base, nothing else acute.", {"right lower"}),
    ("So there's consolidation in both bases. I don't see anything in the upper and mid zones.",
     {"left lower", "right lower"}),
    # a note's lines joined: a side phrase of its own after a place, before a clearing word; underlined words;
    # "right" as an adverb; "nil" ending its part of a list, whose " / " parts it as a comma does
    ("CXR today: GGO/consol. R lower zone (1 patch)\n   L lung clear", {"right lower"}),
    ("CXR today: patchy shadowing _R lower zone_\n   L side clear", {"right lower"}),
    ("There's a hazy white look in both lungs right through - top, middle and bottom.",
     {"left upper", "left middle", "left lower", "right upper", "right middle", "right lower"}),
    ("On the left in the upper pulmonary field; on the right throughout the pulmonary field, ground glass.",
     {"left upper", "right upper", "right middle", "right lower"}),
    ("LEFT LUNG  UPPER - CLR / MID - NIL / LOWER - OPACITY\nRIGHT LUNG  UPPER - NIL / MID - NIL / LOWER - CLEAR",
     {"left lower"}),
    # an HL7 CDA document: its narrative blocks, not its coded entries
    ('<component><section><title>FINDINGS</title><text><list><item>There is airspace opacification involving the '
     'lower zone of the left lung.</item><item>The left upper and mid zones are clear.</item></list></text>'
     '<entry><observation negationInd="true"><value displayName="Airspace opacification"/><targetSiteCode '
     'displayName="Right upper zone of lung"/></observation></entry></section></component>', {"left lower"}),
    # a DICOM SR content tree: each finding with its modifiers, in the three ways dumps print it
    ('<contains CONTAINER:(121070,DCM,"Findings")=SEPARATE>\n'
     '  <contains CODE:(121071,DCM,"Finding")=(233604007,SCT,"Airspace opacification")>\n'
     '    <has concept mod CODE:(272741003,SCT,"Laterality")=(24028007,SCT,"Right")>\n'
     '    <has concept mod CODE:(106233006,SCT,"Topographical modifier")=(261122009,SCT,"Lower zone")>\n'
     '  <contains CODE:(121071,DCM,"Finding")=(233604007,SCT,"Airspace opacification")>\n'
     '    <has concept mod CODE:(363698007,SCT,"Finding Site")=(44714003,SCT,"Upper lobe of left lung")>\n'
     '    <has concept mod CODE:(363702006,SCT,"Presence")=(2667000,SCT,"Absent")>', {"right lower"}),
    ("1.5.1 [contains] CODE: Finding = Opacity of lung (SCT:3128005)\n"
     "    1.5.1.1 [has concept mod] CODE: Finding Site = Lung structure (SCT:39607008)\n"
     "    1.5.1.2 [has concept mod] CODE: Laterality = Left (SCT:7771000)\n"
     "    1.5.1.3 [has concept mod] CODE: Topographical modifier = Mid zone (SCT:255562008)\n"
     "1.5.2 [contains] CODE: Finding = Opacity of lung (SCT:3128005)\n"
     "    1.5.2.1 [has concept mod] CODE: Laterality = Right (SCT:24028007)\n"
     "    1.5.2.2 [has concept mod] CODE: Topographical modifier = Upper zone (SCT:261183002)",
     {"left middle", "right upper"}),
    ("Lvl Relationship      Type       Concept Name          Value\n"
     "2   contains          CODE       >>Finding             Consolidation of lung [SCT 95436008]\n"
     "3   has concept mod   CODE       >>>Laterality         Right and left [SCT 51440002]\n"
     "3   has concept mod   CODE       >>>Topographical modifier   Lower zone [SCT 261122009]\n"
     "2   contains          TEXT       >>Impression          Findings in keeping with COVID-19 pneumonia.",
     {"left lower", "right lower"}),
    # what is no finding of this film: the request, an earlier film, a general statement, a condition, a purpose, a
    # legend, a question answered
    ("Clinical details: ?R basal pneumonia. Findings: left lower zone opacity.", {"left lower"}),
    ("History: fever. ?right lower lobe pneumonia. Opacity in the left upper zone.", {"left upper"}),
    ("Indication:\n?R basal consolidation\nLeft upper zone opacity.", {"left upper"}),
    ("Previous CXR 02/03/2021: consolidation in the right lower zone.\nToday: the left mid zone is opacified.",
     {"left middle"}),
    ("Compared with the film of 01/02, which showed right basal consolidation, there is now opacity in the left "
     "upper zone.", {"left upper"}),
    ("The prior radiograph showed right lower zone change, now resolved. New left upper zone opacity.",
     {"left upper"}),
    ("Interval clearance of the right lower zone opacity. Persisting opacity in the left mid zone.", {"left middle"}),
    ("The right lower zone consolidation has largely cleared; residual opacity in the right lower zone.",
     {"right lower"}),
    ("Viral pneumonia usually affects both lower zones; unilateral upper zone change is less typical. Here the "
     "opacity lies in the left upper zone.", {"left upper"}),
    ("Opacity in both lower zones, in keeping with the typical distribution of COVID-19.",
     {"left lower", "right lower"}),
    ("Left upper zone consolidation. If it does not clear, or if the right lower zone becomes involved, CT is "
     "advised.", {"left upper"}),
    ("Left upper zone opacity. Repeat film in six weeks to ensure resolution of the left upper zone opacity.",
     {"left upper"}),
    ("Key:\nA - right upper zone\nB - right lower zone\nFindings: opacity in the left lower zone.", {"left lower"}),
    ("[ ] Typical (bilateral, lower zone predominant)\n[x] Indeterminate\nOpacity in the left upper zone.",
     {"left upper"}),
    ("Any right-sided effusion (dull right base)? No. Is there consolidation in the left lower zone? Yes.",
     {"left lower"}),
    ("R effusion? No effusion either side. Where is the change? Left mid zone.", {"left middle"}),
    # translated and non-native wording: "under lobe", "lung tops", "both-sided", "each two lung", "X is no
    # abnormality", sinuses "open", structures "natural", "CPA"
    ("In the left under lobe a consolidation. In both lung tops no abnormalities.", {"left lower"}),
    ("Densities in the upper fields both-sided.", {"left upper", "right upper"}),
    ("Ground glass in each two lung lower zones. Other lung zones are natural. Sinuses are open.",
     {"left lower", "right lower"}),
    ("Shadow in the right lower lung field. The left lower lung field and the upper to middle lung fields of both "
     "sides is no abnormality. Both CPA sharp.", {"right lower"}),
    ("Opacity at the Lt. whole lung.", {"left upper", "left middle", "left lower"}),
    ("Hazy densities in the left middle lung field. Hemidiaphragms and costophrenic sulci are intact.",
     {"left middle"}),
    # lay and hurried text: "all" of no lung, "left" as a verb, the top two thirds, an initial before a degree
    ("Hi all, the X-ray shows infection in the bottom of my right lung. My husband hasn't left my side.",
     {"right lower"}),
    ("Shadowing low down on the right. The top two thirds of the right lung are clear.", {"right lower"}),
    ("OPACITY IN THE LEFT LOWER ZONE.\nDICTATED BY: R PATEL MD", {"left lower"}),
    ("Resident: Mrs R.N., 86F\nReported: opacity in the lowest third of the left lung.", {"left lower"}),
    # a sign of the chest's examination is no finding of the film
    ("O: RS: good air entry bilat, few crackles L mid zone. CXR (my read): opacity R lower zone. L lung clear.",
     {"right lower"}),
    # an e-mail thread: the quoted and the earlier messages are not this reply's read
    ("On 3 May, Dr A wrote:\n> I think there is change in the right upper zone.\n\nReviewed properly: scrap what I "
     "said about the right upper zone. Opacity in the left lower zone only.", {"left lower"}),
    ("Final read: opacity in both lower zones.\n\n-----Original Message-----\nFrom: Dr A\nSent: Monday\n"
     "Quick look: the right upper zone is involved.", {"left lower", "right lower"}),
    # a Markdown table crossing zones with sides
    ("**Indication:** ?right basal pneumonia\n| Zone | Right | Left |\n|:-----|:-----:|:----:|\n| Upper | \u2014 | "
     "\u2714 opacity |\n| Mid | Clear | Clear |\n| Lower | \u2014 | \u2014 |", {"left upper"}),
    # what a word means, and a first read taken back, are no finding of this film
    ('Opacity in the left lower zone.\n\u2022 Each lung is divided into upper, middle and lower "zones".\n'
     '\u2022 "Base" means the bottom part of a lung.', {"left lower"}),
    ("Opacity in the right base. I had initially queried opacity in the left apical region, but on review this was "
     "the breast shadow.", {"right lower"}),
    # translated reports: fractions, a list parted by semicolons, sides after the zones, Latin and Spanish word order
    ("Full name: VO THI L.  Age: 39\n- Appear 1 opaque cluster at middle 1/3 of right lung field.\n- 1/3 upper and "
     "1/3 lower of right lung field; left lung field not yet see lesion.", {"right middle"}),
    ("Blurred lesion, boundary not clear, at 2/3 lower of two lung fields.",
     {"left middle", "left lower", "right middle", "right lower"}),
    ("Infiltrate at lower lung field right and left. Sinus costophrenicus right left sharp.",
     {"left lower", "right lower"}),
    ("Opacities in both pulmonary bases and the middle third of the left hemithorax. Right hemithorax with adequate "
     "aeration. Catheter with distal tip in superior cava vein.", {"left lower", "left middle", "right lower"}),
    ("Opacities in the three thirds of both pulmonary fields, denser in the right upper zone.",
     {"left upper", "left middle", "left lower", "right upper", "right middle", "right lower"}),
    ("- Consolidation at the right upper, mid and lower zones beside the left lower zone.\n- Normal both hilar shadows.",
     {"right upper", "right middle", "right lower", "left lower"}),
    ("[8:12 am] Dr Sneha R.: 2 patches dikh rahe, dono bases aur left mid zone mein\n[8:12 am] Dr Sneha R.: Right "
     "side kuch nahi hai", {"left lower", "left middle", "right lower"}),
    ("[9:01 am] Dr Sneha R.: Left side apex se base tak mein haziness hai", {"left upper", "left middle", "left lower"}),
    ("Patient: Mrs. A. R.    Age: 68 Y\n- Opacity in the left lower zone.\n- Both C.P. angles are clear.",
     {"left lower"}),
    # questions asked and not answered yes or no; what a pronoun clears; an expectation; a note's signed zones
    ("A. In the right base. Q. You're not saying the right lower zone was affected, are you? A. The right lower zone "
     "was involved. Q. Isn't it true that there was also disease in the left upper zone? A. It was clear. Q. So the "
     "left lower zone was normal? A. The left lower zone was not normal.", {"right lower", "left lower"}),
    ("Right, your turn. You can see consolidation in the left lower zone. Now look at the right upper and lower zones. "
     "You can see they are clear. You might expect change in the right mid zone as well, but you don't.",
     {"left lower"}),
    ("Opac: R: up\u2212 mid\u2212 low+ | L: up\u2212 mid+ low+", {"right lower", "left middle", "left lower"}),
    ("+ patchy consol R upper + lower, R mid \u2212 & L LZ, x3 foci", {"right upper", "right lower", "left lower"}),
    # a double read's consensus, a slide's nested bullets, a shift log's other patients, a poster's authors
    ("Reader 2 did not record the left lower zone; confirmed at joint review.\nCONSENSUS (final, both readers):\n"
     "Involved: right base, left lower zone\nNot involved: right upper zone, right mid zone, left upper zone",
     {"right lower", "left lower"}),
    ("02:10 bed 11: right-sided chest drain swinging. Likely MSK (tender left costal margin).\n02:40 CXR: patchy "
     "opacities right lower zone", {"right lower"}),
    ("Authors: R. Kowalski, M. Haddad, L. Osei\nImaging: consolidation in the right lower lobe.", {"right lower"}),
    # change over time: stable is still there, cleared is gone, an earlier film's column or relative clause is not now
    ("No significant change in the consolidation in the left lower zone. Complete clearing of the right upper zone.",
     {"left lower"}),
    ("The right base, which was clear on the previous film, now shows patchy opacity.", {"right lower"}),
    ("Zone | Prior (1 May) | Current (9 May)\n------------------------\nRight upper | opacity | clear\n"
     "Right lower | clear | opacity\nLeft lower | opacity | opacity", {"right lower", "left lower"}),
    ("PRIOR 02/04/2020: Patchy opacities in both upper zones.\nCurrent: opacity in the left mid zone.",
     {"left middle"}),
    ("The ground-glass opacity in the left mid zone has progressed to involve the left base.",
     {"left middle", "left lower"}),
    # what is no disease of this film: old changes at rest, densities explained away, a symptom
    ("Old healed scarring at the left apex, unchanged. Calcified granuloma in the right mid zone. New consolidation "
     "in the right lower zone, on a background of old inactive changes.", {"right lower"}),
    ("Clear-cut consolidation in the left lower lobe. The density over the right upper zone is a bony overlap. An ECG "
     "electrode projects over the right mid zone. Nipple shadow at the right base.", {"left lower"}),
    ("Clinical details: 50 year old. Pleuritic pain right side.\nFindings: opacity in the left mid zone.",
     {"left middle"}),
    # exceptions, relations between sides, ranges and extents
    ("The right lung is clear except for the base, and all of the opposite lung except the apex is clear.",
     {"right lower", "left upper"}),
    ("Opacification in all zones except the left apex.",
     {"right upper", "right middle", "right lower", "left middle", "left lower"}),
    ("The left lung is involved save for the apex, which is clear. The right lung is clear from apex to base.",
     {"left middle", "left lower"}),
    ("Consolidation in the right lower zone with similar change in the corresponding zone of the contralateral lung. "
     "All other zones are clear.", {"right lower", "left lower"}),
    ("Hazy shadowing throughout both lungs, with no zone spared.",
     {f"{s} {z}" for s in ("left", "right") for z in ALL}),
    ("Opacity extending from the right apex down to the right costophrenic angle. Neither the left apex nor the left "
     "mid zone is involved; left base clear.", {"right upper", "right middle", "right lower"}),
    ("Bilateral peripheral opacities (right: lower zone; left: mid zone).", {"right lower", "left middle"}),
    ("CHEST (PA and left lateral): opacity in the right 5th anterior intercostal space and in both lingular segments.",
     {"right lower", "left middle"}),
    ("Shadowing from the level of the right hilum down to the hemidiaphragm.", {"right middle", "right lower"}),
    ("Right lower zone consolidation. Also the left. None in the upper zones.", {"right lower", "left lower"}),
    ("Portable CXR - compared with previous\n\nPrevious examination (2020-04-02) - findings at that time: opacity in "
     "both upper zones.\nToday's examination - findings now: opacity in the right lwr zone.", {"right lower"}),
    # exceptions that pair each zone with its side, "everything but", "no zone of the left lung is spared"
    ("The lungs are clear apart from patchy consolidation in the left mid zone and the right lower zone.",
     {"left middle", "right lower"}),
    ("Airspace shadowing involves everything but the right upper zone.",
     {"right middle", "right lower", "left upper", "left middle", "left lower"}),
    ("The right lung is involved everywhere but the apex; no zone of the contralateral lung is spared.",
     {"right middle", "right lower", "left upper", "left middle", "left lower"}),
    ("Opacification in all zones but the left upper.",
     {"right upper", "right middle", "right lower", "left middle", "left lower"}),
    # zones before the sides they share; a hilum's or an angle's side frees no lung
    ("Patchy opacities in the mid and lower zones, right and left. Left and right hila normal. Right costophrenic "
     "angle clear.", {"right middle", "right lower", "left middle", "left lower"}),
    ("Two hazy patches at the bottom of the left and the right lung.", {"left lower", "right lower"}),
    ("Opacities in the right upper, mid and lower zones and the left lower zone.",
     {"right upper", "right middle", "right lower", "left lower"}),
    ("Opacity in the right upper and mid zones and the left lung.",
     {"right upper", "right middle", "left upper", "left middle", "left lower"}),
    # adjectives, extents and ranges
    ("Bibasal and left midzonal consolidation, with apical sparing.", {"right lower", "left lower", "left middle"}),
    ("Bilateral apical-to-basal ground-glass opacity.", {f"{s} {z}" for s in ("left", "right") for z in ALL}),
    ("The process extends from the left base up into the left mid zone, stopping short of the left apex. It skips "
     "the right lung.", {"left lower", "left middle"}),
    ("Opacity spreads down from the right upper zone to the right mid zone, stopping above the right lower zone.",
     {"right upper", "right middle"}),
    ("Consolidation is seen, on the right, in the lower zone only; on the left, none is seen.", {"right lower"}),
    ("RUZ-RLZ opacity.", {"right upper", "right middle", "right lower"}),
    # zones counted out of a lung's three or both lungs' six
    ("Patchy consolidation affecting 6/6 zones.", {f"{s} {z}" for s in ("left", "right") for z in ALL}),
    ("Opacity involves two of the three left zones, the upper and lower, and 0 of 3 right zones.",
     {"left upper", "left lower"}),
    ("Right lung: 1 of 3 zones (the lower).\nLeft lung: 0 of 3 zones.", {"right lower"}),
    ("Ground-glass opacity affecting the lower two of the three right zones.", {"right middle", "right lower"}),
    # places stated as not seen after them; prompts written for a text-guided segmenter
    ("Infiltration in the part inferior of lung right. In the zones upper and middle of lung right opacity is not "
     "seen.", {"right lower"}),
    ("a chest X-ray with hazy opacity in the left base\na chest X-ray with a clear right lung\n"
     "NEG a chest X-ray with clear lung in the left upper and mid zones", {"left lower"}),
    ("the hazy patch at the bottom of the right lung comment: left lung looks clear to me", {"right lower"}),
    # negation and clearing words of other languages mixed into English reports, and their findings
    ("Opacidades parcheadas en la left base. Right lung limpio, sin infiltrados en left upper zone.", {"left lower"}),
    ("Milchglastrübungen in the right mid zone. Keine Verdichtungen right upper zone, left lung frei.",
     {"right middle"}),
    ("Kuna consolidation kwenye left lower zone. Hakuna opacities kwenye right lung; left upper zone ni safi.",
     {"left lower"}),
    # annotations: what holds no mask, numbered items, a side marker on the image
    ("One mask drawn, over the lower third of the left lung field. Not involved: left top and left middle third; "
     "right lung field.", {"left lower"}),
    ("Regions: lower third of the right lung\n# No mask: left lung field; right upper and middle thirds.",
     {"right lower"}),
    ("two patches to segment - (1) in the left lung, top middle and bottom (2) at the bottom of the right lung",
     {"left upper", "left middle", "left lower", "right lower"}),
    ("Opacity in both lungs in their entirety. A side marker is visible near the top corner of the image.",
     {f"{s} {z}" for s in ("left", "right") for z in ALL}),
    # "both the ... and ...", a side after its lung, codes after the words, "mpaka" (Swahili: up to), a colleague's name
    ("Hazy opacity in both the apex and the base of the left lung.", {"left upper", "left lower"}),
    ("Opacity in the middle regions of both the left and right lungs.", {"left middle", "right middle"}),
    ("Infiltration is seen in zone lower of lung right and lung left. Catheter tip in vena cava superior.",
     {"right lower", "left lower"}),
    ("Hazy opacity [RadLex:RID28530] in the right [RadLex:RID5825] lower [RadLex:RID5821] zone [RadLex:RID34696].",
     {"right lower"}),
    ("Kuna opacities kwenye left lung, upper mpaka lower zones.", {"left upper", "left middle", "left lower"}),
    ("Right basal (basal rechts): consolidation.\nLeft apical (apikal links): clear.\nDr. med. L. Bianchi",
     {"right lower"}),
    # back references and sides in brackets after the zones
    ("The right lower zone and the left base were compared: the former shows consolidation, whereas the latter is "
     "clear.", {"right lower"}),
    ("Opacity involves the upper zones (right and left) and the left base.", {"right upper", "left upper", "left lower"}),
    # a run-on note without a single punctuation mark turns to the heart and the tubes: their "normal" and "no" are
    # theirs, not the lobe's before them
    ("TO MED REG AP CXR BED 25 PATCHY CONSOLIDATION RIGHT LOWER LOBE HEART NORMAL SIZE NO PTX ETT OK", {"right lower"}),
    ("PA CXR CONSOLIDATION LLL AND RIGHT LOWER LOBE HEART NOT BIG", {"left lower", "right lower"}),
    # ... but a punctuated sentence keeps its subject: "The superior mediastinum is not widened" names no upper zone
    ("Consolidation in the left lower zone. The superior mediastinum is not widened.", {"left lower"}),
    # "angles" alone are the costophrenic angles; an edge's word clears the angle, not the list before it
    ("AIRSPACE SHADOWING IN RIGHT MID ZONE ONE PATCH ANGLES CLEAR NO COLLAPSE", {"right middle"}),
    ("consolidation in left apex and left base, also right lower zone, costophrenic angles sharp",
     {"left upper", "left lower", "right lower"}),
    # place words glued by a missed space
    ("hazy airspace opacity in whole r lung, also all of leftlung",
     {f"{s} {z}" for s in ("left", "right") for z in ALL}),
    ("consolidation in l mid zone andbase and also rightmid and lower zones", {"left middle", "left lower",
                                                                                "right middle", "right lower"}),
    ("airspace opacity seenlower zones bilat", {"left lower", "right lower"}),
    # a run-on entry without a full stop: a spaced dash or an "and" that opens what the film shows ends a negation's
    # and an examination sign's stretch; a dash parts a place from a structure after it
    ("bleeped 0420 re spiking temp, chest sounds wet, no wheeze and chest xray back and it shows patchy consolidation "
     "in both lower zones which i think is infection - lines all ok", {"left lower", "right lower"}),
    ("temp 39, chest has coarse crackles - cxr done and i have looked at it and there is what looks like "
     "consolidation in left lower lobe, a single patch", {"left lower"}),
    ("Seen at 0115, cxr from tonight shows patchy consolidation in left mid zone and left base - heart size ok - for "
     "review on morning ward round", {"left middle", "left lower"}),
    ("fevers + rigors. airspace opacity bibasally.no freegas under diaphragms. no ptx", {"left lower", "right lower"}),
    ("ap film, pyrexial, consolidating x1 in lll,rt side clear, no ptx", {"left lower"}),
    ("covid pos, sob. all 6 zonesairspace shadowing likely infective.bones ok",
     {f"{s} {z}" for s in ("left", "right") for z in ALL}),
    ("patchy shadowing bothbases, the midline and the baseline film unremarkable", {"left lower", "right lower"}),
    # a device's tip lies where it lies; the sides of devices, heart chambers, bones and clips place no lung
    ("Consolidation in the right lower zone. A right intercostal chest drain is in situ with its tip directed "
     "towards the right apex; no residual pneumothorax is seen.", {"right lower"}),
    ("Right PICC, tip projected over the left mid zone. Consolidation right base.", {"right lower"}),
    ("Drains removed (mediastinal + bilateral pleural) at 11:00. Left pleural drain in the left base. BUT "
     "consolidation in the right lower lobe.", {"right lower"}),
    ("Right ICD: swinging, no bubbling; lung up. L ACJ widened. Dx: right breast carcinoma; s/p right wide local "
     "excision. L axillary clips. Consolidation in the left upper, mid and lower zones.", {"left upper", "left middle",
                                                                                         "left lower"}),
    ("Lines: Right chest wall port-a-cath; catheter tip at the upper right atrium. Consolidation in the left lower "
     "zone.", {"left lower"}),
    ("CXR today:\n  - port (R) - tip in good position\n  - L humeral endoprosthesis\n  - R WLE clips\n"
     "  - infective consolidation in the right lower zone", {"right lower"}),
    # "all" of something else than the lungs, with a number: no place
    ("NG position ok - all 4 criteria met, tip in gastric bubble under L hemidiaphragm.\nAlso: consol in all three "
     "right zones and the left mid and lower zones; no PTX.", {"right upper", "right middle", "right lower",
                                                              "left middle", "left lower"}),
    # an apical cap is the pleura's: "no left apical cap" clears no lung zone
    ("Consolidation in all zones of both lungs. No left apical cap.", {f"{s} {z}" for s in ("left", "right")
                                                                        for z in ALL}),
    # effusions and pneumothoraces are the pleura's: their sides place no lung, and denying one at a place does not
    # clear the lung there; a lung finding denied with them still does
    ("Left basal consolidation. No effusion in the left base.", {"left lower"}),
    ("Right lower zone opacity. Small left pleural effusion.", {"right lower"}),
    ("Right lower zone opacity. Left basal effusion. Left pneumothorax.", {"right lower"}),
    ("Left lower zone consolidation. Right hydropneumothorax with a chest drain.", {"left lower"}),
    ("Consolidation of the left lower lobe without pleural effusion on that side.", {"left lower"}),
    ("Left basal consolidation. No effusion or pneumothorax on the left.", {"left lower"}),
    ("Right lower zone consolidation. Left-sided pleural thickening. Pleural fluid at the left base.",
     {"right lower"}),
    ("Left pleural-based consolidation.", {"left upper", "left middle", "left lower"}),
    # a lay version: how lungs are looked at is no finding; "escaped", "untouched", "conserved" clear
    ("You have 2 lungs: a left lung and a right lung. Doctors look at each lung in 3 parts. Top. Middle. Bottom. "
     "The shadows are in the bottom part of your left lung.", {"left lower"}),
    ("Each lung has 3 parts: top, middle and bottom. Signs of infection in the top part of the right lung.",
     {"right upper"}),
    ("Veil-like haziness over the left mid-zone. The right lung has escaped untouched.", {"left middle"}),
    ("Consolidation in the lower field of the left lung. Right lung parenchyma is conserved.", {"left lower"}),
    # a paraphrase's and a round trip's words: the intermediate zone, the three fields, the upper hollow vein
    ("Opacification involving the left lung's intermediate and lower zones.", {"left middle", "left lower"}),
    ("Alveolar opacity in the three fields of the right lung. Catheter tip in the upper hollow vein.",
     {"right upper", "right middle", "right lower"}),
    # the request heads the line, and the findings follow it before the impression's heading
    ("Clinical indication: fever. The radiograph shows consolidation in the left lower zone. Impression: pneumonia.",
     {"left lower"}),
    ("History: cough. There is patchy shadowing in the right upper zone. Impression: infection.", {"right upper"}),
    ("History: known COPD. There is a history of left lower lobe pneumonia. Findings: right upper zone opacity.",
     {"right upper"}),
    # a form's grid of marks under a header of sides, the header run into the line before it
    ("Read by: clinician on duty\n  Zone          RIGHT lung   LEFT lung\n  Upper zone        -           X\n"
     "  Middle zone       -           -\n  Lower zone        X           -\nComment: see grid",
     {"left upper", "right lower"}),
    ("Affected zones:   RIGHT   LEFT\n  Upper   [ ]   [ ]\n  Lower   [x]   [ ]", {"right lower"}),
    # a satellite message's statements parted by a slash and a space
    ("ONBOARD READ: AIRSPACE SHADOWING LEFT BASE/ NIL ON RIGHT/ CP ANGLES SHARP/ NO PTX.", {"left lower"}),
    ("CONSOLIDATION BOTH BASES/ HEART NOT ENLARGED.", {"left lower", "right lower"}),
    # an old report's prose: the zone "remaining clear" is what is clear
    ("Soft mottling is present in the left middle and lower zones, the upper zone remaining clear.",
     {"left middle", "left lower"}),
    ("An area of increased density in the right middle and lower zones, such as is commonly seen in pneumonia.",
     {"right middle", "right lower"}),
    # a clearing word after a comma whose side opens its subject clears only that side
    ("Consolidation in the right upper, mid and lower zones, left lung clear.",
     {"right upper", "right middle", "right lower"}),
    ("Right lower zone infiltrate. Plan: lower bunk pass x 14 days.", {"right lower"}),
    # a list of edits names words, not places
    ('Patchy opacity in the right lower zone.\nSuggestions: 1. Spelling: "upepr" \u2192 "upper" 2. "L" -> "left"',
     {"right lower"}),
    ("Bilateral opacities. No effusion or consolidation at the right base.", {"left upper", "left middle",
                                                                             "left lower", "right upper",
                                                                             "right middle"}),
    # forms answered: a spreadsheet row under its header, a label above its answer, a question and its answer
    ("ID,Date,Consolidation (Y/N),Side,Right zones,Left zones,No. of areas,Free text,By\n"
     "CAP-216,10/05/2020,Y,Bilateral,middle;lower,upper,2,,SB,,", {"right middle", "right lower", "left upper"}),
    ("Clinical indication\nRaised CRP, crackles\n\nReport\nAirspace shadowing in the left lower zone. The right lung"
     " is clear.\n\nConclusion\nInfection.", {"left lower"}),
    ("Clinical indication\tRaised CRP\nReport\tPatchy shadowing in the right mid zone.", {"right middle"}),
    ("\u2192 Which lung(s)?\n  Right and Left\n\n\u2192 Which zones in the right lung?\n  Lower\n\n"
     "\u2192 Which zones in the left lung?\n  Middle, Lower\n\n\u2192 Any pleural effusion?\n  No",
     {"right lower", "left middle", "left lower"}),
    ("Did the X-ray show a chest infection?      YES\nRight lung affected?       YES\n   Where? lower zone (bottom)\n"
     "Left lung affected?        NO\nFluid around the lungs?    NO", {"right lower"}),
    ("? Consolidation present (y/n): y\n? Right lung involved (y/n): n\n? Left lung involved (y/n): y\n"
     "  ? Left zones (u/m/l): l\n>> key: u=upper zone, m=mid zone, l=lower zone", {"left lower"}),
    ("Q: Right upper zone involved?  A: No\nQ: Right lower zone involved?  A: Yes\nQ: Left upper zone involved?  A: Yes"
     "\nQ: Left lower zone involved?  A: No", {"right lower", "left upper"}),
    ("[20:03:03] CDS  Q2/7  Laterality? [Right/Left/Both]\n[20:03:05] sgupta> right\n"
     "[20:03:08] CDS  Q3/7  Right lung - zone(s) involved? [upper/mid/lower, multi-select]\n"
     "[20:03:17] sgupta> lower only\n[20:04:00] CDS  Summary: opacity R lower | Left lung: no opacity",
     {"right lower"}),
    ("R lung affected? N\nL lung affected? Y   Zones: lower", {"left lower"}),
    ("Q. Where in my right lung?\nA. All of it: the upper, middle and lower zones.\nQ. What about my heart and "
     "bones?\nA. Both look normal.\nPlease finish the whole course.", {"right upper", "right middle", "right lower"}),
    # Nordic and Central European side marks after what they place, not "Dx:" (a diagnosis); "under field"
    ("Pneumonic infiltrate basal dx. The lung sin. is free.\nDx: pneumonia", {"right lower"}),
    ("Confluent densification apically and basally sin., free middle field between.", {"left upper", "left lower"}),
    ("Referral: Fever and cough, pneumonia?\nFinding: In the lower area of the lung of the right is consolidation.",
     {"right lower"}),
    # what a form calls a zone, and a word one slip from a place word that is a word of its own
    ("Zones = upper/middle/lower thirds of each lung.\nRight lung - zones involved: Lower\nLeft lung - zones "
     "involved: None\nIf any of the above is incorrect, please submit an addendum.", {"right lower"}),
])
def test_clauses_negation_and_weighting_as_radiologists_write_them(chest, text, expected):
    assert cells(text, chest) == expected


def test_an_extraction_tools_json_reads_as_its_flags_and_the_report_it_quotes(chest):
    import json
    flags = {"zone_involvement": {"right_upper": False, "right_lower": True, "left_middle": False},
             "evidence": ["Patchy opacity in the right lower lung field."], "pleural_effusion": False}
    nested = {"lungs": {"left": {"upper": {"involved": True, "evidence": "Opacity at the left apex."},
                                 "lower": {"involved": False, "evidence": "The left base is clear."}}}}
    listed = {"findings": [{"label": "COVID-19 pneumonia", "present": True, "locations": ["right mid zone"]},
                           {"label": "effusion", "present": False, "locations": ["left base"]}]}
    assert cells(json.dumps(flags), chest) == {"right lower"}
    assert cells(json.dumps(nested), chest) == {"left upper"}
    assert cells(json.dumps(listed), chest) == {"right middle"}
    assert cells("{not json: right lower zone opacity", chest) == {"right lower"}


def test_a_label_studio_export_reads_as_its_notes_and_the_zones_chosen(chest):
    import json
    export = {"id": 1, "annotations": [{"result": [
        {"type": "polygonlabels", "from_name": "lesion", "value": {"polygonlabels": ["Opacity"]}},
        {"type": "textarea", "from_name": "region_note", "value": {"text": ["RUZ-RMZ"]}},
        {"type": "choices", "from_name": "zones", "value": {"choices": ["R-upper", "R-middle", "L-lower"]}},
        {"type": "textarea", "from_name": "notes", "value": {"text": ["n=2"]}}]}]}
    assert cells(json.dumps(export, indent=2), chest) == {"right upper", "right middle", "left lower"}


def test_a_fhir_bundle_reads_as_its_observations_values_and_the_reports_conclusion(chest):
    """An Observation's code and body site are stated by its value: present or absent, true or false per component;
    a Condition refuted, an entry in error and an Observation's own "text" words state nothing."""
    import json

    def concept(text):
        return {"coding": [{"system": "http://snomed.info/sct", "display": text}], "text": text}

    def observation(code, value=None, site=None, components=(), **extra):
        resource = {"resourceType": "Observation", "status": "final", "code": concept(code), **extra}
        if site:
            resource["bodySite"] = concept(site)
        if value is not None:
            resource["valueCodeableConcept" if isinstance(value, str) else "valueBoolean"] = (
                concept(value) if isinstance(value, str) else value)
        resource["component"] = [{"code": {"text": text}, "valueBoolean": flag} for text, flag in components]
        return resource

    zones = [("Left upper zone involved", False), ("Left mid zone involved", False), ("Left lower zone involved", True)]
    resources = [
        {"resourceType": "DiagnosticReport", "code": {"text": "XR Chest PA"},
         "conclusion": "Airspace opacity in the right mid zone. No effusion."},
        observation("Patchy airspace opacification", "Present", "Left lung", zones),
        observation("Consolidation", "Present", "Right lung - mid zone"),
        observation("Consolidation", "Absent", "Right upper zone"),
        observation("Pleural effusion", False),
        {"resourceType": "Observation", "code": {"text": "Right lower zone"}, "valueString": "No focal opacity"},
        {"resourceType": "Condition", "code": concept("Pneumonia of right lower lobe"),
         "verificationStatus": {"coding": [{"code": "refuted"}]}},
        observation("Consolidation", "Present", "Right lower zone", status="entered-in-error"),
    ]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    assert cells(json.dumps(bundle, indent=2), chest) == {"left lower", "right middle"}
    assert cells(json.dumps({"resourceType": "Condition", "code": concept("Pneumonia of left lower lobe")}),
                 chest) == {"left lower"}


def test_sql_rows_and_log_records_read_as_their_findings_and_the_reports_words(chest):
    """A reporting database's INSERT statements and a pipeline's logfmt lines: a finding's row or record places its
    side and zone, one stated absent places nothing, a column or a section with the report's words reads as them, and
    an XML element's attributes are no log's record."""
    sql = ("BEGIN;\nINSERT INTO rad_report (accession_no, indication, findings, lesion_count) VALUES\n"
           "  ('79874249', 'Known left lung cancer', E'Lines: None.\\nLungs: Patchy consolidation at the left base; "
           "the right lung is clear.', 1);\n"
           "INSERT INTO rad_finding (accession_no, seq, finding, laterality, zone, present) VALUES\n"
           "  ('79874249', 1, 'CONSOLIDATION', 'LEFT', 'LOWER', 1),\n  ('79874249', 2, 'lung opacity', 'R', 'UPPER', 0),"
           "\n  ('79874249', 3, 'pleural effusion', NULL, NULL, 0);\nCOMMIT;")
    assert cells(sql, chest) == {"left lower"}
    log = ("ts=2024-06-10T01:23:51Z level=info svc=ris event=report.section section=indication text=\"?RUL mass\"\n"
           "ts=2024-06-10T01:23:51Z level=info svc=nlp event=finding.extracted finding=consolidation location=RLZ "
           "negated=false\n"
           "ts=2024-06-10T01:23:51Z level=info svc=nlp event=finding.extracted finding=airspace_opacity "
           "laterality=left zones=mid negated=false\n"
           "ts=2024-06-10T01:23:52Z level=info svc=nlp event=finding.extracted finding=lung_opacity laterality=right "
           "zones=upper negated=true\n"
           "ts=2024-06-10T01:23:53Z level=info svc=ris event=report.section section=impression "
           "text=\"Consolidation in the right lower zone and the left mid zone.\"")
    assert cells(log, chest) == {"right lower", "left middle"}
    xml = ('<Report status="Final" reportedBy="Dr A" verified="2023">\n<ReportText>Consolidation in the right base.'
           '</ReportText>\n<Exam code="XCHEST" modality="CR" projection="AP"/>\n</Report>')
    assert cells(xml, chest) == {"right lower"}


def test_a_ris_xml_export_reads_as_its_report_text_and_coded_lungs(chest):
    """A lung element with a side is a finding's record, its zones named by the elements inside it; one not abnormal
    places nothing; the report's text reads as written, its line breaks as character references."""
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<RISExport system="RIS" version="7.3">\n'
           '<Order accession="RX1"><ClinicalHistory>?RUL collapse</ClinicalHistory></Order>\n'
           '<Report status="Verified"><ReportText>XR CHEST AP&#13;&#10;Report: Hazy opacity at the right base and in '
           'the left lung.</ReportText>\n<CodedFindings scheme="CXRZ-v2">\n'
           '<Lung side="Right" abnormal="true"><Zone name="Lower">Consolidation</Zone></Lung>\n'
           '<Lung side="Left" abnormal="true"><Zone name="Middle">Consolidation</Zone>'
           '<Zone name="Lower">Consolidation</Zone></Lung>\n'
           '<Finding term="Pleural effusion" present="N"/></CodedFindings></Report></RISExport>')
    assert cells(xml, chest) == {"right lower", "left middle", "left lower"}
    assert cells(xml.replace('<Lung side="Left" abnormal="true"><Zone name="Middle">Consolidation</Zone>'
                             '<Zone name="Lower">Consolidation</Zone></Lung>', '<Lung side="Left" abnormal="false"/>')
                 .replace(" and in the left lung", ""), chest) == {"right lower"}


def test_a_yaml_export_reads_as_its_records_without_its_indentation(chest):
    """Normalisation leaves a YAML export one "key: value" per line: a list item or a side's block is a finding's
    record (its zones in a flow or a block list), a flag under a zone's key states that zone, and a comment is no
    finding."""
    yaml = ("report_id: SR-1\nclinical_indication: \"?RUL collapse\"\nfindings:\n  lung_findings:\n"
            "    - type: airspace opacity\n      laterality: right\n      zones: [lower]\n      confidence: high\n"
            "    - type: consolidation\n      laterality: left\n      zones:\n        - upper\n        - mid\n"
            "  lesion_count: 2\n  pleura:\n    effusion: absent\nsigned:\n  by: Dr A. Reader\n")
    assert cells(yaml, chest) == {"right lower", "left upper", "left middle"}
    sides = ("findings:\n  lungs:\n    right:\n      opacity: true\n      zones: [mid]\n      pattern: consolidation\n"
             "    left:\n      opacity: false\n      comment: no focal consolidation\n  lesion_count: 1\n"
             "  heart_mediastinum: normal\n")
    assert cells(sides, chest) == {"right middle"}
    grid = ("findings:\n  lung_zones:   # R/L = right/left; U/M/L Z = upper/mid/lower zone\n    RUZ: false\n"
            "    RMZ: false\n    RLZ: true\n    LUZ: false\n    LMZ: true\n    LLZ: false\n  pleura:\n"
            "    effusion: none\n")
    assert cells(grid, chest) == {"right lower", "left middle"}
    # a report's headings are no YAML records: "Right:" over a line of another kind and a bullet's field stay as
    # written
    headed = "Technique: PA\nComparison: none\nHeart: normal\nRight:\nLungs: clear\nLeft:\nOpacity: absent\n" \
             "Zones: lower\nImpression: consolidation at the right base"
    assert cells(headed, chest) == {"right lower"}
    bulleted = "Technique: PA\nComparison: none\n- Lungs: consolidation right base\n- Heart: normal\n- Pleura: clear"
    assert cells(bulleted, chest) == {"right lower"}
    commented = "Technique: PA\nComparison: none\nHeart: normal\nLeft:\nComment: clear\nImpression: consolidation " \
                "right base"
    assert cells(commented, chest) == {"right lower"}


@pytest.mark.parametrize("grid, expected", [
    ("                 Right   Left\n   Upper zone      [ ]     [ ]\n   Middle zone     [ ]     [X]\n"
     "   Lower zone      [X]     [X]\n", {"left middle", "left lower", "right lower"}),
    ("           R    L\nUpper     [x]  [ ]\nMid       [ ]  [ ]\nLower     [ ]  [ ]\n", {"right upper"}),
])
def test_a_forms_grid_of_tick_boxes_reads_by_its_columns(chest, grid, expected):
    """A screening worksheet's location grid: each box is its row's zone on its column's side, ticked or not."""
    form = ("Abnormal chest x-ray [X]\n   [X] Infiltrate or consolidation\n   [ ] Cavitary lesion\n"
            "Location of finding(s) in section A:\n" + grid + "Radiologist: Dr A. Reader")
    assert cells(form, chest) == expected


def test_zones_that_continue_a_sides_phrase_are_not_freed_on_the_side_named_after_them(chest):
    places = read_places("Shadowing at the right lung base. The right upper and mid zones and the left lung are clear.",
                         chest)
    assert {f"{s} {z}" for s, z in places.free} == {"right upper", "right middle", "left upper", "left middle",
                                                     "left lower"}


def test_a_finding_placed_nowhere_places_nothing(chest):
    """A dictation that clears what it states ("consolidation in the left lung base left lung clear"): a finding
    stated and every place free contradict each other, so the report places nothing (the image decides) instead of
    telling the network the lesion is nowhere; a report that states no finding keeps its free cells."""
    dictated = read_places("there is consolidation in the left lung base left lung clear", chest)
    assert dictated.involved == frozenset() and dictated.free == frozenset()
    assert {s for s, _ in read_places("No right-sided opacity.", chest).free} == {"right"}


def test_no_free_cell_is_read_where_a_finding_is_stated_after_a_comma(chest):
    places = read_places("No opacity in the left lung, right lower zone consolidation.", chest)
    assert places.involved == {("right", "lower")} and {s for s, _ in places.free} == {"left"}


def test_every_one_sided_place_term_mirrors_to_the_other_side(chest):
    """Mirroring a training image swaps its report's words (laterality.py): every term the knowledge base reads
    as one side must come back as the other side's, abbreviations included, or the mirrored image keeps a
    report of the old side."""
    for entry in chest.entries:
        if len(entry.sides) != 1:
            continue
        for term in entry.terms:
            text = f"{term} opacity" if entry.zones else f"{term} lower zone opacity"
            flipped = {("right" if s == "left" else "left", z) for s, z in read_places(text, chest).involved}
            assert read_places(swap_left_right(text), chest).involved == flipped, term


def test_count_of_a_report_with_an_english_word_near_a_count_or_place(chest):
    assert read_places("Eight nodules in the lower left lung.", chest).count == 8
    assert read_places("Retrocardiac opacity.", chest).involved == {("left", "lower"), ("right", "lower")}  # no side word


@pytest.mark.parametrize("text", [
    "Patchy opacities in the rigth lower zone.",
    "uooer middle left lung and lowr right lung.",
    "Rigth upper and left infrahilar opacities.",
    "RIGTH suprahilar, Uooer left lung.",
])
def test_misspelt_words_mirror_with_their_image(chest, text):
    """A mirrored report is read anew: a misspelt side or zone must swap like a well-spelt one, or the mirrored
    image's report would still point to the old place (and a patient-side report would keep the patient's side)."""
    places = read_places(text, chest).involved
    assert read_places(swap_left_right(text), chest).involved == {
        ("right" if s == "left" else "left", z) for s, z in places}
    assert read_places(swap_upper_lower(text), chest).involved == {
        (s, {"upper": "lower", "lower": "upper"}.get(z, z)) for s, z in places}
    assert swap_left_right("Patchy opacities in the Rigth lower zone.") == "Patchy opacities in the Left lower zone."


def _qata_reports(folder):
    from nnunet_tgc.convert.tables import read_table
    reports = {}
    for split, table in (("train", "Train_Folder/Train_text.xlsx"), ("val", "Val_Folder/Val_text.xlsx")):
        for row in read_table(folder / table, ["Image"], ["Description", "text"], split):
            reports[(split, row.name)] = row.text
    return reports


def test_real_reports_read_as_before_except_where_a_typo_is_read(chest, shared_data, monkeypatch):
    """Every QaTa report reads as it did without typo reading, except those with a misspelt place word, and
    those read as their text with the misspelling corrected."""
    import re

    from nnunet_tgc.text.typos import TypoReader
    reports = _qata_reports(shared_data("QaTa-COV19-subset"))
    assert len(reports) > 1000
    with_typos = {case: read_places(text, chest) for case, text in reports.items()}
    typos = {case: {w: chest.typo_reading(w) for w in re.findall(r"[A-Za-z]+", text) if chest.typo_reading(w)}
             for case, text in reports.items()}
    monkeypatch.setattr(chest, "_typos", TypoReader(places=(), known=()))  # reads no misspelling
    changed = set()
    for case, text in reports.items():
        if not typos[case]:
            assert read_places(text, chest) == with_typos[case], text
            continue
        corrected = re.sub(r"[A-Za-z]+", lambda m: typos[case].get(m.group(0), m.group(0)), text)
        assert read_places(corrected, chest) == with_typos[case], text
        if read_places(text, chest) != with_typos[case]:
            changed.add(reports[case])
    # the subset's misspellings ("lowe left and lower right" read the same before: "left" shared "lower")
    assert {w for t in typos.values() for w in t} == {"lowe", "midddle", "uooer"}
    assert changed == {
        "Bilateral pulmonary infection, three infected areas, upper middle lower left lung and upper midddle lower "
        "right lung.",
        "Bilateral pulmonary infection, three infected areas, uooer middle left lung and middle right lung."}
