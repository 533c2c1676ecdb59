"""The medical knowledge base: short descriptions of the terms that occur in reports.

Each ``text_reports/knowledge/*.json`` file is a JSON list of entries::

    {"id": "lower_zone", "category": "zone",
     "terms": ["lower", "lower lobe", "base", "basal"],
     "description": "The lower zone is the bottom part of the lung, ..."}

``KnowledgeBase.match(report)`` finds the entries whose terms occur in a report; the model
encodes their descriptions with CLIP next to the report itself. Matching is case-insensitive,
on whole words, and prefers the longest term at each position ("left lung" beats "left").
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_KEYS = {"id", "category", "terms", "description"}


class KnowledgeBaseError(ValueError):
    """A knowledge file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Entry:
    id: str
    category: str
    terms: tuple[str, ...]
    description: str
    source: str  # file name the entry came from, for error messages


def _normalize_term(term: str) -> str:
    return " ".join(term.lower().split())


def _term_pattern(term: str) -> str:
    """Regex for one term: any whitespace between words, and a hyphen may also be a space or
    nothing, so "ground-glass" matches "ground glass" and "x-ray" matches "xray"."""
    parts = []
    for word in _normalize_term(term).split(" "):
        parts.append(r"[-\s]?".join(re.escape(p) for p in word.split("-")))
    return r"\s+".join(parts)


def _validate_entry(raw, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise KnowledgeBaseError(f"{where}: must be a JSON object, found {type(raw).__name__}.")
    missing, unknown = _KEYS - raw.keys(), raw.keys() - _KEYS
    if missing or unknown:
        raise KnowledgeBaseError(
            f"{where}: needs exactly the keys {sorted(_KEYS)}"
            + (f"; missing {sorted(missing)}" if missing else "")
            + (f"; unknown {sorted(unknown)}" if unknown else "") + "."
        )
    if not isinstance(raw["id"], str) or not _ID_RE.match(raw["id"]):
        raise KnowledgeBaseError(f"{where}: 'id' must be a lower-case identifier like 'lower_zone', got {raw['id']!r}.")
    for key in ("category", "description"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise KnowledgeBaseError(f"{where}: '{key}' must be a non-empty string.")
    terms = raw["terms"]
    if not isinstance(terms, list) or not terms or not all(isinstance(t, str) and t.strip() for t in terms):
        raise KnowledgeBaseError(f"{where}: 'terms' must be a non-empty list of non-empty strings.")
    return Entry(raw["id"], raw["category"], tuple(terms), raw["description"].strip(), where.split(":")[0])


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
            r"(?<!\w)(?:" + "|".join(f"({_term_pattern(t)})" for t in ordered) + r")(?!\w)",
            re.IGNORECASE,
        ) if ordered else None
        self._group_owner = [owner[t] for t in ordered]

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

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, entry_id: str) -> Entry:
        return self._by_id[entry_id]

    def match(self, report: str) -> list[Entry]:
        """Entries whose terms occur in ``report``, in order of first occurrence, no duplicates."""
        if self._pattern is None:
            return []
        found: dict[str, Entry] = {}
        for m in self._pattern.finditer(report):
            entry = self._group_owner[m.lastindex - 1]
            found.setdefault(entry.id, entry)
        return list(found.values())

    def fingerprint(self) -> str:
        """sha256 of the entries' content: changes whenever a term or description changes, so
        caches of encoded descriptions can be invalidated (formatting changes do not count)."""
        canon = [
            {"id": e.id, "category": e.category, "terms": list(e.terms), "description": e.description}
            for e in self.entries
        ]
        blob = json.dumps(canon, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()
