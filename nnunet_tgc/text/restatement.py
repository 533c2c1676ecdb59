"""Report phrases restated as the plain statements the rules of :mod:`.places` read.

Some reports state places in forms that are no sentences about zones: a severity score per zone ("R upper zone
(A): 0"), a share in percent ("Left lung: 0%"), a record of a structured export with one field per line
("observation[2].bodySite = Left lung, upper zone" / "observation[2].interpretation = N"), a landmark (the
silhouette sign: "opacity obscuring the right heart border"; a level by anterior ribs). :func:`restate` rewrites
each into the words it means ("R upper zone clear;", "Left lung clear;", "Left lung upper zone clear.", "right
middle zone", "left middle zone") before the clause rules read the report; everything else stays as written.
The rewritten text is read for places only: the text towers read the report as it is.
"""
from __future__ import annotations

import csv
import re

from .knowledge import ZONES
from .normalize import CONTEXT_HEADING


# a question on its line and the answer on the next (not itself a question, a field or a heading), each maybe after a
# chat's time and speaker ("[20:03:17] sgupta> lower only", "Radiologist: Lower.", "Response: Yes - lower zone")
_TURN = (r"(?:\[[\d:]{4,8}\][ \t]*)?(?:[A-Za-z][\w.]{0,20}[ \t]*>[ \t]*|(?:A|Ans|Answer|Response|Reply)[ \t]*[:.][ \t]*"
         r"|(?P<speaker>(?!(?:right|left|upper|lower|mid|middle|both|bilateral)\b)[A-Za-z][\w.]{0,15}[ \t]*:[ \t]*))?")
_QUESTION_ANSWERED = re.compile(rf"(?m)^(?P<q>[^\n?]{{1,120}}?)[ \t]*\?[ \t*]*\n[ \t]*{_TURN}"
                                r"(?P<a>(?![^\n]*\?[ \t]*$)[^\n]{1,120})$")
_SPEAKER = re.compile(r"[ \t]*[A-Za-z][\w. ]{0,24}:")
_YES_OR_NO = re.compile(r"\W*(?:yes|no|y|n|yep|nope|none|nil|negative|positive|absent|present)\b", re.IGNORECASE)
# a form's prompt with its choices in brackets, answered after them ("? Right lung involved (y/n): n", "Left zones
# (u/m/l): l", "Laterality? [Right/Left/Both]"); its choices name every place and are no answer
_PROMPT = re.compile(r"(?m)^(?P<lead>[ \t]*\?[ \t]*)?(?P<q>[^\n?:\[\]()]{1,100}?)[ \t]*\??[ \t]*"
                     r"[\[(](?P<choices>[A-Za-z]{1,14}(?:[ \t]*/[ \t]*[A-Za-z]{1,14})+)"
                     r"(?:[ \t]*,[ \t]*[\w -]{1,20})?[\])]"
                     r"(?:[ \t]*:[ \t]*(?P<a>[^\n]*)|[ \t]*$)")
# a yes and where, asked after it on its line or the next ("Right lung affected?  YES\n   Where? lower zone", "L lung
# affected? Y   Zones: lower"): the question's places are where the answer says ("Right lung affected: lower zone")
_WHERE_ASKED = re.compile(r"(?im)^(?P<q>[^\n?]{1,100}?)[ \t]*\?[ \t]*(?:yes|y)\b[^\n:?]{0,40}?[ \t]*\n?[ \t]*"
                          r"(?:where|which\s+(?:zones?|parts?|areas?)|zones?)[ \t]*[?:][ \t]*(?P<a>[^\n]+)$")
# the marks of a question and its answer ("Q: Right upper zone involved?  A: No")
_QUESTION_MARK = re.compile(r"(?m)^[ \t]*Q[ \t]*[:.][ \t]*(?=[^\n]*\?)")
_ANSWER_MARK = re.compile(r"\?[ \t]*(?:A|Ans|Answer)[ \t]*[:.][ \t]*")
# the letters a prompt's choices stand for ("(y/n)", "(u/m/l)")
_YES_NO_LETTERS = {"y": "yes", "n": "no"}
_ZONE_LETTERS = {"u": "upper", "m": "mid", "l": "lower"}
# a prompt's choices after its question, answered on the next line ("Laterality? [Right/Left/Both]")
_CHOICES_ASKED = re.compile(r"\?[ \t]*[\[(][A-Za-z]{1,14}(?:[ \t]*/[ \t]*[A-Za-z]{1,14})+(?:[ \t]*,[ \t]*[\w -]{1,20})?"
                            r"[\])](?=[ \t]*$)", re.MULTILINE)
# a chat line's time ("[20:03:17] sgupta> lower only")
_CHAT_TIME = re.compile(r"(?m)^[ \t]*\[\d{1,2}:\d{2}(?::\d{2})?\][ \t]*")
# a key to a form's letters ("key: u=upper zone, m=mid zone, l=lower zone"): names every zone, states none
_KEY_LINE = re.compile(r"(?im)^[^\n]*\b(?:key|legend)\s*:\s*(?:\S{1,6}\s*=\s*[^,;\n=]{1,30}(?:[,;]\s*|$))+$")


def restate(text: str) -> str:
    """``text`` (its abbreviations spelled out) as a report's text where it came wrapped (an HL7 message's OBX
    segments, a CDA document, a PDF's page break inside a sentence; data records are :mod:`.records`'), with
    records, scores, shares and landmarks restated as plain statements of places, the shorthand of notes and
    amendments as the words it stands for, and asides that state no place left out."""
    text = _sr_as_sentences(_cda_as_text(_hl7_as_text(text)))
    text = _answers_with_questions(_corrections_applied(_without_page_breaks(text)))
    text = _verdicts_as_words(_unticked_left_out(_tables_as_fields(_box_grid_as_fields(_current_column(text)))))
    text = _records_as_sentences(_opposite_sides(_asides_left_out(_shorthand_as_words(text))))
    return _landmarks_as_zones(_scores_as_words(text))


def undotted(text: str) -> str:
    """``text`` without the dots that end no sentence (those of hurried abbreviations and of "i.e.", "e.g."), its
    zone abbreviations written out and those joined by a slash or a hyphen ("MZ/LZ", "UZ-LZ") set apart; run before
    the knowledge base spells abbreviations out."""
    text = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), text)
    text = _DOTTED_WORD.sub(lambda m: _WRITTEN_OUT.get(m.group(1).lower(), m.group(1)), text)
    text = _ZONE_SHORT.sub(lambda m: _WRITTEN_OUT[m.group(1).lower()], text)
    return _ZONE_RANGE.sub(" to ", _ZONES_BY_SLASH.sub(" / ", text))


def _shorthand_as_words(text: str) -> str:
    """A note's zones marked + or minus as statements; Hinglish function words as English; "each" before a zone as
    "both"; the empty-set sign of ward notes as "no" before what it denies and "clear" after a place; an SBAR
    handover's "R -" as its recommendation; what an amendment says was "previously reported" as erroneously
    reported; a translated "mean" before another third as "middle"; "from the apices to the diaphragm" as "... to
    the bases" (and "down to the hemidiaphragm" as "... to the base"); a translated "three floors" or "the three
    thirds" as "all zones", "all 6 zones" and "6/6 zones" as both lungs' zones, zones counted out of three or six as
    the zones ("two of the three left zones, the upper and lower"), "every lobe of both lungs" as their zones, "the
    lower two-thirds" as the middle and lower zones, "1/3" as "third", a side letter joined to its zone ("L-upper")
    as its word; the Latin side marks of Nordic and Central European reports after what they place ("infiltrate
    basal dx.", "the lung sin. is free": not "Dx:", a diagnosis) and their "over/under field" as sides and zones."""
    text = _EACH.sub("both", _hindi_as_english(_signed_zones_as_words(text)))
    text = _NIL_BEFORE.sub("no ", _NIL_AFTER.sub(" clear", text))
    if all(re.search(rf"(?m)^\s*{letter}\s*[-:\u2013]", text) for letter in "SBA"):
        text = _SBAR_R.sub(r"\1Recommendation\2", text)
    if _AMENDED.search(text):  # "laterality corrected. The opacity was previously reported in the left lower zone"
        text = _PREVIOUSLY_REPORTED.sub("erroneously reported", text)
    text = _DOWN_TO_THE_DIAPHRAGM.sub(r"\1\2base", _TO_THE_DIAPHRAGM.sub("bases", text))
    text = _THREE_FLOORS.sub("all zones", text)
    text = _SIX_ZONES.sub("all zones of both lungs", text)
    text = _TWO_OF_THREE.sub(lambda m: "upper and mid " if m.group(1).lower() == "upper" else "mid and lower ", text)
    text = _EACH_OF_THREE.sub(r"all zones of the \1 lung", text)
    text = _ZONES_COUNTED.sub("", _NO_ZONE_COUNTED.sub(r"\1zones clear", text))
    text = _SIDE_ZONES_NAMED.sub(r"\1 ", text)
    text = _EVERY_LOBE.sub(lambda m: f"all zones of {m.group('lungs')}", text)
    text = _TWO_THIRDS.sub(lambda m: _TWO_THIRDS_ZONES[(m.group(1) or m.group(2)).lower()], text)
    text = _SIDE_LETTER.sub(lambda m: "left " if m.group(1) in "Ll" else "right ", text)
    text = _LATIN_SIDE.sub(lambda m: "right" if m.group(0)[0] in "dD" else "left", text)
    text = _FIELD_ABOVE_BELOW.sub(lambda m: "upper field" if m.group(1).lower() == "over" else "lower field", text)
    return _ONE_THIRD.sub("third", _MEAN_THIRD.sub("middle", text))


def _signed_zones_as_words(text: str) -> str:
    """A note's zones marked + or \u2212 as statements: "R: up\u2212 mid\u2212 low+" -> "right upper clear; right middle
    clear; right lower opacity;", "R mid \u2212 & L LZ" -> "right mid clear & L LZ"."""
    def grid(m: re.Match) -> str:
        return " ".join(f"{m.group(1)} {_WRITTEN_OUT.get(zone.lower(), zone)} "
                        f"{'opacity' if sign == '+' else 'clear'};" for zone, sign in _SIGNED_ZONE.findall(m.group(2)))
    return _MINUS_AFTER_ZONE.sub(r"\1 clear", _SIGNED_GRID.sub(grid, text))


def _hindi_as_english(text: str) -> str:
    """Hindi function words of a Hinglish message written in Latin letters ("dono bases aur left mid zone mein",
    "right side apex se base tak", "Left side kuch nahi hai") as the English words they are, where the text holds two
    or more of them: "and", "both", "whole", "all three", "nothing", "from ... to"."""
    if len({m.group(0).lower() for m in _HINDI_WORD.finditer(text)}) < 2:
        return text
    text = _HINDI_RANGE.sub(r"\1 to \2", text)
    return _HINDI_WORD.sub(lambda m: _HINDI_WORDS[m.group(0).lower()], text)


def _corrections_applied(text: str) -> str:
    """A dictation's corrections of itself applied: a sentence struck ("... left lower zone period. Scratch that whole
    sentence.") left out, and a phrase corrected in its sentence ("in the left lower -- scratch that -- right lung
    base") replaced by what follows: a place corrected by a place replaces the last place said before the
    correction ("the left upper, strike that, the lower zones bilaterally"), a statement restated ("Airspace
    opacity in the right base -- no wait, I said that wrong -- opacification in the left lower zone") replaces
    the sentence so far. What a speaker corrects is what the report does not state."""
    struck = _STRUCK_SENTENCE.search(text)
    while struck:
        own = _sentence_start(text, struck.start())  # "No -- go back, delete that.": the sentence before this one
        start = _sentence_start(text, len(text[:own].rstrip(" .;\n")))
        text = text[:start] + text[struck.end():]
        struck = _STRUCK_SENTENCE.search(text, start)
    corrected = _CORRECTED.search(text)
    while corrected:
        after = re.split(r"[.;:!?\n]", text[corrected.end():], maxsplit=1)[0]
        if not (_PLACE_WORD.search(after) or re.match(r"(?:no|not|there)\b", after, re.IGNORECASE)):
            corrected = _CORRECTED.search(text, corrected.end())  # "(not RML, sorry - typo)": no place corrected
            continue
        start = _sentence_start(text, corrected.start())
        if _PLACE_START.match(text, corrected.end()):  # only the last place said is corrected
            last = _LAST_PLACE.search(text, start, corrected.start())
            start = last.start() if last else start
        text = text[:start] + " " + text[corrected.end():]
        corrected = _CORRECTED.search(text, start + 1)
    return text


def _sentence_start(text: str, at: int) -> int:
    """Where the sentence that holds position ``at`` starts (after a stop, a colon or a line break)."""
    return max(text.rfind(c, 0, at) for c in ".;:!?\n") + 1


def _answers_with_questions(text: str) -> str:
    """A form's question with its answer, on one line: answered yes or no as asked ("Is there any consolidation?\n
    Yes" -> "Is there any consolidation? Yes", whose answer places reads), answered otherwise as a field ("Which
    zones in the right lung?\nLower" -> "Which zones in the right lung: Lower"); a prompt's choices left out, the
    letters of its answer as the words they stand for ("? Left zones (u/m/l): l" -> "Left zones: lower"); a key to
    such letters left out."""
    text = _ANSWER_MARK.sub("? ", _QUESTION_MARK.sub("", _CHAT_TIME.sub("", text)))
    text = _CHOICES_ASKED.sub("?", text)
    text = _PROMPT.sub(_prompt_answered, _KEY_LINE.sub("", text))
    text = _QUESTION_ANSWERED.sub(_question_answered, text)
    return _WHERE_ASKED.sub(r"\g<q>: \g<a>", text)


def _question_answered(m: re.Match) -> str:
    """The question and its answer on one line; not a request's query ("Referral: ... pneumonia?") and not a question
    above a heading ("Finding: ..."), unless both are turns of a talk ("RadVoice: Which side?", "Radiologist: Both")."""
    if CONTEXT_HEADING.match(m.group("q")) or m.group("speaker") and not _SPEAKER.match(m.group("q")):
        return m.group(0)
    return _answered_as(m.group("q"), m.group("a"))


def _prompt_answered(m: re.Match) -> str:
    choices = {c.strip().lower() for c in m.group("choices").split("/")}
    if m.group("a") is None:
        return f"{m.group('q')}?"  # answered on the next line
    letters = _ZONE_LETTERS if len(choices & set(_ZONE_LETTERS)) >= 2 and "r" not in choices else _YES_NO_LETTERS
    # a letter the knowledge base spelled out as a side before this ("l" -> "left") is the choice's letter again
    answer = re.sub(r"\b(?:[A-Za-z]|left|right)\b", lambda a: letters.get(a.group(0).lower()[0], a.group(0))
                    if a.group(0).lower()[0] in choices else a.group(0), m.group("a"))
    return _answered_as(m.group("q"), answer)


def _answered_as(question: str, answer: str) -> str:
    return f"{question}? {answer}" if _YES_OR_NO.match(answer) else f"{question}: {answer}"


def _unticked_left_out(text: str) -> str:
    """A form's options that are not ticked ("[ ] Upper [ ] Mid [x] Lower", "\u2610 Left \u2612 Right") left out, and
    the boxes of those that are: what a form states is what it ticks."""
    if not _TICKED.search(text):  # a form that ticks nothing: "[ ]" is then no box of an option
        return text
    return _TICKED.sub("", _UNTICKED_OPTION.sub("", text))


def _box_grid_as_fields(text: str) -> str:
    """A form's grid of tick boxes crossing sides with zones (a screening worksheet: "Right Left" over "Upper zone [ ]
    [ ]", "Lower zone [X] [ ]") as a field per box, "Right Lower zone: present", "Left Lower zone: absent": a box
    ticked or not says where, by its column, what the words of its row alone do not."""
    lines, out, header = text.split("\n"), [], []
    for i, line in enumerate(lines):
        boxes, label = _grid_row(line)
        if header and len(boxes) == len(header):
            out += [f"{name} {label}: {'present' if _TICKED.fullmatch(box) or box in _TICK_MARKS else 'absent'}"
                    for name, box in zip(header, boxes)]
            continue
        header_line = _GRID_HEADER.match(line) if i + 1 < len(lines) and _grid_row(lines[i + 1])[0] else None
        header = [m.group(0) for m in _GRID_NAME.finditer(header_line.group("names"))] if header_line else []
        # the header's columns are said in each field below it; what its line says before them stays
        out.append(header_line.group("before") if header_line else line)
    return "\n".join(out)


def _grid_row(line: str) -> tuple:
    """(the boxes or marks, the label) of a grid's row ("Middle zone [ ] [X]", "Lower zone  -  X"), else ([], "")."""
    row = _BOX_GRID_ROW.match(line)
    if row:
        return re.findall(_BOX, row.group("boxes")), row.group("label")
    row = _MARK_GRID_ROW.match(line)
    return (row.group("marks").split(), row.group("label")) if row else ([], "")


def _tables_as_fields(text: str) -> str:
    """A delimited table with yes/no cells (a registry's export: a header line, then a row per record with a column
    per zone) as one field per line, "Right upper: present" or "Right upper: absent", which :func:`_verdicts_as_words`
    then reads: its header alone names every zone, and its cells name none. A log whose header names places among
    other columns ("| Date | View | Right lung | Left lung |", then "| 2021-03-28 | AP | lower | clear |") the same
    way, "Right lung: lower": each cell belongs to its column's place, not to the header's list of both. A table
    crossing zones with sides (a
    Markdown zone map: "| Zone | Right | Left |", then "| Upper | Clear | \u2714 opacity |") as a field per cell, "Upper
    Left: \u2714 opacity", its signs as words. A table without such cells (a problem list whose rows name their own
    places) stays as it is."""
    lines = [line for line in text.split("\n") if not _TABLE_RULE.fullmatch(line)]
    out, i = [], 0
    while i < len(lines):
        header = _cells(lines[i])
        rows = []
        while header and i + 1 + len(rows) < len(lines):
            row = _cells(lines[i + 1 + len(rows)], header[0])
            if row is None or len(_unpadded(row[1], len(header[1]))) != len(header[1]):
                break
            rows.append(_unpadded(row[1], len(header[1])))
        if rows and _crosses_places(_framed(header[1])):
            out += [f"{row[0]} {name}: {_CROSS_VERDICT.get(cell.lower(), cell)}"
                    for row in map(_framed, rows) for name, cell in zip(_framed(header[1])[1:], row[1:]) if cell]
            i += 1 + len(rows)
        elif rows and (any(cell.strip().lower() in _YES_NO for row in rows for cell in row)
                       or any(_PLACE_NAME.fullmatch(name) for name in header[1][1:])):
            out += [_field(name.strip(), cell.strip()) for row in rows for name, cell in zip(header[1], row)
                    if cell.strip()]
            i += 1 + len(rows)
        else:
            out.append(lines[i])
            i += 1
    return "\n".join(out)


def _field(name: str, cell: str) -> str:
    """A record's cell as a field: a yes/no as present/absent, a sign under a place's column as its word ("R lung"
    over "-": "R lung: clear")."""
    verdict = _YES_NO.get(cell.lower()) or (_CROSS_VERDICT.get(cell.lower()) if _PLACE_NAME.fullmatch(name) else None)
    return f"{name}: {verdict or cell}"


def _current_column(text: str) -> str:
    """A table that sets an earlier film beside this one ("Zone | Prior (6 Mar 2020) | Current (14 Mar 2020)", then
    "Left mid | involved | normal") as one field per row with this film's cell ("Left mid: normal"): the earlier
    film's column states nothing of this film."""
    lines = [line for line in text.split("\n") if not _TABLE_RULE.fullmatch(line) and not _RULE_LINE.fullmatch(line)]
    out, i = [], 0
    while i < len(lines):
        header = _framed([c.strip() for c in lines[i].split("|")]) if lines[i].count("|") >= 2 else []
        current = [k for k, name in enumerate(header) if _CURRENT_COLUMN.match(name)]
        if not (current and any(_EARLIER_COLUMN.match(name) for name in header)):
            out.append(lines[i])
            i += 1
            continue
        i += 1
        while i < len(lines) and lines[i].count("|") >= 2:
            row = _framed([c.strip() for c in lines[i].split("|")])
            if len(row) == len(header):
                out.append(f"{row[0]}: {row[current[0]]}")
            i += 1
    return "\n".join(out)


def _framed(cells: list) -> list:
    """A row's cells without the empty ones its outer pipes make ("| Zone | Right | Left |")."""
    start = 1 if cells and not cells[0] else 0
    end = -1 if len(cells) > start and not cells[-1] else len(cells)
    return cells[start:end]


def _crosses_places(header: list) -> bool:
    """Whether a table's header names sides or zones after a label column ("| Zone | Right | Left |"): its rows then
    name the other ("| Upper | Clear | Involved |"), and each cell is the place of its row and column."""
    names = [name for name in header[1:] if name]
    return len(names) >= 2 and all(_PLACE_NAME.fullmatch(name) for name in names)


def _unpadded(cells: list, width: int) -> list:
    """A row without the empty cells a spreadsheet leaves after its last column ("KM,,")."""
    while len(cells) > width and not cells[-1]:
        cells = cells[:-1]
    return cells


def _cells(line: str, delimiter: str = ""):
    """(delimiter, cells) of a table row of four or more cells, or None; a row under a header is split the header's
    way (a cell of a comma table may hold "middle;lower")."""
    if _QUOTED_CELLS.fullmatch(line) and delimiter in ("", " "):
        return " ", re.findall(r'"((?:[^"]|"")*)"', line)
    for delimiter in delimiter or "|\t;,":
        if line.count(delimiter) >= 3:
            cells = next(csv.reader([line], delimiter=delimiter, skipinitialspace=True))
            return delimiter, [c.strip() for c in cells]
    return None


def _verdicts_as_words(text: str) -> str:
    """A place given a verdict and nothing else, as a statement: a table row ("Right upper zone | 0.07 | below
    threshold"), a field ("Opacity / RUZ: 0.98 [+] above threshold", "Left lung: negative") or a member of a JSON
    object ('"Left lower zone": {"score": 0.70, "positive": true}'), as software that scores regions writes them ->
    "Right upper zone clear.", "Opacity / RUZ.", "Left lower zone.". Any other line stays as it is."""
    text = _JSON_MEMBER.sub(lambda m: _verdict_statement(m.group("label"), m.group("body"), m.group(0), "\n"), text)
    return _VERDICT_LINE.sub(lambda m: _verdict_statement(m.group("label"), m.group("rest"), m.group(0), ""), text)


def _verdict_statement(label: str, rest: str, as_written: str, around: str) -> str:
    """``label`` stated involved or clear by the verdict that ``rest`` gives, or ``as_written`` where ``rest`` says
    more than a verdict (numbers, keys and the verdict only)."""
    rest = _JSON_VERDICT.sub(lambda m: " positive " if m.group(1).lower() == "true" else " negative ", rest)
    negative = _NEGATIVE_VERDICT.search(rest)
    verdict = negative or _POSITIVE_VERDICT.search(rest)
    said = _POSITIVE_VERDICT.sub(" ", _NEGATIVE_VERDICT.sub(" ", rest))
    if verdict is None or re.search(r"[^\W\d_]", _VERDICT_KEYS.sub(" ", said)):
        return as_written
    label = label.replace("_", " ").strip()  # a key in snake case: "right_upper", "opac_rt_up"
    label = _SHORT_ZONE_AFTER_SIDE.sub(lambda m: f"{m.group(1)} {m.group(2)}{'per' if m.group(2) == 'up' else 'er'}",
                                       label)
    return f"{around}{label}{' clear' if negative else ''}.{around}"


def _asides_left_out(text: str) -> str:
    """Without what states no place: "left" as a verb ("left at 19:30"), "right" as an adverb ("right through") or
    meaning correct ("that's right", restated "correct"), an initial before a name ("Dr R. Patel", "Dr L Kowalski")
    and a name field ("Full name: VO THI L."), "both" of two test results ("swabs x2: both negative"), an "all" that
    names no part of the lungs ("Hi all", "all week"), how doctors divide the lungs into zones (a glossary of a
    letter to the patient), a patient's rotation, a hedge of certainty, the sharpness of a shadow's edges ("without
    clear contours", "boundary not clear"), a first impression taken back ("At first I thought ..., but"), the "all"
    of "all other zones" (what is not named), "no zone spared" (the places stated are all there is), the colons and
    semicolons of a list in brackets ("(right: lower zone; left: lower zone)", one list), the side of a lateral view
    ("PA and left lateral"), the "both" of a lobe's segments ("both lingular segments") or of two places ("both the
    apex and the base of the left lung") and the depth of inspiration in ribs ("six anterior ribs visible above the
    right hemidiaphragm"), a side after its lung ("lung right" as "right lung"), a terminology's codes inserted
    after the words ("opacity [RadLex:RID28530]") and a list of edits' words replaced ('"upepr" -> "upper"')."""
    text = _LEFT_AS_VERB.sub("went", _TERMINOLOGY_CODE.sub("", _LUNG_SIDE.sub(r"\1 lung", text)))
    text = _WORD_REPLACED.sub("", text)
    text = _NAME_FIELD.sub("name:", _INITIAL.sub("", text))
    text = _BOTH_RESULTS.sub("", text)
    text = _ALL_OF_IT.sub("whole", _BOTH_OF_A_PAIR.sub(r"\1they", text))
    text = _WHOLE_OF_NO_LUNG.sub("", _ALL_OF_NO_LUNG.sub("every one", text))
    text = _ZONES_EXPLAINED.sub("", text)
    text = _MARGINS.sub("ill-defined", text)
    text = _RETRACTED.sub("", text)
    text = _RIGHT_AS_ADVERB.sub("", _RIGHT_AS_CORRECT.sub("correct", text))
    text = _ROTATED.sub(r"\1", text)
    text = _NONE_SPARED.sub("", _ALL_OTHER.sub("", _NONE_OF_SPARED.sub(r"all zones of \1 involved", text)))
    text = _BOTH_SEGMENTS.sub("the two", _SIDED_LATERAL.sub("lateral", _INSPIRATION.sub("", text)))
    text = _BOTH_OF_TWO.sub("", text)
    return _UNSURE.sub(" ", _BRACKETED_LIST.sub(_bracket_as_list, text))


def _opposite_sides(text: str) -> str:
    """A side named by its relation to the last one named before it, as that side's word: "opacity in the right lower
    zone with similar change in the corresponding zone of the contralateral lung" -> "... in the lower zone of the
    left lung"; "the opposite lung", "the other side", "the contralateral base", "the ipsilateral apex"."""
    out, pos, side, zone, side_at = [], 0, None, None, -1
    for m in _SIDE_OR_RELATION.finditer(text):
        word = m.group(0).lower()
        if word in ("left", "right"):
            side, side_at = word, m.start()
        elif word in _ZONE_WORD:
            zone = _ZONE_WORD[word]
        elif word in ("opposite", "contralateral", "other", "ipsilateral") and side and len(
                _SENTENCE_BREAK.findall(text, side_at, m.start())) <= 1:  # only a side named this sentence or the last
            out.append(text[pos:m.start()] + (side if word == "ipsilateral" else _OTHER_SIDE[side]))
            pos = m.end()
        elif zone and word not in ("opposite", "contralateral", "other", "ipsilateral"):  # "the corresponding zone"
            out.append(text[pos:m.start()] + zone)
            pos = m.end()
    return "".join(out) + text[pos:]


def _bracket_as_list(m: re.Match) -> str:
    return m.group(0).replace(";", ",").replace(":", " ")


# hurried abbreviations whose dot ends no sentence ("Rt. lung clear", "Lt upp. & mid zones", "R./L. lower z."),
# the zone ones written out: a dot followed by a place word, a join or a clearing word ("diffuse R. no fx seen",
# "b/l. no free air" and "consolid. Rt sup. zone clear" keep theirs: a side word starts a new statement)
_DOTTED_WORD = re.compile(r"(?<!b/)\b((?i:rt|lt|r|l|bil|bilat|mid|abn|sup|upp|inf|low|z|consolid|opac|pt|ant|post|lat|med))"
                          r"\.(?=\s*(?:[&/+,(]|$|(?i:lungs?|upper|upp|mid|middle|lower|low|inf|sup|bases?|basal|apex|"
                          r"zones?|z|sides?|hemithorax|lobes?|whole|entire|clear|normal|spared|involved)\b)"
                          r"|(?<=abn\.)(?=\s*(?i:left|right|rt|lt|r|l)\b))")  # "no abn. Lt lung"
_WRITTEN_OUT = {"sup": "upper", "upp": "upper", "up": "upper", "inf": "lower", "low": "lower", "z": "zone",
                "bil": "bilateral", "bilat": "bilateral", "abn": "abnormality"}
# "sup zone", "inf zones": the zone words they abbreviate
_ZONE_SHORT = re.compile(r"\b(sup|upp|inf)(?=\s+zones?\b)", re.IGNORECASE)
# "MZ/LZ": two zone abbreviations joined by a slash, which in "mg/L" or "2 L/min" keeps a letter from being a side
_ZONES_BY_SLASH = re.compile(r"(?<=\b[UMLuml][Zz])/(?=[UMLuml][Zz]s?\b)|(?<=\b[UMLuml][Zz]s)/(?=[UMLuml][Zz]s?\b)")
# "UZ-LZ": a range of zones by their abbreviations (a hyphen keeps a short term from matching: "RT-PCR")
_ZONE_RANGE = re.compile(r"(?<=\b[UMLuml][Zz])\s?-\s?(?=[UMLuml][Zz]s?\b)")
# "each lower zone" is both; "rotated to the left" and a hedge ("not 100% sure") place and negate nothing
_EACH = re.compile(r"\beach(?=\s+(?:upper|mid|middle|lower|lung|side|base|apex)\b)", re.IGNORECASE)
_ROTATED = re.compile(r"\b(rotat\w*)\s+(?:to(?:wards)?\s+)?(?:the\s+)?(?:left|right|l|r)\b", re.IGNORECASE)
# how sharp a shadow's edges are, not whether it is there: "infiltration without clear contours"
_MARGINS = re.compile(r"\bwithout\s+(?:clear|sharp|distinct|definite|well[- ]defined|defined)\s+"
                      r"(?:contours?|margins?|borders?|boundaries|edges?|outlines?)\b"
                      r"|\b(?:contours?|margins?|borders?|boundary|boundaries|edges?|outlines?)\s+(?:(?:is|are)\s+)?"
                      r"(?:not\s+(?:clear|sharp|distinct|well[- ]defined)|unclear|indistinct)\b", re.IGNORECASE)
# the empty-set sign of ward notes: "nil" before what it denies ("Ø effusion"), "clear" after a place ("apices Ø")
# (a line's last sign denies nothing on the next); and "nil" that ends its part of a list ("MID - NIL / LOWER -
# OPACITY": the mid zone is clear)
_NIL_AFTER = re.compile(r"[ \t]*(?:[\u00d8\u2205](?![ \t]*[A-Za-z])|\bnil(?=[ \t]*(?:[/,;.]|$)))",
                        re.IGNORECASE | re.MULTILINE)
_NIL_BEFORE = re.compile(r"[\u00d8\u2205][ \t]*(?=[A-Za-z])")
# the last heading of an SBAR handover (Situation, Background, Assessment, Recommendation), and "left" as a verb
_SBAR_R = re.compile(r"(?m)^(\s*)(?:R|right)(\s*[-:\u2013])")  # "R" as the knowledge base spelled it out
# a side letter hyphenated to a zone: "L-upper", "R-base" (an annotation tool's choices)
_SIDE_LETTER = re.compile(r"\b([LRlr])-(?=(?:upper|mid|middle|lower|base|apex|zone|lung)\b)", re.IGNORECASE)
# ... "left" as a verb: "left at 14:00", "the dog hasn't left my side", "left for work"
_LEFT_AS_VERB = re.compile(r"\bleft(?=\s+at\s+\d)"
                      r"|(?:(?<=\bhas )|(?<=\bhad )|(?<=\bhave )|(?<=n't ))left(?!\s+(?:lung|side|sided|base|apex|zone|"
                      r"lobe|upper|lower|mid|middle|hemithorax|chest)\b)"
                      r"|\bleft(?=\s+(?:my|his|her|their|our|your|me|him|them|us|it|home|school|work|for)\b)",
                      re.IGNORECASE)
# an amended report: what it says was reported before is what it corrects
_AMENDED = re.compile(r"\b(?:amend\w*|corrected|correction|addendum)\b", re.IGNORECASE)
_PREVIOUSLY_REPORTED = re.compile(r"\b(?:was|were)\s+previously\s+(?:reported|stated|described)", re.IGNORECASE)
# a box of a form: ticked ("[x]", "(X)", "\u2612", "\u2611") or not ("[ ]", "( )", "\u2610"), with the option after
# it, up to the next box, a colon's label or the line's end
_TICKED = re.compile(r"\[\s*[xX\u2713\u2714]\s*\]|\(\s*[xX\u2713\u2714]\s*\)|[\u2611\u2612]")
_BOX = r"\[\s*[xX\u2713\u2714]?\s*\]|\(\s*[xX\u2713\u2714]?\s*\)|[\u2610\u2611\u2612]"
# a row of a grid of tick boxes: a label, then only boxes ("Middle zone [ ] [X]")
_BOX_GRID_ROW = re.compile(rf"^\s*(?P<label>[^\W\d_][^\[\]\n\u2610-\u2612]*?)\s*(?P<boxes>(?:(?:{_BOX})\s*){{2,}})$")
_UNTICKED_OPTION = re.compile(rf"(?:\[\s\]|\(\s\)|\u2610)(?:(?!{_BOX})[^\n:])*")  # with its brackets: "(bilateral)"
# the words that say a finding is not there, as a structured export's status and scoring software write them
_NEGATIVE_WORDS = r"neg|negative|absent|not\s+present|not\s+detected"
# a verdict on a region, as scoring software writes it; "not detected" before "detected"
_NEGATIVE_VERDICT = re.compile(rf"\[\s*-\s*\]|\(\s*-\s*\)|\b(?:{_NEGATIVE_WORDS}|below\s+(?:the\s+)?threshold)\b",
                               re.IGNORECASE)
_POSITIVE_VERDICT = re.compile(r"\[\s*\+\s*\]|\(\s*\+\s*\)|\b(?:pos|positive|above\s+(?:the\s+)?threshold|detected|"
                               r"present)\b", re.IGNORECASE)
# ... a JSON key that takes a verdict ('"positive": false'), and the keys of a score around it
_JSON_VERDICT = re.compile(r'"?\b(?:positive|present|detected|abnormal|finding)"?\s*:\s*(true|false)\b', re.IGNORECASE)
_VERDICT_KEYS = re.compile(r"\b(?:score|scores|result|confidence|probability|prob|p|threshold|value)\b", re.IGNORECASE)
# a row or a field: a label, then a "|" or a colon and the rest of the line; a JSON member: '"label": {...}'
_VERDICT_LINE = re.compile(r"(?m)^(?P<label>[^\n|:]*[^\W\d_][^\n|:]*?)[^\S\n]*[|:][^\S\n]*(?P<rest>[^\n]*)$")
_JSON_MEMBER = re.compile(r'"(?P<label>[^"\n]+)"\s*:\s*\{(?P<body>[^{}]*)\},?')
# a table's cells that say yes or no, as the verdicts _verdicts_as_words reads; a row of quoted cells without
# delimiters (a tab-separated export whose tabs were collapsed)
_YES_NO = {"yes": "present", "y": "present", "true": "present", "1": "present",
           "no": "absent", "n": "absent", "false": "absent", "0": "absent"}
# a Markdown table's rule under its header ("|:-----|:----:|"), and a table crossing sides with zones: its column names,
# and the cells that say yes or no by a sign ("\u2714", "\u2014", "+", "0")
# the columns of a table that sets an earlier film beside this one
_EARLIER_COLUMN = re.compile(r"(?:prior|previous|earlier|baseline|admission|old|then)\b", re.IGNORECASE)
_CURRENT_COLUMN = re.compile(r"(?:current|today|now|this\s+film|latest|present|follow-?up)\b", re.IGNORECASE)
_RULE_LINE = re.compile(r"\s*[-=+|:]{10,}\s*")
_TABLE_RULE = re.compile(r"\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)+\|?\s*")
# a grid's row of bare marks, ticked ("X", "+", a tick) or not ("-", a dash): "Lower zone    -    X"
_TICK_MARKS = frozenset("xX+\u2713\u2714")
_MARK_GRID_ROW = re.compile(r"^\s*(?P<label>[^\W\d_][^\[\]\n\u2610-\u2612]*?)\s+"
                            r"(?P<marks>(?:[xX+\u2713\u2714\-\u2013\u2014](?:\s+|$)){2,})$")
_PLACE_NAME = re.compile(r"(?i:right|left|r|l|rt|lt|upper|mid|middle|lower|apex|base)(?:\s+(?i:zones?|lung|side))?")
_GRID_NAME = re.compile(rf"\b(?:{_PLACE_NAME.pattern})\b")
# a grid's header: its column names at the end of its line ("RIGHT   LEFT"), after a label or the name of its rows'
# column ("Affected zones:  R  L", "Zone  RIGHT lung  LEFT lung"), also where the line before ran into it
_GRID_HEADER = re.compile(rf"^(?P<before>(?:.*?(?::|\b(?i:zones?|regions?|areas?|fields?)\b))?)\s*"
                          rf"(?P<names>(?:{_GRID_NAME.pattern}\s*){{2,}})$")
_CROSS_VERDICT = {"\u2714": "involved", "\u2713": "involved", "+": "involved", "yes": "involved", "y": "involved",
                  "\u2014": "clear", "\u2013": "clear", "-": "clear", "0": "clear", "no": "clear", "n": "clear",
                  ".": "clear", "\u00b7": "clear"}  # a grid's dot: "X = involved, . = clear"
_QUOTED_CELLS = re.compile(r'\s*(?:"(?:[^"]|"")*"\s*){4,}')
# a column's zone cut short after its side: "rt up", "L low"
_SHORT_ZONE_AFTER_SIDE = re.compile(r"\b(rt|lt|r|l|right|left)\s+(up|low)\b", re.IGNORECASE)
# a dictation's corrections: a sentence struck, and a phrase corrected in its sentence, between dashes, commas or
# dots ("-- scratch that --", ", strike that,", "... no, sorry ...", "-- correction, make that", "-- I mean --")
_STRUCK_SENTENCE = re.compile(r"\b(?:scratch|strike|delete|cancel)\s+that(?:\s+(?:whole\s+|last\s+|previous\s+)?"
                              r"sentence)?(?:,?\s*(?:and\s+)?start\s+(?:again|over))?\s*[.;]", re.IGNORECASE)
_BREAK = r"(?:--|\u2013|\u2014|\.\.\.|\u2026|,)"
_CORRECTED = re.compile(rf"\s*{_BREAK}\s*(?:(?:no,?\s+)?(?:wait|sorry)(?:,\s*I\s+said\s+that\s+wrong)?"
                        r"|(?:scratch|strike|delete)\s+that|I\s+mean|correction(?:,?\s*make\s+that)?|make\s+that)"
                        rf"(?:\s*(?:,\s*)?that\s+should\s+(?:read|be))?\s*(?:{_BREAK}|:)?\s*", re.IGNORECASE)
# what a correction corrects: a place said after it (else it corrects nothing), and whether the place opens it
_PLACE_WORDS = (r"right|left|both|bilateral\w*|upper|mid|middle|lower|apex|apices|base|bases|whole|entire|lungs?|"
                r"zones?|lingula|r[uml]l|l[ul]l")
_PLACE_START = re.compile(rf"(?:the\s+)?(?:{_PLACE_WORDS})\b", re.IGNORECASE)
_PLACE_WORD = re.compile(rf"\b(?:{_PLACE_WORDS})\b", re.IGNORECASE)
# the last place said: a run of place words, back to a list's "and" or comma
_LAST_PLACE = re.compile(r"(?:the\s+)?(?:(?:right|left|both|upper|mid|middle|lower|whole|entire)[\s-]+)*"
                         r"(?:right|left|upper|mid|middle|lower|zones?|lobes?|lungs?|base|bases|apex|apices|lingula|"
                         r"r[uml]l|l[ul]l|mid-zone)\s*$", re.IGNORECASE)
# "right" that means correct, in talk: "that's right", "is that right?", "the right patient", "in the right clinical
# context"
_RIGHT_AS_CORRECT = re.compile(r"(?:(?<=\bthat's )|(?<=\bthat is )|(?<=\bis that )|(?<=\ball )|(?<=\bquite )|"
                               r"(?<=\bexactly )|(?<=\byou're )|(?<=\byou are )|(?<=\bgot it )|(?<=\bsounds ))right\b"
                               r"(?=\s*(?:[.,;:!?\n]|$))"
                               r"|(?<=\bthe )right(?=\s+(?:patient|person|film|study|clinical|answer|one|way|time|"
                               r"track|direction|context|call|place|thing|idea|approach|question|number|bed|ward)\b)"
                               # an interjection opening a sentence ("Right, your turn.")
                               r"|(?:^|(?<=\n)|(?<=[.!?] ))right"
                               r"(?=,\s*(?:your|let'?s|so|now|ok|okay|then|good|well|we|I|you|next|first)\b)",
                               re.IGNORECASE)
# an HL7 CDA document's sections and their narrative blocks
_CDA_SECTION = re.compile(r"<section\b[^>]*>", re.IGNORECASE)
_CDA_TEXT = re.compile(r"<text\b[^>]*>(.*?)</text>", re.IGNORECASE | re.DOTALL)
_XML_BREAK = re.compile(r"<(?:/?item|/?paragraph|br|/?tr|/?list)\b[^>]*>", re.IGNORECASE)
_XML_TAG = re.compile(r"<[^>]+>")
_XML_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&amp;": "&"}
# an item of a DICOM SR content tree as dsrdump prints it ('<has concept mod CODE:(272741003,SCT,"Laterality")=
# (24028007,SCT,"Right")>'), and the start of one as a numbered tree ("1.5.1.2 [has concept mod] CODE: Laterality = ")
# or a table of levels ("3  has concept mod  CODE  >>>Laterality  ") prints it, up to its value
_SR_DSRDUMP = re.compile(r'<[a-z ]+\s(?P<type>[A-Z]+):\([^)]*"(?P<concept>[^"]*)"\)=(?P<value>[^>]*)>')
_SR_RELATION = r"(?:contains|has concept mod|has obs context|has properties|has acq context|inferred from|ROOT)"
_SR_ITEM_START = re.compile(
    rf"\b\d+(?:\.\d+)*\s+\[{_SR_RELATION}\]\s+(?P<type>[A-Z]+):\s+(?P<concept>[^=\n]+?)\s+=\s+"
    rf"|\b\d\s+{_SR_RELATION}\s+(?P<type3>[A-Z]+)\s+>*(?P<concept3>Finding Site|Finding|Laterality|"
    rf"Topographical modifier|Presence|Impression|Language of Content Item and Descendants|Observer Type|"
    rf"Person Observer Name|Procedure reported|Findings|Impressions|Number of lesions|[A-Z][\w ]*?)\s+(?=\S)")
# "right" as an adverb: "in both lungs right through", "right down to the bases"; not the side in "on the right
# throughout the pulmonary field"
_RIGHT_AS_ADVERB = re.compile(r"(?<!\bthe )\bright(?=\s+(?:through|down|across|round|around|along)\b)", re.IGNORECASE)
# a name field's value up to the next label ("Full name: VO THI L.  Age: 39"): a name, whatever its initials are
# ("Patient: Mrs. A. R.    Age: 68 Y"), and a title's name ended by an initial ("[8:12 am] Dr Sneha R.: Rest clear")
_NAME_FIELD = re.compile(r"(?:^[^\S\n]*|(?<=\s\s))(?:(?:(?:full|patient'?s?|first|last|family|given)\s+|sur)?name\s*:|"
                         r"patient\s*:(?=\s*(?:Mrs?|Ms|Miss|Dr)\b))(?:\s*[\w.'-]+){1,5}?(?=\s+[A-Za-z]+\s*:|[^\S\n]*$)"
                         r"|\b(?:Dr|Mr|Mrs|Ms|Miss|Prof)\.?\s+[A-Z][a-z]+\s+(?:right|left|R|L)\.?(?=\s*:)",
                         re.IGNORECASE | re.MULTILINE)
# a side after its lung, as translations put it: "in zone lower of lung right and lung left"
_LUNG_SIDE = re.compile(r"\blung\s+(right|left)\b(?!\s*(?:side|sided|lung|lobe|zone|upper|middle|mid|lower|base|apex|"
                        r"hil\w*|costophrenic|hemi\w*|heart|pleura\w*)\b)", re.IGNORECASE)
# a terminology's code in square brackets after a word ("zone [RadLex:RID34696]", "[SNOMED: 233604007]")
# a word's replacement in a list of edits ('Spelling: “upepr” → “upper”', '"R" -> "right"'): words, no statement
_WORD_REPLACED = re.compile(r"[\"\u201c][^\"\u201d\n]{0,60}[\"\u201d]\s*(?:\u2192|->|=>)\s*"
                            r"[\"\u201c][^\"\u201d\n]{0,80}[\"\u201d]")
_TERMINOLOGY_CODE = re.compile(r"\s*\[(?:RadLex|SNOMED(?:[\s-]?CT)?|SCTID|ICD-?1[01](?:-CM)?|UMLS|CUI|LOINC|RID)\b"
                               r"[^\[\]\n]{0,40}\]", re.IGNORECASE)
# an initial before a name ("Dr R. Patel", "L. Hughes RN"), spelled out as a side by the knowledge base
_INITIAL = re.compile(r"\b(?:(?<=Dr )|(?<=Mr )|(?<=Ms )|(?<=by )|(?<=Mrs )|(?<=Dr\. )|(?<=Prof )|(?<=med\. ))"
                      r"(?:right|left|R|L)\.\s+"
                      r"(?=[A-Z][a-z]|[A-Z]'[A-Z])"
                      r"|\b(?:(?<=Dr )|(?<=Mr )|(?<=Ms )|(?<=Mrs )|(?<=Dr\. )|(?<=Prof ))(?:right|left|R|L)\s+"
                      r"(?=(?:[A-Z]')?[A-Z][a-z]+\b)"
                      # after a label or in a list of names ("Claimant: R. Morrison", "Authors: R. Kowalski, L.
                      # Osei"): a dot is left there only before a word that names no place (undotted() takes it away
                      # before "lower", "base", "lung", ...)
                      r"|(?:(?<=: )|(?<=, ))(?:right|left|R|L)\.\s+(?=(?:[A-Z]')?[A-Z][a-z]+\b)"
                      # a name alone at a line's start ("L. Hughes RN")
                      r"|^\W*(?:right|left|R|L)\.\s+"
                      r"(?=(?:[A-Z]')?[A-Z][a-z]+(?:,|\s*$|\s+(?:RN|PT|Band|MD|DO|Physio|SpR)\b))"
                      # initials after a title ("Resident: Mrs R.N., 86F")
                      r"|\b(?:(?<=Mr )|(?<=Mrs )|(?<=Ms )|(?<=Miss )|(?<=Dr ))(?:right|left|R|L)\.(?=[A-Z]\.)"
                      # a name before a degree, in capitals too ("DICTATED BY: R PATEL MD")
                      r"|\b(?:right|left|R|L)\.?\s+(?=(?:[A-Z]')?[A-Z][A-Za-z'-]+,?\s+(?:MD|DO|MBBS|MBChB|FRCR|FRCP|"
                      r"FRANZCR|PhD|RN|NP)\b)",
                      re.MULTILINE)
# "the mean and inferior thirds", translated from French ("moyen"): "mean third(s)" is a knowledge term
_MEAN_THIRD = re.compile(r"\bmean(?=\s+(?:and|&)\s+(?:inferior|lower|superior|upper)\s+thirds?\b)", re.IGNORECASE)
# the diaphragm as the lower end of a range of zones: "in both lungs from the apices to the diaphragm"
# "from the level of the right hilum down to the hemidiaphragm": the base the range ends at
_DOWN_TO_THE_DIAPHRAGM = re.compile(r"\b((?:down\s+)?to\s+the\s+)((?:right|left)\s+)?(?:hemi-?)?diaphragm\b",
                                    re.IGNORECASE)
_TO_THE_DIAPHRAGM = re.compile(r"(?:(?<=\bapex to the )|(?<=\bapices to the ))(?:hemi-?)?diaphragms?\b",
                               re.IGNORECASE)
# "the three floors of the right lung" (French "étages"), kept out of the knowledge base, where "three" would
# become a place word that "There" is one slip from
_THREE_FLOORS = re.compile(r"\b(?:the\s+)?(?:three|3)\s+(?:floors|thirds|(?:fields|zones)(?=\s+of\s+(?:the\s+)?"
                           r"(?:right|left|both)\b))\b", re.IGNORECASE)  # "the three fields of the right lung"
# "all 6 zones": the three zones of both lungs
_SIX_ZONES = re.compile(r"\b(?:all\s+(?:6|six)|(?:6|six)\s*(?:/|of|out\s+of)\s*(?:6|six))\s+(?:lung\s+)?zones\b",
                        re.IGNORECASE)
# zones counted out of a lung's three or both lungs' six, with the zones named after it: "two of the three left zones,
# the upper and lower", "1 of 3 zones (the lower)"; none of them: "0 of 3 left zones", "none of the three right zones"
_ZONES_COUNTED = re.compile(r"\b(?:[1-5]|one|two|three|four|five|a\s+single)\s+(?:of|out\s+of)\s+(?:the\s+)?"
                            r"(?:3|three|6|six)\s+(?=(?:(?:left|right)\s+)?zones?\b)", re.IGNORECASE)
_NO_ZONE_COUNTED = re.compile(r"\b(?:0|none|zero)\s+(?:of|out\s+of)\s+(?:the\s+)?(?:3|three|6|six)\s+"
                              r"((?:left|right)\s+)?zones?\b", re.IGNORECASE)
# ... and the zones named after a side's counted zones: "left zones, the upper and lower", "right zones (the lower)"
_SIDE_ZONES_NAMED = re.compile(r"\b(left|right)\s+zones?\s*(?:,\s*|\(\s*)(?:the\s+)?(?=(?:upper|mid|middle|lower)\b)",
                               re.IGNORECASE)
# "the lower two of the three left zones": the mid and lower; "each of the three right zones": all of them
_TWO_OF_THREE = re.compile(r"\b(upper|lower)\s+two\s+(?:of\s+)?(?:the\s+)?(?:3|three)\s+"
                           r"(?=(?:(?:left|right)\s+)?zones\b)", re.IGNORECASE)
_EACH_OF_THREE = re.compile(r"\b(?:each|all|every\s+one)\s+of\s+the\s+(?:3|three)\s+(left|right)\s+zones\b",
                            re.IGNORECASE)
# "every lobe of both lungs including the lingula", "both lobes of the left lung": the whole of those lungs
_EVERY_LOBE = re.compile(r"\b(?:every|each|all(?:\s+(?:the\s+)?(?:three|two|five|3|2|5))?|both)\s+lobes?\s+(?:of|in)\s+"
                         r"(?P<lungs>both\s+lungs|(?:the\s+)?(?:left|right)\s+lung)(?:,?\s+including\s+the\s+lingula)?",
                         re.IGNORECASE)
# "the lower two-thirds of the left lung": two of its three zones
# (the fraction first in translations: "2/3 lower of two lung fields"); "1/3" before a zone or "of" is "third" (its
# slash is no separator), elsewhere a score ("R upper 1/3")
_TWO_THIRDS = re.compile(r"\b(?:(upper|lower|top|bottom)\s+(?:two[- ]thirds|2/3|2/3rds)|(?:2/3|2/3rds)\s+(upper|lower))"
                         r"\b", re.IGNORECASE)
_ONE_THIRD = re.compile(r"(?<![\d/])1/3(?:rds?)?(?=\s+(?:of|upper|middle|mid|lower|superior|inferior)\b)",
                        re.IGNORECASE)
# a side's zones marked + (involved) or minus (clear) in a row: "R: up\u2212 mid\u2212 low+"
_SIGNED_ZONE = re.compile(r"\b(up|upper|mid|middle|low|lower)\s*([+\u2212-])", re.IGNORECASE)
_SIGNED_GRID = re.compile(r"\b(right|left|R|L)\s*:?\s*((?:(?:up|upper|mid|middle|low|lower)\s*[+\u2212-]\s*){2,3})"
                          r"(?!\w)",
                          re.IGNORECASE)
# a zone marked clear by a minus sign: "R mid \u2212 & L LZ"
_MINUS_AFTER_ZONE = re.compile(r"\b((?:right|left|R|L)\s+(?:upper|mid|middle|lower|[ULM]Z))\s*\u2212(?=\s|$)",
                               re.IGNORECASE)
_HINDI_WORDS = {"aur": "and", "dono": "both", "poore": "whole", "poora": "whole", "pura": "whole", "poori": "whole",
                "teeno": "all three", "saare": "all", "kuch nahi": "nothing", "mein": "in", "hai": "is", "hain": "are"}
_HINDI_WORD = re.compile(r"\b(?:" + "|".join(_HINDI_WORDS) + r")\b", re.IGNORECASE)
# "apex se base tak": from the apex to the base
_HINDI_RANGE = re.compile(r"\b(\w+(?:\s+zones?)?)\s+se\s+(\w+(?:\s+zones?)?)\s+tak\b", re.IGNORECASE)
_TWO_THIRDS_ZONES = {"upper": "upper and middle zones", "lower": "middle and lower zones",
                     "top": "upper and middle zones", "bottom": "middle and lower zones"}
# "all" with no part of the lungs in the words after it, up to a punctuation mark ("Hi all, ...", "thank you all so
# much", "all week", "all 4 criteria met"): no place; "all zones", "all departments of the left lung", "all three (R)
# zones", "all lobes bilaterally", "all 6/6", "all 6 zones" (also glued to the next word: "all 6 zonesairspace") keep it
# a side or zone word, and a word that names a side or zone by its relation to the last one named ("the contralateral
# lung", "the other side", "the corresponding zone")
_SIDE_OR_RELATION = re.compile(r"\b(?:left|right|upper|mid|middle|lower|apex|apical|base|basal)\b"
                               r"|\b(?:opposite|contralateral|ipsilateral)\b(?=\s+(?:\w+\s+){0,2}?(?:lungs?|sides?|"
                               r"hemithorax|bases?|apex|zones?|lobes?|fields?)\b)"
                               r"|\bother\b(?=\s+(?:lung|side|hemithorax)\b)"
                               r"|\b(?:corresponding|same|equivalent|matching)\b(?=\s+(?:zone|region|area|level)\b)",
                               re.IGNORECASE)
_SENTENCE_BREAK = re.compile(r"[.!?\n]+")
_ZONE_WORD = {"upper": "upper", "apex": "upper", "apical": "upper", "mid": "middle", "middle": "middle",
              "lower": "lower", "base": "lower", "basal": "lower"}
_OTHER_SIDE = {"left": "right", "right": "left"}
# "All other zones are clear", "every other zone": the zones not named, not every zone
_ALL_OTHER = re.compile(r"\b(?:all|every)\s+(?:of\s+)?(?:the\s+)?(?=(?:other|remaining)\b)", re.IGNORECASE)
# "with no zone spared", "without sparing of any zone": nothing beyond what the places already state
_NONE_SPARED = re.compile(r",?\s*(?:with\s+)?no\s+(?:zones?|areas?|regions?|parts?|lobes?|fields?)\s+(?:is\s+|are\s+|"
                          r"being\s+)?spared|,?\s*without\s+(?:any\s+)?sparing(?:\s+of\s+any\s+(?:zones?|areas?|"
                          r"regions?|parts?|lobes?|fields?))?", re.IGNORECASE)
# "no zone of the left lung is spared": every zone of it is involved
_NONE_OF_SPARED = re.compile(r"\bno\s+(?:zones?|areas?|regions?|parts?|lobes?|fields?)\s+of\s+([^,.;:()]{1,40}?)\s+"
                             r"(?:is\s+|are\s+|being\s+)?spared\b", re.IGNORECASE)
# the depth of inspiration counted in ribs: "six anterior ribs visible above the right hemidiaphragm"
_INSPIRATION = re.compile(r"\b(?:\d{1,2}|five|six|seven|eight|nine|ten|eleven)\s+(?:anterior|posterior)\s+ribs\s+"
                          r"(?:are\s+)?(?:visible|seen|projected)?\s*(?:above|over)\s+the\s+(?:(?:right|left)\s+)?"
                          r"(?:hemi-?)?diaphragms?\b", re.IGNORECASE)
# the side a lateral view is taken from ("PA and left lateral", "left lateral view"): no side of the lungs
_SIDED_LATERAL = re.compile(r"\b(?:left|right)\s+lateral\b(?=\s*(?:\)|$|,|\.|views?|projections?|films?|radiographs?|"
                            r"images?|decubitus))", re.IGNORECASE | re.MULTILINE)
# "both lingular segments", "both segments of the right middle lobe": the lobe's two segments, not both lungs
# "both the ... and ...": the two places it pairs, not both lungs ("both the apex and the base of the left lung", "both
# left and right"); "both mid and lower zones" is both lungs' zones
_BOTH_OF_TWO = re.compile(r"\bboth\s+(?=the\s+(?:left|right|apex|apices|base|bases|upper|middle|mid|lower|top|"
                          r"bottom)\s+and\b|(?:left|right)\s+and\b)", re.IGNORECASE)
_BOTH_SEGMENTS = re.compile(r"\bboth(?=\s+(?:lingular\s+|middle\s+lobe\s+)?segments\b)", re.IGNORECASE)
# a list in brackets whose items a colon and semicolons part ("opacification (right: lower zone; left: lower zone)")
_BRACKETED_LIST = re.compile(r"\([^()\n]{1,150}?[:;][^()\n]{0,150}\)")
_ALL_OF_NO_LUNG = re.compile(r"\ball\b(?!\s+but\b)"
                             r"(?![^.;,:!?\n]{0,30}?\b(?:(?:left|right|l|r|lungs?|zones?|lobes?|fields?|sides?|"
                             r"upper|mid|middle|lower|both|bilateral\w*|hemithora\w*|pulmonary|segments?|thirds?)\b"
                             r"|\d+\s*/\s*\d+\b|\d+\s*(?:zone|lobe|field|area|region|third|part|segment)))",
                             re.IGNORECASE)
# "all of it" (of the lung the question or the sentence names): the whole of it
_ALL_OF_IT = re.compile(r"\ball\s+of\s+it\b", re.IGNORECASE)
# "both" of two other things just named ("What about my heart and bones? Both look normal.")
_OTHER_PARTS = r"(?:heart|bones?|ribs?|mediastinum|skeleton|spine|tubes?|lines?|aorta|diaphragms?|soft\s+tissues)"
_BOTH_OF_A_PAIR = re.compile(rf"(\b{_OTHER_PARTS}\s+and\s+(?:the\s+|my\s+|your\s+)?{_OTHER_PARTS}\b"
                             r"[^.;\n]{0,20}?[:?,\-\u2013]\s*)both\b", re.IGNORECASE)
# a Latin side mark after a word ("basal dx.", "lung sin.", "pneumonia dx"), not a heading ("Dx: pneumonia"); the
# Latin words whole ("pulmo dexter", "sinistra")
_LATIN_SIDE = re.compile(r"(?<=[a-z.)] )(dx|sin)\b(?:\.(?=[ \t]+[a-z]))?(?![ \t]*:)"
                         r"|\b(dext(?:er|ra|rum)|sinist(?:er|ra|rum))\b",
                         re.IGNORECASE)
# a translated "over field" and "under field" (Swedish "ovanfält", "underfält"): the upper and lower zones
_FIELD_ABOVE_BELOW = re.compile(r"\b(over|under)[ -]?(?=fields?\b)", re.IGNORECASE)
# "whole" of what is no lung: "finish the whole course", "the entire family"
_WHOLE_OF_NO_LUNG = re.compile(r"\b(?:whole|entire)\s+(?=(?:course|courses|day|night|time|week|month|body|family|team|"
                               r"process|thing|story|tablet|pack|packet|dose|bottle|prescription|amount|treatment|"
                               r"department|ward|hospital|report|letter|leaflet)\b)", re.IGNORECASE)
# "both" of two test results, readers or views, not of the lungs ("Blood cultures x2, swabs: both negative", "both
# readers", "seen on both views")
_BOTH_RESULTS = re.compile(r"\bboth(?=\s+(?:negative|positive|neg|pos|pending|awaited|sent|taken|normal range|"
                           r"(?:the\s+)?(?:readers?|reviewers?|observers?|radiologists?|doctors?|clinicians?|parties|"
                           r"views|projections|films|images|studies|reports)|of\s+(?:us|them|you))\b)",
                           re.IGNORECASE)
# a glossary's "doctors divide each lung into upper, middle and lower zones ...": how zones are named, no finding
# (the whole sentence where what it is divided into is zones: "each lung is divided into upper, middle and lower zones")
_ZONES_EXPLAINED = re.compile(r"(?:[^.;\n]*(?=\b(?:divides?|divided|dividing|splits?|split)\b[^.;\n]*?\binto\b"
                              r"[^.;\n]*?\b(?:zones|thirds|lobes|parts|regions|fields|areas|sections)\b))?"
                              r"\b(?:divides?|divided|dividing|splits?|split)\b[^.;\n]*?\binto\b[^.;\n]*"
                              # ... or how many parts each lung is looked at in, the parts' names after it ("Doctors
                              # look at each lung in 3 parts. Top. Middle. Bottom."; "each" is "both" by then)
                              r"|[^.;\n]*\b(?:both|each|every)\s+lung\b[^.;\n]*?\b(?:3|three)\s+"
                              r"(?:parts|zones|thirds|sections|levels|regions)\b[^.;\n]*"
                              r"(?:[.:]\s*(?:(?:top|upper|middle|mid|bottom|lower)\b[\s,]*(?:and\s+|or\s+)?)+"
                              r"(?=[.;\n]|$))*"
                              # ... or that there are two of them ("You have 2 lungs: a left lung and a right lung.")
                              r"|[^.;\n]*\b(?:you|we|everyone|people|there)\s+(?:have|has|are)\s+(?:2|two)\s+lungs\b"
                              r"[^.;\n]*"
                              # ... or what a form calls a zone ("Zones = upper/middle/lower thirds of each lung.")
                              r"|\bzones?\s*(?:=|:|are|means?|refers?\s+to)\s*[^.;\n]*\bthirds?\s+of\s+(?:the\s+)?"
                              r"(?:each|both|every)\s+lungs?\b[^.;\n]*",
                              re.IGNORECASE)
# a first impression taken back in the same sentence: "At first I thought the left apex looked hazy, but it is the
# clavicle", "I had initially queried opacity in the left base, but on review ..." state only what follows the "but"
_RETRACTED = re.compile(r"\b(?:at first|initially|originally)\b[^.;\n]{0,20}?\b(?:thought|wondered|suspected|queried|"
                        r"called|felt|believed|considered|flagged|mistook|misread)\b"
                        r"[^.;\n]*?(?=\bbut\b)", re.IGNORECASE)
_UNSURE = re.compile(r"\(?\s*\bnot\s+(?:\d+\s*%\s*|entirely\s+|completely\s+|totally\s+|quite\s+)?"
                     r"(?:sure|certain)\b\s*\)?", re.IGNORECASE)
# a zone's score in a severity scoring report ("R upper zone (A): 0", "L lower 2/3"): 0 is not involved
_SCORED = re.compile(r"(?P<place>\b(?:right|left|r|l)\b[^:=\n|/;,.\d(]{0,25}?)\s*(?:\([a-f]\))?\s*[:=]?\s*"
                     r"(?P<score>[0-3])(?:\s*/\s*3)?(?![\w/.%])", re.IGNORECASE)
# a side at 0 % ("Left lung: 0%", "Right - 0 %"): not involved
_ZERO_PERCENT = re.compile(r"(?P<place>\b(?:right|left|r|l)\b[^:=\n|/;,.\d%]{0,25}?)\s*[:=\-\u2013\u2014]?\s*"
                           r"(?:~\s*|approx(?:imately|\.)?\s+|about\s+)?0\s*%", re.IGNORECASE)
# "10% of both lungs": a share of all the lung, not a statement that both are involved
_SHARE_OF_BOTH = re.compile(r"(?<=%)(\s+of\s+)(?:both|the|all)\s+lungs?\b", re.IGNORECASE)
# dotted abbreviations are no sentence end ("all zones, i.e. upper, middle and lower", "Both C.P. angles")
_DOTTED = re.compile(r"\b(?:i\.e|e\.g|viz|approx|incl|esp|cf|vs|c\.p)\.", re.IGNORECASE)
# the silhouette sign: an opacity that obscures a side's heart border lies in its middle zone (middle lobe,
# lingula), one that effaces its hemidiaphragm in its lower zone; a border that is sharp or not obscured places nothing
_OBSCURING = re.compile(r"\b(?:obscur\w*|effac\w*|silhouett\w*|blurr\w*|indistinct|loss of|lost)\b", re.IGNORECASE)
_NOT_BEFORE = re.compile(r"\b(?:not|no|without)\s+(?:\w+\s+)?$", re.IGNORECASE)
_LANDMARK = re.compile(r"\b(?P<side>left|right)\s+(?P<mark>heart border|cardiac border|cardiac margin|"
                       r"hemi-?diaphragm|diaphragm)\b", re.IGNORECASE)
# a level by anterior ribs ("over the left 2nd and 3rd anterior ribs", "below the level of the right 6th anterior
# rib"): the zones' boundaries on a frontal film lie at the 2nd and the 4th anterior rib
_RIB_LEVEL = re.compile(r"\b(?P<rel>(?:below|beneath|under|above)\s+(?:the\s+)?(?:level\s+of\s+(?:the\s+)?)?)?"
                        r"(?P<side>(?:left|right)\s+)?(?P<a>\d{1,2})(?:st|nd|rd|th)?"
                        r"(?:\s*(?:and|to|-|\u2013|/|,)\s*(?P<b>\d{1,2})(?:st|nd|rd|th)?)?\s+anterior\s+"
                        r"(?:ribs?(?:\s+ends?)?|(?P<space>intercostal\s+spaces?|ics))\b",
                        re.IGNORECASE)
# a record of a structured export, one field per line ("observation[2].bodySite = Left lung, upper zone",
# "observation[2].interpretation = N"): its fields are read together, as one statement
_RECORD_LINE = re.compile(r"^\s*(?P<record>[A-Za-z_]\w*\s*\[\s*\d+\s*\])\s*\.\s*(?P<field>[A-Za-z_][\w.\[\]]*)\s*[=:]"
                          r"\s*(?P<value>.*?)\s*$")
_PLACE_FIELD = re.compile(r"site|location|lateral|side|zone|region|lobe", re.IGNORECASE)
_STATUS_FIELD = re.compile(r"interpretation|status|result|value", re.IGNORECASE)
_NORMAL_VALUE = re.compile(rf"^(?:n|normal|false|no|clear|none|{_NEGATIVE_WORDS})$", re.IGNORECASE)


# an HL7 v2 message: its segments, each opening with its three-letter type ("OBX|8|TX|...||text||||||F")
_HL7_MESSAGE = re.compile(r"^\s*MSH\|")
_HL7_SEGMENT = re.compile(r"(?:^|(?<=\s))(?=[A-Z][A-Z0-9]{2}\|)")
_HL7_ESCAPES = {"\\.br\\": "\n", "\\h\\": "", "\\n\\": "", "\\t\\": "&", "\\s\\": "^", "\\f\\": "|", "\\r\\": "~",
                "\\e\\": "\\"}  # line break, highlight on and off, the delimiters
_HL7_ESCAPE = re.compile("|".join(re.escape(e) for e in _HL7_ESCAPES), re.IGNORECASE)
_HL7_TEXT_FIELD = {"OBX": 5, "NTE": 3}  # the segments that carry the report's text, and which field
# a page break inside the text of a PDF ("The right lung is / Page 1 of 2 / ... Patient ID 123 (continued) / clear.")
_PAGE_BREAK = re.compile(r"\s*\bPage\s+\d+\s+of\s+\d+\b(?:[^\n]*\n){0,4}?[^\n]*?\(continued\)\s*", re.IGNORECASE)


def _hl7_as_text(text: str) -> str:
    """An HL7 v2 message as the report it carries: the values of its OBX (observation) and NTE (note) segments, one
    statement per line where a value ends one or a blank value stands between paragraphs, escapes decoded; the
    other segments (patient, order, ...) state no finding. Any other text is returned as it is."""
    if not _HL7_MESSAGE.match(text):
        return text
    parts = []
    for segment in _HL7_SEGMENT.split(text):
        fields = segment.strip().split("|")
        at = _HL7_TEXT_FIELD.get(fields[0])
        if at is not None and len(fields) > at:
            parts.append(_HL7_ESCAPE.sub(lambda m: _HL7_ESCAPES[m.group(0).lower()], fields[at].strip()))
    out = ""
    for value in parts:
        out += ("\n" if not value or re.search(r"[.:;]$", out) else " ") + value
    return out.strip()


def _cda_as_text(text: str) -> str:
    """An HL7 CDA document (XML) as its narrative blocks: the text of its sections' ``<text>`` elements, one statement
    per paragraph, list item or table row, which CDA makes the attested content of a section; its coded entries
    (``<observation>`` with codes, qualifiers and ``negationInd``) restate them for machines. Any other text is
    returned as it is."""
    if not _CDA_SECTION.search(text):
        return text
    blocks = [_XML_BREAK.sub("\n", block) for block in _CDA_TEXT.findall(text)]
    narrative = "\n".join(_XML_TAG.sub(" ", block) for block in blocks)
    for entity, char in _XML_ENTITIES.items():
        narrative = narrative.replace(entity, char)
    return "\n".join(line.strip() for line in narrative.split("\n") if line.strip())


def _sr_as_sentences(text: str) -> str:
    """A DICOM Structured Report's content tree, as a dump prints it (dcmtk's dsrdump, a numbered tree or a table of
    levels), as one sentence per finding: "Airspace opacification in the Right Lower zone." from the finding's item
    and its concept modifiers (laterality, topographical modifier, a finding site other than the lungs), "No ..."
    where its Presence item says absent. A finding's modifiers are the items under it and name no place apart from
    it: read as lines, "Laterality = Right" and "Topographical modifier = Lower zone" are two statements. Text items (a
    free-text finding, the impression) stay statements of their own; the other items are left out. Any other text
    is returned as it is."""
    items = list(_sr_items(text))
    if sum(concept == "finding" for _, concept, _ in items) < 1 or len(items) < 3:
        return text
    sentences, finding = [], None
    for kind, concept, value in items:
        if concept in ("finding", "impression") and kind == "TEXT":
            sentences.append(value.rstrip(".") + ".")
        elif concept == "finding":
            finding = {"finding": value, "laterality": [], "topographical modifier": [], "finding site": [],
                       "presence": []}
            sentences.append(finding)
        elif finding is not None and concept in finding:
            finding[concept].append(value)
    return "\n".join(s if isinstance(s, str) else _sr_sentence(s) for s in sentences)


def _sr_sentence(item: dict) -> str:
    """'Consolidation of lung in the Left Upper zone and Mid zone.', 'No pleural effusion.' from a finding's items."""
    sites = [site for site in item["finding site"] if site.lower() != "lung structure"]  # the lungs: no place
    where = " ".join(item["laterality"] + [" and ".join(item["topographical modifier"])] + sites).strip()
    absent = any(p.lower() == "absent" for p in item["presence"])
    return f"{'No ' if absent else ''}{item['finding']}{' in the ' + where if where else ''}."


def _sr_items(text: str):
    """(value type, concept name in lower case, value without its code) of each item of a content-tree dump."""
    for m in _SR_DSRDUMP.finditer(text):
        yield m.group("type").upper(), m.group("concept").strip().lower(), _sr_value(m.group("value"))
    starts = list(_SR_ITEM_START.finditer(text))
    for m, nxt in zip(starts, starts[1:] + [None]):
        value = text[m.end():nxt.start() if nxt else len(text)].split("\n", 1)[0]
        kind, concept = m.group("type") or m.group("type3"), m.group("concept") or m.group("concept3")
        yield kind.upper(), concept.strip().lower(), _sr_value(value)


def _sr_value(value: str) -> str:
    """An item's value without its code: '(24028007,SCT,"Right")' -> Right, 'Right [SCT 24028007]' -> Right."""
    quoted = re.findall(r'"([^"]*)"', value)
    if quoted:
        return quoted[-1]
    return re.sub(r"\s*[\[(][^\])]*[\])]\s*$", "", value.strip()).strip()


def _without_page_breaks(text: str) -> str:
    return _PAGE_BREAK.sub(" ", text)


def _scores_as_words(text: str) -> str:
    """Zone scores and shares as statements: "R upper 0 / L lower 2" -> "R upper clear; / L lower opacity;",
    "Left lung: 0%" -> "Left lung clear;"; "10% of both lungs" -> "10% of the lungs"."""
    text = _SCORED.sub(lambda m: f"{m.group('place')} {'clear' if m.group('score') == '0' else 'opacity'};", text)
    text = _ZERO_PERCENT.sub(lambda m: f"{m.group('place')} clear;", text)
    return _SHARE_OF_BOTH.sub(r"\1the lungs", text)


def _records_as_sentences(text: str) -> str:
    """The records of a structured export as sentences, one per record at its first line: its places, then
    "clear." where its status is normal ("N", "negative", "absent") and its finding otherwise."""
    lines, records = text.split("\n"), {}
    for i, line in enumerate(lines):
        m = _RECORD_LINE.match(line)
        if m:
            records.setdefault(re.sub(r"\s", "", m.group("record")), []).append((i, m.group("field"), m.group("value")))
    if not records:
        return text
    for fields in records.values():
        places = [v for _, f, v in fields if _PLACE_FIELD.search(f)]
        status = [v for _, f, v in fields if _STATUS_FIELD.search(f)]
        what = [v for _, f, v in fields if not _PLACE_FIELD.search(f) and not _STATUS_FIELD.search(f)]
        place = " ".join(re.sub(r"[,;]", " ", v) for v in places)
        normal = any(_NORMAL_VALUE.match(v) for v in status)
        sentence = f"{place} clear." if normal else f"{' '.join(what)} {place}."
        for i, _, _ in fields:
            lines[i] = ""
        lines[fields[0][0]] = sentence if place else ""
    return "\n".join(lines)


def _landmarks_as_zones(text: str) -> str:
    """Places stated by landmarks, as the zones they are: a side's obscured heart border -> its middle zone, an
    effaced hemidiaphragm -> its lower zone (per sentence, where a word of obscuring stands, not negated), a level
    by anterior ribs -> the zones of those ribs."""
    text = _RIB_LEVEL.sub(_rib_zones, text)
    out = []
    for sentence in re.split(r"(?<=[.;\n])", text):
        cue = _OBSCURING.search(sentence)
        if cue and not _NOT_BEFORE.search(sentence[:cue.start()]):
            sentence = _LANDMARK.sub(lambda m: f"{m.group('side')} {_LANDMARK_ZONE[m.group('mark').lower()]} zone", sentence)
        out.append(sentence)
    return "".join(out)


_LANDMARK_ZONE = {"heart border": "middle", "cardiac border": "middle", "cardiac margin": "middle",
                  "hemidiaphragm": "lower", "hemi-diaphragm": "lower", "diaphragm": "lower"}


_ZONE_IN_BRACKETS = re.compile(r"\s*\([^)]*\b(?:upper|mid|middle|lower|apex|apical|base|basal)\b[^)]*\)",
                               re.IGNORECASE)


def _rib_zone(rib: int) -> str:
    return "upper" if rib <= 2 else "middle" if rib <= 4 else "lower"


def _rib_zones(m: re.Match) -> str:
    if _ZONE_IN_BRACKETS.match(m.string, m.end()):  # "(left upper zone)": the report's own zone
        return m.group("side") or ""
    ribs = sorted({int(m.group("a")), int(m.group("b") or m.group("a"))})
    if m.group("space"):  # the n-th intercostal space lies below the n-th rib
        ribs = [r + 1 for r in ribs]
    rel = (m.group("rel") or "").lower()
    if rel.startswith("above"):
        ribs = [max(1, ribs[0] - 1)]
    elif rel:
        ribs = [ribs[-1] + 1]
    zones = [z for z in ZONES if any(_rib_zone(r) == z for r in range(ribs[0], ribs[-1] + 1))]
    return f"{m.group('side') or ''}{' and '.join(zones)} zone{'s' if len(zones) > 1 else ''}"
