"""Reports that come as data, restated as the statements the reader of places reads.

A report pasted from a system's export states its places in fields, not sentences: an extraction tool's JSON, a FHIR
R4 resource or bundle, a RIS's XML export, a structured-reporting tool's YAML, the rows of SQL INSERT statements from a
reporting database, or the logfmt lines of a reporting pipeline's log ("finding=consolidation laterality=right
zones=lower negated=false").
:func:`records_as_text` restates such a text as one statement per line: a finding's record as "opacity in the right
lower.", a record stated absent as nothing (absent is no place of the lesion, and what is absent may be no lung finding
at all: an effusion), the report's own words as they are ("Impression: ...", "Indication: ..."), and the rest
(identifiers, times, log levels) left out. Any other text is returned as it is. Like :mod:`.restatement`'s, the result
is read for places only.
"""
from __future__ import annotations

import json
import re
from xml.etree import ElementTree

from .normalize import XML_TAG


def records_as_text(text: str) -> str:
    """``text`` restated where it is a JSON or XML document, SQL INSERT statements, logfmt lines or a YAML export;
    else as it is."""
    return _yaml_as_text(_logfmt_as_text(_sql_as_text(_xml_as_text(_json_as_text(text)))))


def _stated_absent(record: dict) -> bool:
    """Whether a record says its finding is not there: "present": false (or 0, "no"), "negated": true."""
    present = [_truth(record.get(key)) for key in _PRESENT_KEYS]
    negated = [_truth(record.get(key)) for key in _NEGATED_KEYS]
    return False in present or True in negated


def _truth(value):
    """True, False, or None for a value that is neither: a record's flag as JSON, SQL or a log writes it."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return {1: True, 0: False}.get(value)
    if isinstance(value, str):
        return _YES_NO.get(value.strip().lower())
    return None


def _words(value: str) -> str:
    """A field's value as words: "left_lower_zone" -> "left lower zone"."""
    return value.replace("_", " ").strip()


def _json_as_text(text: str) -> str:
    """A JSON document (an extraction tool's output, a FHIR resource) as statements: a true or false under keys that
    name places ("zone_involvement": {"right_upper": true}, "lungs": {"left": {"lower": {"involved": false}}}) as
    "right upper: opacity." or "left lower: clear."; the report's own words it quotes (keys that name evidence,
    quotes, text or an impression) as they are; a finding's locations ("locations": ["right mid zone"]) as "opacity in
    right mid zone."; a finding with a side ("laterality": "right", "zones": ["lower"]) as "opacity in the right
    lower."; a finding stated absent ("present": false, "negated": true) and everything else left out. Any other text
    is returned as it is."""
    document = json_document(text)
    return text if document is None else "\n".join(_json_statements(document, ()))


def json_document(text: str):
    """The object or list ``text`` holds as a JSON document, else None."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _json_statements(value, path: tuple):
    if isinstance(value, dict):
        if _stated_absent(value):
            return
        if isinstance(value.get("resourceType"), str):
            yield from _fhir_statements(value)
            return
        control = value.get("from_name")
        if isinstance(control, str) and _LOCATION_KEY.search(control.lower()):
            # a Label Studio result whose control lists places: {"from_name": "zones", "value": {"choices": [...]}}
            yield from (f"opacity in {place}." for place in _json_strings(value.get("value")))
            return
        side = next((value[key] for key in _SIDE_KEYS if isinstance(value.get(key), str)), None)
        if side:  # a finding's record: its zones are the side's
            zones = [zone for key, item in value.items() if _LOCATION_KEY.search(key.lower())
                     for zone in _json_strings(item)] or ["lung"]
            yield from (f"opacity in the {_words(side)} {_words(zone)}." for zone in zones)
        for key, item in value.items():
            if not (side and (key in _SIDE_KEYS or _LOCATION_KEY.search(key.lower()))):
                yield from _json_statements(item, path + (str(key),))
    elif isinstance(value, list):
        for item in value:
            yield from _json_statements(item, path)
    elif isinstance(value, bool):
        places = [w for key in path for w in re.split(r"[_\W]+", key.lower()) if w in _JSON_PLACE_WORDS]
        if places:
            yield f"{' '.join(places)}: {'opacity' if value else 'clear'}."
    elif isinstance(value, str) and path:
        key = path[-1].lower()
        if _LOCATION_KEY.search(key):
            yield f"opacity in {_words(value)}."
        elif _JSON_QUOTE_KEY.search(key):
            yield value


def _fhir_statements(resource: dict):
    """A FHIR resource as statements: a Bundle's resources each; a DiagnosticReport's conclusion, the radiologist's
    own words; an Observation or a Condition as its code, body site and value ("Consolidation, Right lung - mid zone:
    Present."), and each of its components the same way ("Left upper zone involved: absent."). A value true or false
    is present or absent, a Condition refuted is absent; an entry in error states nothing."""
    if resource.get("status") == "entered-in-error":
        return
    if resource["resourceType"] == "Bundle":
        for entry in _json_list(resource.get("entry")):
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                yield from _json_statements(entry["resource"], ())
        return
    for contained in _json_list(resource.get("contained")):
        if isinstance(contained, dict):
            yield from _json_statements(contained, ())
    if resource["resourceType"] == "DiagnosticReport":
        if isinstance(resource.get("conclusion"), str):
            yield resource["conclusion"]
        return
    what = ", ".join(filter(None, (_fhir_concept(resource.get("code")), _fhir_concept(resource.get("bodySite")))))
    value = _fhir_value(resource)
    if what and (value or not any(key.startswith(("value", "component", "dataAbsent")) for key in resource)):
        yield f"{what}: {value}." if value else f"{what}."
    for component in _json_list(resource.get("component")):
        if isinstance(component, dict) and _fhir_concept(component.get("code")) and _fhir_value(component):
            yield f"{_fhir_concept(component['code'])}: {_fhir_value(component)}."


def _fhir_concept(concept) -> str:
    """A FHIR CodeableConcept's words: its text, else its first coding's display (a list of them, the first's)."""
    if isinstance(concept, list):
        concept = concept[0] if concept else None
    if not isinstance(concept, dict):
        return ""
    if isinstance(concept.get("text"), str):
        return concept["text"]
    displays = [c["display"] for c in _json_list(concept.get("coding")) if isinstance(c, dict)
                and isinstance(c.get("display"), str)]
    return displays[0] if displays else ""


def _fhir_value(element: dict) -> str:
    """A FHIR element's value[x] in words ("valueBoolean": false -> "absent", a CodeableConcept's text, a string);
    a Condition's verification status refuted as "absent"."""
    status = element.get("verificationStatus")
    if isinstance(status, dict) and "refuted" in (_fhir_concept(status).lower(), *(
            c.get("code") for c in _json_list(status.get("coding")) if isinstance(c, dict))):
        return "absent"
    for key, value in element.items():
        if key.startswith("value"):
            if isinstance(value, bool):
                return "present" if value else "absent"
            if isinstance(value, str):
                return value
            return _fhir_concept(value)
    return ""


def _json_list(value) -> list:
    return value if isinstance(value, list) else []


def _json_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, dict)):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _json_strings(item)


# the words of a JSON key that name a place, the keys whose strings are locations and those that quote the report
_JSON_PLACE_WORDS = frozenset({"right", "left", "upper", "middle", "mid", "lower", "apex", "base", "lingula", "rul",
                               "rml", "rll", "lul", "lll", "ruz", "rmz", "rlz", "luz", "lmz", "llz"})
_LOCATION_KEY = re.compile(r"^(?:locations?|sites?|regions?|zones?|body_?sites?)$")
_JSON_QUOTE_KEY = re.compile(r"evidence|quote|^text$|impression|summary|^findings?_text$|^report")


def _xml_as_text(text: str) -> str:
    """An XML export (a RIS's report with its coded findings) as statements: each element's own words under its tag's
    ("Report Text: ...", "Clinical History: ..."), and an element with a side attribute as a finding's record, read
    as a JSON object is, its zones named by the elements inside it ('<Lung side="Right" abnormal="true"><Zone
    name="Lower">'). An HL7 CDA document is left as it is: :mod:`.restatement` reads its narrative blocks."""
    if not text.lstrip().startswith("<"):
        return text
    try:
        root = ElementTree.fromstring(text.strip())
    except (ElementTree.ParseError, ValueError):
        return text
    if root.tag.endswith("ClinicalDocument"):
        return text
    return "\n".join(_xml_statements(root))


def _xml_statements(element):
    record = {_words(key).lower(): value for key, value in element.attrib.items()}
    if any(key in record for key in _SIDE_KEYS):
        zones = [child.get("name") or (child.text or "").strip() for child in element]
        yield from _json_statements({**record, "zones": zones} if zones else record, ())
        return
    said = (element.text or "").strip()
    if said:
        yield f"{_CAMEL_HUMP.sub(' ', element.tag.rpartition('}')[2])}: {said}"
    for child in element:
        yield from _xml_statements(child)


def _sql_as_text(text: str) -> str:
    """SQL INSERT statements ("INSERT INTO rad_finding (finding, laterality, zone, present) VALUES ('consolidation',
    'R', 'LOWER', 1), ...;") as their rows' statements: each row a record of its columns, read as a JSON object is,
    and a column holding the report's own words as "Findings: ...". The text around the statements stays."""
    if not _SQL_INSERT.search(text):
        return text
    out, at = [], 0
    for insert in _SQL_INSERT.finditer(text):
        if insert.start() < at:
            continue  # inside a string of the statement before
        out.append(text[at:insert.start()].strip())
        columns = [c.strip().strip('"`[]') for c in insert.group("columns").split(",")]
        rows, at = _sql_rows(text, insert.end())
        for row in rows:
            record = dict(zip(columns, row))
            out += [f"{_words(key).capitalize()}: {value}" for key, value in record.items()
                    if isinstance(value, str) and _REPORT_PART.fullmatch(key.lower())]
            out += _json_statements({k: v for k, v in record.items() if not _REPORT_PART.fullmatch(k.lower())}, ())
    out.append(text[at:].strip())
    return "\n".join(line for line in out if line)


def _sql_rows(text: str, at: int) -> tuple[list, int]:
    """The value tuples of one INSERT statement from ``at`` (after VALUES) to its semicolon, and where it ends."""
    rows, row = [], None
    for token in _SQL_TOKEN.finditer(text, at):
        string, keyword, number, mark = token.groups()
        if mark == ";" or not any(token.groups()):
            return rows, token.end()
        if mark == "(":
            row = []
        elif mark == ")" and row is not None:
            rows.append(row)
            row = None
        elif row is not None and mark != ",":
            row.append(_sql_value(string, keyword, number))
        at = token.end()
    return rows, at


def _sql_value(string, keyword, number):
    if string is not None:
        escaped = string.startswith(("E", "e"))
        value = string[2 if escaped else 1:-1].replace("''", "'")
        return value.replace("\\n", "\n").replace("\\'", "'") if escaped else value
    if keyword is not None:
        return {"null": None, "true": True, "false": False}[keyword.lower()]
    return int(number) if number.lstrip("-").isdigit() else float(number)


def _logfmt_as_text(text: str) -> str:
    """A log's logfmt lines ("level=info event=finding.extracted finding=consolidation location=RLZ negated=false") as
    their records' statements, and a line that carries a section of the report (section=impression text="...") as
    "impression: ...". A line of three or more key=value pairs is a record; other lines stay."""
    lines = text.split("\n")
    if _XML_TAG.search(text) or sum(len(_LOGFMT_PAIR.findall(line)) >= 3 for line in lines) < 2:
        return text  # an XML element's attributes are no log's pairs
    out = []
    for line in lines:
        pairs = _LOGFMT_PAIR.findall(line)
        if len(pairs) < 3:
            out.append(line)
            continue
        record = {key: value[1:-1].replace('\\"', '"') if value.startswith('"') else value for key, value in pairs}
        section, said = record.pop("section", None), record.pop("text", None)
        if said:
            out.append(f"{section}: {said}" if section else said)
        out += [s for s in _json_statements(record, ()) if s]
    return "\n".join(out)


def _yaml_as_text(text: str) -> str:
    """A YAML export, as normalisation leaves it (one "key: value" per line, its indentation gone), with its findings'
    records restated: a list item ("- type: consolidation", then "laterality: right", "zones: [lower]") or a side's
    block ("right:", then "opacity: true", "zones: [mid]"), read as a JSON object is. A record runs over the lines whose
    keys a finding's record has; any other line, and a record's end, stay as they are, its keys as words
    ("clinical_indication:" as "clinical indication:"), and its comments go."""
    lines = text.split("\n")
    if sum(bool(_YAML_FIELD.match(line)) for line in lines) < 5:
        return text
    out, record, held, key = [], None, [], None
    for line in (_YAML_COMMENT.sub("", line) for line in lines):  # a comment is YAML's legend, no finding
        field, listed = _YAML_FIELD.match(line), _YAML_LIST_ITEM.match(line)
        if listed and record is not None and isinstance(record.get(key), list):  # "zones:", then "- lower"
            record[key].append(_yaml_value(listed.group("value")))
            held.append(line)
            continue
        key = field and field.group("key").lower()
        if field and record is not None and _RECORD_KEY.fullmatch(key) and not field.group("item"):
            record[key] = _yaml_value(field.group("value")) if field.group("value") else []
            held.append(line)
            continue
        out += _record_end(record, held)
        record, held = None, [line]
        if field and field.group("item") and _RECORD_KEY.fullmatch(key):  # not "- Lungs: consolidation right base"
            record = {key: _yaml_value(field.group("value"))}
        elif field and not field.group("value") and key in ("left", "right"):
            record = {"side": key}
        else:
            out.append(_yaml_line(line, field))
    return "\n".join(out + _record_end(record, held))


def _yaml_line(line: str, field) -> str:
    """A YAML line that is no finding's record: a flag under a zone's key as a JSON member's ("RUZ: true" -> "ruz:
    opacity."), any other field with its key as words ("clinical_indication:" -> "clinical indication:")."""
    if not field:
        return line
    flag = _truth(field.group("value"))
    stated = list(_json_statements(flag, (field.group("key").lower(),))) if flag is not None else []
    return stated[0] if stated else f"{_words(field.group('key'))}: {field.group('value') or ''}".strip()


def _record_end(record, held: list) -> list:
    """The statements of a YAML record that ends, if it says where or whether (a side's block with only a comment
    under it, "Right:" over "Comment: clear", or over a line of another kind, stays as written)."""
    if record is None:
        return []
    says = any(_LOCATION_KEY.search(key) or key in _SIDE_KEYS + _PRESENT_KEYS + _NEGATED_KEYS
               for key in record if key != "side")
    return list(_json_statements(record, ())) if says or "side" not in record else [
        _yaml_line(line, _YAML_FIELD.match(line)) for line in held]


def _yaml_value(value):
    """A YAML scalar or flow list as JSON would hold it: "[upper, mid]" -> ["upper", "mid"]; quotes taken off."""
    value = (value or "").strip()
    if value.startswith("[") and value.endswith("]"):
        return [item.strip().strip("'\"") for item in value[1:-1].split(",") if item.strip()]
    return value.strip("'\"")


# a record's keys: the side of its finding, the flags that say it is there or not
_SIDE_KEYS = ("laterality", "side")
_PRESENT_KEYS = ("present", "positive", "detected", "abnormal", "opacity")
_NEGATED_KEYS = ("negated", "negation", "absent")
_YES_NO = {"true": True, "yes": True, "y": True, "1": True, "present": True, "positive": True,
           "false": False, "no": False, "n": False, "0": False, "absent": False, "negative": False}
# a line of a YAML export ("laterality: right", "- type: consolidation", "right:"), and the keys a finding's record has
_YAML_FIELD = re.compile(r"^\s*(?P<item>-\s+)?(?P<key>[A-Za-z_][\w.-]*):(?:\s+(?P<value>.*))?$")
_YAML_COMMENT = re.compile(r"(?:^|\s)#(?:\s.*)?$")
_YAML_LIST_ITEM = re.compile(r"^\s*-\s+(?P<value>[^:]+)$")
_RECORD_KEY = re.compile(r"type|finding|label|laterality|side|zones?|locations?|sites?|regions?|lobes?|present|"
                         r"positive|detected|abnormal|opacity|negated|confidence|certainty|descriptor|pattern|comment|"
                         r"severity|size|extent|density")
# an SQL INSERT statement up to its VALUES, and the tokens of its value tuples (a string, with PostgreSQL's E'...'
# escapes, a keyword, a number, a mark)
_SQL_INSERT = re.compile(r"\bINSERT\s+INTO\s+[\w.\"`\[\]]+\s*\((?P<columns>[^()]*)\)\s*VALUES\b", re.IGNORECASE)
_SQL_TOKEN = re.compile(r"\s*(?:([Ee]?'(?:[^'\\]|''|\\.)*')|\b(NULL|TRUE|FALSE)\b|(-?\d+(?:\.\d+)?)|([(),;]))"
                        r"|\s*\S", re.IGNORECASE)
# a column that holds the report's own words
_REPORT_PART = re.compile(r"findings?|impression|conclusions?|indication|history|clinical_\w+|report(?:_text)?|text|"
                          r"comments?|remarks|narrative|summary")
# where an XML tag's words part: "ClinicalHistory" -> "Clinical History"
_CAMEL_HUMP = re.compile(r"(?<=[a-z])(?=[A-Z])")
# a logfmt key=value pair; a value in quotes may hold spaces
_XML_TAG = re.compile(XML_TAG)
_LOGFMT_PAIR = re.compile(r'(?<![^\s])([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
