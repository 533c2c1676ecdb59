"""The medical knowledge base: short descriptions of the terms that occur in reports.

Each ``text_reports/knowledge/*.json`` file is a JSON list of entries::

    {"id": "lower_zone", "category": "zone", "domain": "chest",
     "terms": ["lower", "lower lobe", "base", "basal"],
     "place": {"zones": ["lower"]},
     "description": "The lower zone is the bottom part of the lung, ..."}

``KnowledgeBase.match(report)`` finds the entries whose terms occur in a report; the model
encodes their descriptions with CLIP next to the report itself. Matching is case-insensitive,
on whole words, and prefers the longest term at each position ("left lung" beats "left"). A word
one slip from a place word ("rigth", "lowr", "uooer") is read as that word, under the rules of
``typos.py`` that keep ordinary words ("might", "eight", "while") what they are.

Knowledge belongs to a domain. ``"general"`` entries (sides of the image, counts) apply to every
dataset; the others (``"chest"``: lungs, zones, lobes, chest findings) only to a dataset that
declares their domain in dataset.json (``"tgc_knowledge_domain"``), so that a bone report's "lower
limb" never reads as a lung's lower zone. ``"place"`` says where a term points: the sides of the
image (``left``/``right``) and the zones along the image's vertical axis (``upper``/``middle``/
``lower``) it names; ``nnunet_tgc.text.places`` composes them into the places a report states.

An entry may spell its abbreviations out (``"spelled_out": {"rlz": "right lower zone"}``): the frozen text
tower and the reader of places read a report with each abbreviation it matches written in full
(:meth:`KnowledgeBase.spell_out`), so that a tower trained on reports that write words out ("lower right
lung") reads "RLZ" or "Lt" as the words it has read.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .glued import GluedReader
from .typos import TypoReader, to_original

_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_KEYS = {"id", "category", "domain", "terms", "description"}
_OPTIONAL_KEYS = {"place", "spelled_out"}
GENERAL = "general"          # the domain whose entries apply to every dataset
NO_DOMAIN = "none"           # a dataset's declaration: only the general entries apply
DOMAIN_KEY = "tgc_knowledge_domain"  # the key in dataset.json
SIDES = ("left", "right")
ZONES = ("upper", "middle", "lower")


class KnowledgeBaseError(ValueError):
    """A knowledge file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Entry:
    id: str
    category: str
    terms: tuple[str, ...]
    description: str
    source: str  # file name the entry came from, for error messages
    domain: str = GENERAL
    sides: tuple[str, ...] = ()  # the sides of the image a term of this entry names ("place")
    zones: tuple[str, ...] = ()  # the zones along the image's vertical axis it names
    spelled_out: tuple[tuple[str, str], ...] = ()  # (abbreviated term, the words it stands for)


def _normalize_term(term: str) -> str:
    return " ".join(term.lower().split())


def _term_pattern(term: str) -> str:
    """Regex for one term: any whitespace between words, and a hyphen may also be a space or
    nothing, so "ground-glass" matches "ground glass" and "x-ray" matches "xray"."""
    parts = []
    for word in _normalize_term(term).split(" "):
        parts.append(r"[-\s]?".join(re.escape(p) for p in word.split("-")))
    return r"\s+".join(parts)


def _glued_guard(term: str) -> str:
    """The pattern of ``term``. A term of one or two characters ("R", "Rt", "2") does not match as part of a
    hyphen-joined word ("RT-PCR", "L-spine") or of a unit ("mg/L", "2 L/min", "x10^9/L"): those name something
    else."""
    pattern = _term_pattern(term)
    return rf"(?<!\w-)(?<![/^\d])(?<!\d\s){pattern}(?!-\w)(?!/\w)" if len(_normalize_term(term)) <= 2 else pattern


def _abbreviation_key(term: str) -> str:
    """An abbreviation as matched, in any spelling its term pattern allows ("L-sided", "l sided", "lsided")."""
    return re.sub(r"[-\s]+", "", term.lower())


def _term_words(term: str) -> list[str]:
    """The words of a term, split at spaces and hyphens, letters only ("left-sided" -> left, sided)."""
    return [w for w in re.split(r"[\s-]+", _normalize_term(term)) if w.isalpha()]


def _validate_entry(raw, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise KnowledgeBaseError(f"{where}: must be a JSON object, found {type(raw).__name__}.")
    missing, unknown = _KEYS - raw.keys(), raw.keys() - _KEYS - _OPTIONAL_KEYS
    if missing or unknown:
        raise KnowledgeBaseError(
            f"{where}: needs the keys {sorted(_KEYS)} (optional: {sorted(_OPTIONAL_KEYS)})"
            + (f"; missing {sorted(missing)}" if missing else "")
            + (f"; unknown {sorted(unknown)}" if unknown else "") + "."
        )
    if not isinstance(raw["id"], str) or not _ID_RE.match(raw["id"]):
        raise KnowledgeBaseError(f"{where}: 'id' must be a lower-case identifier like 'lower_zone', got {raw['id']!r}.")
    for key in ("category", "description", "domain"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise KnowledgeBaseError(f"{where}: '{key}' must be a non-empty string.")
    terms = raw["terms"]
    if not isinstance(terms, list) or not terms or not all(isinstance(t, str) and t.strip() for t in terms):
        raise KnowledgeBaseError(f"{where}: 'terms' must be a non-empty list of non-empty strings.")
    sides, zones = _validate_place(raw.get("place", {}), where)
    return Entry(raw["id"], raw["category"], tuple(terms), raw["description"].strip(), where.split(":")[0],
                 raw["domain"], sides, zones, _validate_spelled_out(raw.get("spelled_out", {}), terms, where))


def _validate_spelled_out(spelled, terms, where: str) -> tuple[tuple[str, str], ...]:
    """-> ((abbreviation, words), ...) of an entry's optional "spelled_out"; each abbreviation is one of its terms."""
    if not isinstance(spelled, dict) or not all(isinstance(v, str) and v.strip() for v in spelled.values()):
        raise KnowledgeBaseError(f"{where}: 'spelled_out' must map abbreviated terms to the words they stand for, "
                                 f"got {spelled!r}.")
    own = {_normalize_term(t) for t in terms}
    strangers = [a for a in spelled if _normalize_term(a) not in own]
    if strangers:
        raise KnowledgeBaseError(f"{where}: 'spelled_out' names {strangers}, which are not terms of this entry; "
                                 f"add them to 'terms' first.")
    return tuple((_normalize_term(a), " ".join(v.split())) for a, v in spelled.items())


def _validate_place(place, where: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """-> (sides, zones) of an entry's optional "place" (both empty without one)."""
    if not isinstance(place, dict) or set(place) - {"sides", "zones"}:
        raise KnowledgeBaseError(f"{where}: 'place' must be an object with 'sides' and/or 'zones', got {place!r}.")
    out = []
    for key, allowed in (("sides", SIDES), ("zones", ZONES)):
        values = place.get(key, [])
        if not isinstance(values, list) or not set(values) <= set(allowed):
            raise KnowledgeBaseError(f"{where}: place '{key}' must be a list of {list(allowed)}, got {values!r}.")
        out.append(tuple(v for v in allowed if v in values))
    return out[0], out[1]


def _load_file(path: Path) -> list[Entry]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise KnowledgeBaseError(f"Knowledge file {path} is not valid UTF-8.") from None
    except json.JSONDecodeError as e:
        raise KnowledgeBaseError(
            f"Knowledge file {path} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}."
        ) from None
    if not isinstance(data, list):
        raise KnowledgeBaseError(f"Knowledge file {path} must contain a JSON list of entries.")
    entries = []
    for i, raw in enumerate(data):
        label = f"entry #{i}" + (f" (id {raw.get('id')!r})" if isinstance(raw, dict) and "id" in raw else "")
        entries.append(_validate_entry(raw, f"{path.name}: {label}"))
    return entries


class KnowledgeBase:
    def __init__(self, entries: list[Entry]):
        self.entries: list[Entry] = list(entries)
        self._by_id = {}
        owner: dict[str, Entry] = {}
        for e in self.entries:
            if e.id in self._by_id:
                raise KnowledgeBaseError(
                    f"Duplicate knowledge id {e.id!r} in {e.source} (first defined in {self._by_id[e.id].source})."
                )
            self._by_id[e.id] = e
            for t in e.terms:
                key = _normalize_term(t)
                if key in owner and owner[key] is not e:
                    raise KnowledgeBaseError(
                        f"{e.source}: term {t!r} of {e.id!r} is already a term of {owner[key].id!r} "
                        f"({owner[key].source}); a term must belong to one entry."
                    )
                owner[key] = e
        # Longest term first: regex alternation takes the first alternative that matches at a
        # position, so ordering by length makes "left lung" win over "left". Ties sorted for
        # determinism.
        ordered = sorted(owner, key=lambda t: (-len(t), t))
        self._term_owner = owner
        self._pattern = re.compile(
            r"(?<!\w)(?:" + "|".join(f"({_glued_guard(t)})" for t in ordered) + r")(?!\w)",
            re.IGNORECASE,
        ) if ordered else None
        self._group_owner = [owner[t] for t in ordered]
        self._spelled_out = {(e.id, _abbreviation_key(a)): words for e in self.entries for a, words in e.spelled_out}
        # misspelt place words: read against every word of every term, corrected only into the words
        # of terms that name a place (typos.py)
        # place words glued to a neighbour by a missed space ("rightbase"): the one-word zone terms and side terms
        self._glued = GluedReader({t for e in self.entries if bool(e.sides) != bool(e.zones) for t in e.terms})
        self._typos = TypoReader(
            places={w for e in self.entries if e.sides or e.zones for t in e.terms for w in _term_words(t)},
            known={w for t in owner for w in _term_words(t)},
        )

    @classmethod
    def load(cls, dir=None) -> "KnowledgeBase":
        """Load every ``*.json`` in ``dir`` (default: the shipped ``text_reports/knowledge``)."""
        if dir is None:
            from text_reports import KNOWLEDGE_DIR
            dir = KNOWLEDGE_DIR
        dir = Path(dir)
        files = sorted(dir.glob("*.json"))
        if not files:
            raise KnowledgeBaseError(f"No knowledge files (*.json) in {dir}.")
        return cls([e for f in files for e in _load_file(f)])

    @property
    def domains(self) -> list[str]:
        """The domains a dataset can declare: those of the entries, and "none" (general entries only)."""
        return sorted({e.domain for e in self.entries} - {GENERAL}) + [NO_DOMAIN]

    def for_domain(self, domain: str, source="dataset.json") -> "KnowledgeBase":
        """The entries that apply to a dataset of ``domain``: the general ones and that domain's."""
        if domain not in self.domains:
            raise KnowledgeBaseError(
                f"{source}: {DOMAIN_KEY} must be one of {self.domains} (the knowledge that applies to its reports; "
                f"'none' keeps only the general entries: sides of the image and counts), got {domain!r}.")
        return KnowledgeBase([e for e in self.entries if e.domain in (GENERAL, domain)])

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, entry_id: str) -> Entry:
        return self._by_id[entry_id]

    def find(self, report: str) -> list[tuple[int, int, Entry]]:
        """Every occurrence of a term in ``report``: (start, end, entry), in order. A misspelt place word
        (:meth:`typo_reading`) counts as the word it is read as; (start, end) are always positions in
        ``report`` as given, so a caller may cut or replace the misspelt word itself."""
        if self._pattern is None:
            return []
        text, edits = self._typos.correct(report)
        found = [(m.start(), m.end(), self._group_owner[m.lastindex - 1]) for m in self._pattern.finditer(text)]
        if edits:
            found = [(to_original(s, edits, end=False), to_original(e, edits, end=True), entry)
                     for s, e, entry in found]
        return found

    def typo_reading(self, word: str) -> Optional[str]:
        """The place word (lower case) that ``word`` is read as a misspelling of, or None: a word one
        slip from exactly one known word of at least five letters, that word a place word (typos.py)."""
        return self._typos.reading(word)

    def glued_parts(self, word: str) -> Optional[list]:
        """The parts of ``word`` when it is place words typed without a space between them ("rightbase" ->
        ["right", "base"]), else None (glued.py)."""
        return self._glued.parts(word)

    def unglue(self, report: str) -> str:
        """``report`` with its glued place words written apart (glued.py)."""
        return self._glued.unglue(report)

    def match(self, report: str) -> list[Entry]:
        """Entries whose terms occur in ``report``, in order of first occurrence, no duplicates."""
        found: dict[str, Entry] = {}
        for _, _, entry in self.find(report):
            found.setdefault(entry.id, entry)
        return list(found.values())

    def spell_out(self, report: str) -> str:
        """``report`` with every abbreviation it states written in full, as the entries spell them out ("Patchy
        GGOs RLZ, L lung clear" -> "Patchy ground-glass opacities right lower zone, left lung clear"). Only a
        match of a term is replaced, so the guards of :meth:`find` hold ("2 L/min" and "RT-PCR" stay)."""
        out, last = [], 0
        for start, end, entry in self.find(report):
            words = self._spelled_out.get((entry.id, _abbreviation_key(report[start:end])))
            if words is not None:
                out += [report[last:start], words]
                last = end
        return "".join(out) + report[last:]

    def fingerprint(self) -> str:
        """sha256 of the entries' content: changes whenever a term or description changes, so
        caches of encoded descriptions can be invalidated (formatting changes do not count)."""
        canon = [
            {"id": e.id, "category": e.category, "domain": e.domain, "terms": list(e.terms),
             "description": e.description, "sides": list(e.sides), "zones": list(e.zones),
             **({"spelled_out": [list(p) for p in e.spelled_out]} if e.spelled_out else {})}
            for e in self.entries
        ]
        blob = json.dumps(canon, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def dataset_domain(dataset_json, source="dataset.json") -> str:
    """The knowledge domain a dataset declares (``"tgc_knowledge_domain"``); without the key: ``"none"``,
    so that no domain's terms are read into reports of an unknown kind."""
    return dataset_json.get(DOMAIN_KEY, NO_DOMAIN)


def dataset_knowledge(dataset_json, source="dataset.json") -> KnowledgeBase:
    """The knowledge that applies to a dataset's reports: the general entries and its domain's."""
    return KnowledgeBase.load().for_domain(dataset_domain(dataset_json, source), source)
