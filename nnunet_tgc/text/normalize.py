"""Conservative clean-up of clinical report text.

The reports are the model's second input, so the converters must not change what they say: only layout artefacts are
repaired (runs of spaces and tabs, blank lines, a doubled final period such as MosMedData+'s "lung..", the underscores
that mark words underlined in a transcribed note: "_R lower zone_", Markdown's marks of bold text and headings:
"**Indication:**", "## Findings"), and a text's marked edits are accepted as its editor meant them: what is struck
through or deleted ("~~rt lwoer~~", "[-R IJ-]") left out, what is inserted ("{+right lower+}") kept. A line break that
ends a statement stays one: in a structured report it ends a heading's line or a table row ("Normal: ..." on one line,
the findings on the next), which the reader of places (``places.py``) needs. It ends a statement after ``. : ; ! ?`` or
before a line that opens as a list item, a note's symbol, a heading or a field of a structured export ("- ", "2) ",
"(b) ", "Ø ", "↑ ", "◦ ", "o " before a capital, "[08:10] ", "B - ", "CXR (PA) - ", "Right lung: ", "CXR 22.01.22: ",
"No. of lesions: ", "observation[2].bodySite = ", a YAML key "laterality: ", a note's "R UZ+MZ"), after the line of a
request or an earlier film ("Clinical details: fever, cough", or the line under "Indication:" alone), after a line in
brackets ("(Total 2 lesions)"), after a table row or before one (" | ", or three or more tabs, pipes or semicolons, or
quoted comma-separated fields: a delimited export's header and rows; its tabs become " | ", the visible column
separator, so that its columns survive the collapsed whitespace; or a form's row of two or more tick boxes or marks,
"Lower zone [X] [ ]", "Lower zone  -  X"; or a log's line of three or more key=value pairs), after a line that opens
with the period that right-to-left text moved there (".Heart size is normal"), where the script changes (a bilingual
report's translation on its own line), and in a note with no stop but question marks, where a line neither ends wanting
more nor is continued by the next ("PA CXR\nCONSOLIDATION IN RLZ\nLEFT LUNG LOOKS OK"); any other line break wraps a
sentence and becomes a space ("opacity in the left\nlower zone"), and a word hyphenated at the line's end is whole again
("BAS-\nES", a compound keeping its hyphen: "left-\nsided"). The text towers' tokenizers read either as a space.
Spelling, grammar ("one infected areas") and wording stay as written; the original text is always kept next to the
normalised one (``reports_original.json``).
"""
import re
import unicodedata

# a run of whitespace within a line (spaces, tabs, non-breaking spaces), and one holding a line break
_SPACE = re.compile(r"[^\S\r\n]+")
_LINE_BREAK = re.compile(r"\s*[\r\n]\s*")
_BULLET_ITEM = re.compile(r"^([ \t]*)(?:[-\u2022*]|\d+[.)])[ \t]+\S")
_STATEMENT_END = re.compile(r"[.:;!?]$|^\([^()]*\)$")  # ... or a line in brackets: "(Total 2 lesions)"
_LINE_OPENING = re.compile(r"^(?:[-\u2022*\u00d8\u2205\u2191\u2193\u0394\u25e6\u25aa\u2023\u25cf\u25a0\u2192>]"
                           r"|o\s(?=[A-Z])|\?\s"
                           # ... or a form's question ("Is the left lung affected? No", "Which zones?")
                           r"|(?:Is|Are|Was|Were|Does|Do|Did|Has|Have|Any|Which|Where|What|How|Can|Could|Should|Will)"
                           r"\b[^\n?]{0,80}\?"
                           r"|\.(?=[^\W\d_])|\[\d|\d+[.)]|\(\w{1,3}\)\s"
                           r"|[A-Za-z][.)]\s"
                           r"|[A-Z][\w /&().]{0,24}\s[-\u2013\u2014]\s|[A-Z][\w /&(),.-]{0,40}:"
                           r"|[A-Z][a-z]{0,3}\.\s[\w /&(),-]{0,36}:"
                           r"|[A-Za-z_][\w.\[\]]{0,60}\s*=\s"  # ... or a field of a structured export: "site = ..."
                           r"|[a-z_][\w.-]{0,60}:(?:\s|$))")  # ... or a YAML export's key: "laterality: right"
# the heading of the film's context, not its findings: the request, what the referrer asks or tells ("Clinical
# details:", "Indication:", "History:"), or an earlier film ("Admission CXR 17/05/2020:", "PRIOR 02/04/2020:", "Previous
# examination (2020-11-22) - findings at that time:"); the line it opens, or the line under it when it stands alone,
# is the context's, not wrapped into the report's findings
CONTEXT_HEADING = re.compile(r"^\s*(?:(?:admission|previous|prior|earlier|old|baseline|preceding|initial|last)\s+"
                             r"(?:chest\s+)?(?:film|study|cxr|x-?ray|radiograph|exam(?:ination)?|imaging)\b[^:\n]{0,30}"
                             r"|(?:previous|prior|earlier|baseline)\b[^:\n\d]{0,30}\d[^:\n]{0,40}"
                             r"|clinical\s+(?:details?|history|hx|information|info|indications?|notes?|questions?|"
                             r"query|background|summary)|history|hx|indications?|c/?i|presenting\s+complaint|query|"
                             r"questions?(?:\s+asked)?|requests?(?:\s+details)?|"
                             r"referral(?:\s+(?:reason|question|details))?|reasons?\s+for\s+(?:the\s+)?"
                             r"(?:exam(?:ination)?|study|request|referral|imaging|x-?ray|film|radiograph))\s*:",
                             re.IGNORECASE)
# a text's marked edits: struck through in Markdown ("~~rt upper~~") or deleted in a word diff ("[-R IJ-]"), and
# inserted ("{+The right internal jugular+}")
_DELETED = re.compile(r"~~[^~\n]+~~|\[-[^\n]+?-\]")
_INSERTED = re.compile(r"\{\+([^\n]*?)\+\}")
# Markdown's marks of bold text and of a heading ("**Indication:** ...", "## Findings")
_MARKDOWN_BOLD = re.compile(r"\*\*(?=\S)([^*\n]*?\S)\*\*")
_MARKDOWN_HEADING = re.compile(r"(?m)^[ \t]*#{1,6}[ \t]+")
# a word hyphenated at a line's end ("PER-\nIPHERALLY"; not a list's dash: "opacity -\n- heart normal"); the hyphen
# stays where what precedes it is a word that heads compounds ("left-\nsided", "ground-\nglass")
_HYPHENATED = re.compile(r"\b([^\W\d_]+)-[^\S\n]*\n[^\S\n]*([^\W\d_]+)")
_COMPOUND_HEADS = frozenset({"left", "right", "both", "two", "one", "ground", "well", "ill", "mid", "non", "post",
                             "pre", "x", "follow", "air", "long", "short", "high", "low", "thick", "thin", "half",
                             "self", "co", "re", "sub", "semi", "multi", "bi", "uni", "inter", "intra", "extra",
                             "peri", "para", "retro", "infra", "supra", "cardio", "broncho", "vaso", "end", "first",
                             "second", "third", "upper", "lower", "middle", "partly", "poorly", "newly", "pleuro",
                             "costo", "anterior", "posterior", "lateral", "medial", "central", "wedge", "tree",
                             "crazy", "e"})
_SUFFIXES = frozenset({"ers", "est", "ing", "ion", "ity", "ally", "ment", "ness", "ous", "ive", "eral", "ular"})
# a row of a delimited table: three or more tabs, pipes or semicolons, or quoted comma-separated fields
_TABLE_ROW = re.compile(r'(?:[^\t\n]*\t){3}|(?:[^|\n]*\|){3}|(?:[^;\n]*;){3}|(?:\s*"[^"\n]*"\s*,){3}')
# words underlined in a transcribed note: "_R lower zone_" ("zone_R_upper", a key in snake case, stays)
_UNDERLINED = re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])")
# a line with two or more tabs: a tab-separated export's row, whose tabs become " | "
_TABBED_LINE = re.compile(r"(?m)^[^\n\t]*\t[^\n\t]*\t[^\n]*$")
# a line with one tab after a short label: a form's field ("Report\tPatchy airspace shadowing ..."), as "Report: ..."
_TAB_FIELD = re.compile(r"(?m)^([ \t]*[A-Z][^\t\n:.]{0,39}?)[ \t]*\t[ \t]*(?=[^\s\t][^\n\t]*$)")
# a period at a line's start that ends the line's statement, where right-to-left text moved it (".Heart size is normal")
_MOVED_PERIOD = re.compile(r"\.[^\W\d_]")
# a note's line that opens with a side and a zone in shorthand ("x3 foci\nR UZ+MZ, lingula clear"), unless the line
# before it ends in a word that wants what follows ("opacity in the\nR LZ")
_NOTE_PLACE = re.compile(r"(?:R|L|Rt|Lt|b/l)\s+[ULM]Z\b")
_OPEN_END = re.compile(r"\b(?:in|at|on|of|the|and|or|with|to|from|both|no|not)\s*$", re.IGNORECASE)
# a stop that ends a statement (not the point of "38.4" or of "?consolidation")
# (not a question mark: a note whose only stops are questions is talk, "u around? cxr bed 8", "anything on the
# right?", or queries, "?aspiration")
_SENTENCE_MARK = re.compile(r"[.;!](?=\s|$)")
# a side or a zone's word ends the line: the place goes on in the next ("opacity in the right\nlower zone")
_PLACE_WORD_END = re.compile(r"\b(?:left|right|both|upper|mid|middle|lower|lt|rt)\s*$", re.IGNORECASE)
# a line that goes on with the words of the one before it
_GOES_ON = re.compile(r"(?:and|or|with|in|at|of|to|but|extending|involving|including)\b", re.IGNORECASE)
# a row of a form's grid of tick boxes ("Lower zone   [X]   [ ]"): two or more boxes on one line
_BOX_ROW = re.compile(r"[^\n]*?(?:\[[\sxX\u2713\u2714]?\]|[\u2610\u2611\u2612])[^\n]*?"
                      r"(?:\[[\sxX\u2713\u2714]?\]|[\u2610\u2611\u2612])")
# ... or of bare marks, ticked or not ("Lower zone      -      X")
_MARK_ROW = re.compile(r"[^\n]*?[^\W\d_][^\n]*?(?:[^\S\n]+[xX+\u2713\u2714\-\u2013\u2014]){2,}[^\S\n]*(?=\n|$)")
# an XML tag ("<Report", "</Lung", "<?xml"); a log's record: a line of three or more key=value pairs ("ts=...
# level=info finding=consolidation location=RLZ"), not an XML element's attributes
XML_TAG = r"<[/A-Za-z?!]"
_RECORD_LINE = re.compile(rf'(?![^\n]*{XML_TAG})(?:[^\n]*?(?<!\S)[A-Za-z_][\w.-]*=(?:"[^"\n]*"|[^\s"]*)){{3}}')
# exactly two periods; three or more are an ellipsis and are left alone
_DOUBLE_PERIOD = re.compile(r"(?<!\.)\.\.(?!\.)")


def normalize_report(text: str) -> str:
    """Return ``text`` with whitespace collapsed (a run holding a line break to one line break, any other run to
    one space) and doubled periods made single.

    Unicode is put in NFC form so that visually identical reports compare (and cache) equal.
    """
    if not isinstance(text, str):
        raise TypeError(f"a report must be a string, got {type(text).__name__}: {text!r}")
    text = unicodedata.normalize("NFC", text)
    text = text.strip()
    text = _INSERTED.sub(r"\1", _DELETED.sub("", text))  # a grammar checker's edits, accepted
    text = _MARKDOWN_HEADING.sub("", _MARKDOWN_BOLD.sub(r"\1", text))
    text = _TABBED_LINE.sub(lambda m: m.group(0).replace("\t", " | "), _UNDERLINED.sub(r"\1", text))
    text = _TAB_FIELD.sub(r"\1: ", text)
    text = _HYPHENATED.sub(_unhyphenated, text)
    unpunctuated = _unpunctuated(text)  # once per report, not once per line break
    text = _SPACE.sub(" ", _LINE_BREAK.sub(lambda m: _line_break(text, m, unpunctuated), text))
    return _DOUBLE_PERIOD.sub(".", text)


def _unhyphenated(m: re.Match) -> str:
    """A word hyphenated at a line's end, whole again: "BAS-\nES" -> "BASES", "left-\nsided" -> "left-sided"."""
    head, tail = m.group(1), m.group(2)
    compound = head.lower() in _COMPOUND_HEADS and len(tail) > 2 and tail.lower() not in _SUFFIXES  # not "LOW-\nER"
    return head + ("-" if compound else "") + tail


def _line_break(text: str, m: re.Match, unpunctuated: bool) -> str:
    """One line break where a statement ends (also before a line that opens an earlier film's or the request's context),
    a space where a sentence is only wrapped."""
    line = text[_line_start(text, m.start()):m.start()]
    ends = (bool(_STATEMENT_END.search(line) or _ANSWERED_LINE.match(line)) or _context_line(text, m.start(), line)
            or _paragraph_end(line, text, m) or bool(_ANSWERED_LINE.match(_line_at(text, m.end())))
            or bool(_LINE_OPENING.match(text[m.end():]) or CONTEXT_HEADING.match(text[m.end():])) or " | " in line
            or bool(_TABLE_ROW.match(line)) or bool(_TABLE_ROW.match(text, m.end()))
            or _rows_alike(line, text, m.end())
            or bool(_MOVED_PERIOD.match(line)) or _after_bullet_item(line, text, m)
            or bool(_BOX_ROW.match(line) or _BOX_ROW.match(text, m.end()))
            or bool(_MARK_ROW.match(line) or _MARK_ROW.match(text, m.end()))
            or bool(_RECORD_LINE.match(line) or _RECORD_LINE.match(text, m.end()))
            or bool(_NOTE_PLACE.match(text, m.end())) and not _OPEN_END.search(line)
            or unpunctuated and _line_of_its_own(line, text, m)
            or _latin(_last_letter(text, m.start())) != _latin(_first_letter(text, m.end())))
    return "\n" if ends else " "


def _paragraph_end(line: str, text: str, m: re.Match) -> bool:
    """Whether a blank line after ``line`` ends it: a form's label above its answer ("Clinical indication\n
    Raised CRP\n\nReport\nAirspace shadowing ..."), not a double-spaced page whose sentence goes on ("in the\n\n
    right lower zone", "opacity\n\nin the right lower zone")."""
    blank = len(re.findall(r"\r\n|\r|\n", m.group(0))) >= 2
    wants_more = _OPEN_END.search(line) or _PLACE_WORD_END.search(line) and not _PLACES_ONLY.fullmatch(line)
    return blank and not (wants_more or text[m.end():m.end() + 1].islower())


# a question answered on its line ("Right lung affected?     YES", "Fluid around the lungs? NO")
_ANSWERED_LINE = re.compile(r"[^\n?]*[^\s?][ \t]*\?[ \t]+(?:yes|no|y|n|none|nil|not?\s+\w+)\b[^?\n]{0,60}$",
                            re.IGNORECASE)
# a line of places alone, a form's answer ("Upper, Lower", "Right and Left"): complete, though it ends in a place word
_PLACES_ONLY = re.compile(r"[\s,&/+]*(?:(?:left|right|both|upper|mid|middle|lower|lt|rt|and)\b[\s,&/+]*)+",
                          re.IGNORECASE)


def _line_of_its_own(line: str, text: str, m: re.Match) -> bool:
    """Whether ``line`` of an unpunctuated note is a statement of its own: it does not end wanting more ("in the",
    "right", "upper"), the next line does not go on with a joining word ("and in the left mid zone"), and it is no
    bullet item whose text the next line continues under it."""
    wrapped_item = bool(_BULLET_ITEM.match(line)) and not _after_bullet_item(line, text, m)
    return not (_OPEN_END.search(line) or _PLACE_WORD_END.search(line) or _GOES_ON.match(text, m.end())
                or wrapped_item)


def _unpunctuated(text: str) -> bool:
    """Whether no statement of ``text`` ends in a stop (a question mark is none): a note written line by line ("PA
    CXR\nCONSOLIDATION IN RLZ\nLEFT LUNG LOOKS OK", a phone's message, a chat thread), whose line breaks are the only
    ends its statements have."""
    return not _SENTENCE_MARK.search(text)


def _after_bullet_item(line: str, text: str, m: re.Match) -> bool:
    """Whether ``line`` is a bullet item and the next line (after the line break ``m``) starts at its bullet's column
    or left of it, not under its text: a statement of its own ("  - opacity at the left base\n  right lung clear"),
    not the item wrapped."""
    item = _BULLET_ITEM.match(line)
    indent = m.end() - max(text.rfind("\n", m.start(), m.end()), text.rfind("\r", m.start(), m.end())) - 1
    return bool(item) and indent <= len(item.group(1)) and text[m.end():m.end() + 1].isalpha()


def _line_at(text: str, start: int) -> str:
    end = text.find("\n", start)
    return text[start:end if end >= 0 else len(text)]


def _line_start(text: str, end: int) -> int:
    return max(text.rfind("\n", 0, end), text.rfind("\r", 0, end)) + 1


def _context_line(text: str, end: int, line: str) -> bool:
    """Whether ``line`` (ending at ``end``) is the context's: it opens with a context heading, or the line above it is
    that heading alone ("Clinical details:\n?R basal pneumonia\nLeft lower zone opacity")."""
    if CONTEXT_HEADING.match(line):
        return True
    start = _line_start(text, end)
    above = text[_line_start(text, max(start - 1, 0)):max(start - 1, 0)] if start else ""
    heading = CONTEXT_HEADING.match(above)
    return bool(heading) and not above[heading.end():].strip()


def _rows_alike(line: str, text: str, start: int) -> bool:
    """Whether ``line`` and the line of ``text`` from ``start`` are rows of one comma-separated table without quotes:
    as many commas outside quotes (and maybe empty cells after the last column, "KM,,"), three or more (a header and
    its record), no tag and no comma in brackets (a structured report's coded items, "(24028007,SCT,"Right")", are
    no table; a header's "Consolidation (Y/N)" is)."""
    commas = _COMMA_OUTSIDE_QUOTES.sub("", line).count(",")
    if commas < 3:
        return False
    end = text.find("\n", start)
    following = text[start:end if end >= 0 else len(text)]
    return (not ("<" in line + following or _COMMA_IN_BRACKETS.search(line + following))
            and _COMMA_OUTSIDE_QUOTES.sub("", following.rstrip(", \t")).count(",") == commas)


_COMMA_OUTSIDE_QUOTES = re.compile(r'"[^"\n]*"')
_COMMA_IN_BRACKETS = re.compile(r"\([^()\n]*,")


# a line in another script ends a statement: a bilingual report's translation on its own line ("... of the right
# lung\n(بالعربي) عتامات ...\nThe right upper and mid zones ... are clear.")
def _last_letter(text: str, end: int) -> str:
    return next((c for c in reversed(text[max(0, end - 200):end]) if c.isalpha()), "")


def _first_letter(text: str, start: int) -> str:
    return next((c for c in text[start:start + 200] if c.isalpha()), "")


def _latin(letter: str) -> bool:
    """Whether a letter is of the Latin script ("" where a line has none: it then joins either side)."""
    return not letter or "LATIN" in unicodedata.name(letter, "")


def normalize_reports(reports: dict) -> dict:
    """Apply :func:`normalize_report` to every value of a ``{case_id: text}`` mapping."""
    return {case_id: normalize_report(text) for case_id, text in reports.items()}
