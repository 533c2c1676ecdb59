"""Misspelt place words: a word one slip of the fingers away from a place word is read as that word.

Reports are typed by people, and the real ones hold slips ("uooer middle left lung", "lowe left",
"midddle"). A place word the reader does not recognise silently widens or drops a place, so the
knowledge base (``KnowledgeBase.find``) reads such a word as the place word it was meant to be,
under rules that keep every ordinary word what it is:

* one edit: one letter inserted, deleted or replaced, or two neighbouring letters swapped
  ("lowr", "midddle", "rigjt", "rigth"). A doubled letter is typed as one movement ("press p
  twice"), so a doubled letter replaced by another doubled letter counts as one edit, but only when
  the two keys are neighbours on the keyboard, the slip a shifted finger makes ("uooer": o sits next
  to p). Anything further away is a different word, not a slip;
* only words of at least 5 letters are read through a typo (and so the misspelling has at least 4):
  short words sit one edit from too many others ("left" is one edit from "lift", "loft", "lest");
* the first letter must be right: most slips happen inside a word, and this alone keeps "might",
  "eight", "night", "light", "sight" from reading as "right" and "power", "tower" as "lower";
* a word that is known is never corrected: every word of a knowledge-base term (count words such as
  "eight" are terms) and the English words in :data:`COMMON_WORDS`, which are one edit from a place
  word but mean something else ("while" and "whose" are not "whole", "based" is not "bases");
* the misspelling must be close to exactly one known word of at least 5 letters, and that word must
  be a place word; when two are that close ("whoke": "whole" or "whose"?) nothing is read.

Each distinct word is judged once and remembered, so reading many reports costs a dictionary look-up
per word. Mirroring (``laterality.py``) reads misspellings with the same rules, so that a misspelt side
or zone swaps with its image like a well-spelt one.
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Iterable, Optional

MIN_TERM_LETTERS = 5  # a place word is read through a typo only from this length on
MIN_WORD_LETTERS = 4  # ... and the misspelling must have at least this many letters
_CACHE_LIMIT = 100_000  # distinct words remembered per reader; the memory is emptied when full

# A whole word of letters only: a word glued to digits or underscores ("right2") is no word here,
# as it is no term for the knowledge base's patterns either.
_WORD = re.compile(r"\b[^\W\d_]{%d,}\b" % MIN_WORD_LETTERS)

# Keys next to each other on a QWERTY keyboard (same row or the row above or below, one column
# either way: a little generous, as the rows are staggered); QWERTZ and AZERTY differ in a few keys.
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS = {
    key: frozenset(_ROWS[r][c] for r in range(max(row - 1, 0), min(row + 2, len(_ROWS)))
                   for c in range(col - 1, col + 2) if 0 <= c < len(_ROWS[r]) and _ROWS[r][c] != key)
    for row, keys in enumerate(_ROWS) for col, key in enumerate(keys)
}

# English words in ordinary or medical use that are one edit (by the rules above, same first letter)
# from a place word of the shipped knowledge base and mean something else. No dictionary ships with
# the package, so these were picked from English word lists (with their plural and verb forms); rare
# words are left out, because a word listed here also stands against a misspelling that is as close
# to it as to a place word, and so are variants that mean the place itself ("lingular", "hilus",
# "diffused"), which should read as it. Add to it when a knowledge term gains such neighbours.
COMMON_WORDS = frozenset({
    "angel", "angels", "angled", "ankle", "ankles",    # angle(s)
    "banal", "based", "basis", "biases", "buses",      # basal, bases
    "filed",                                           # field
    "hemothorax",                                      # hemithorax (blood in the chest, not a side)
    "interior",                                        # inferior
    "intra",                                           # infra(-hilar)
    "lingual",                                         # lingula
    "lobed", "loses", "loves",                         # lobes
    "loser", "lover", "lowers",                        # lower
    "rights",                                          # right
    "sited", "sites", "sized", "sizes", "slides",     # sided, sides
    "submit", "submits",                               # summit(s)
    "throughput",                                      # throughout
    "whale", "while", "whose",                         # whole
    "zoned",                                           # zones
})


def one_edit(word: str, target: str) -> bool:
    """Whether ``word`` is one slip from ``target`` (both lower case, not equal): one letter inserted,
    deleted or replaced, two neighbouring letters swapped, or a doubled letter typed as the doubled
    letter of a neighbouring key."""
    n, m = len(word), len(target)
    if n == m:
        diff = [i for i in range(n) if word[i] != target[i]]
        if len(diff) == 1:
            return True
        if len(diff) != 2 or diff[1] != diff[0] + 1:
            return False
        i = diff[0]
        if word[i] == target[i + 1] and word[i + 1] == target[i]:  # "rigth"
            return True
        return (target[i] == target[i + 1] and word[i] == word[i + 1]  # "uooer"
                and word[i] in _NEIGHBOURS.get(target[i], ()))
    if abs(n - m) != 1:
        return False
    short, long = (word, target) if n < m else (target, word)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1:]


class TypoReader:
    """Reads misspelt place words (the rules in the module's docstring) against one vocabulary.

    ``places``: the words of the place terms (those of at least :data:`MIN_TERM_LETTERS` letters
    are read through typos); ``known``: every word of every term, never corrected.
    """

    def __init__(self, places: Iterable[str], known: Iterable[str]):
        self._known = frozenset(w.lower() for w in known) | COMMON_WORDS
        self._places = frozenset(w.lower() for w in places if len(w) >= MIN_TERM_LETTERS)
        # the words a misspelling could have been meant as: the long enough known words
        self._rivals = defaultdict(list)
        for w in sorted(self._places | {k for k in self._known if len(k) >= MIN_TERM_LETTERS}):
            self._rivals[w[0]].append(w)
        self._cache: dict = {}
        self._plain: set = set()  # words (lower case) already judged to be no misspelling

    def reading(self, word: str) -> Optional[str]:
        """The place word (lower case) that ``word`` is a misspelling of, or None."""
        word = word.lower()
        try:
            return self._cache[word]
        except KeyError:
            pass
        found = self._read(word)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
            self._plain.clear()
        self._cache[word] = found
        if found is None:
            self._plain.add(word)
        return found

    def _read(self, word: str) -> Optional[str]:
        if len(word) < MIN_WORD_LETTERS or word in self._known or not self._places:
            return None
        close = [w for w in self._rivals.get(word[0], ()) if abs(len(w) - len(word)) <= 1 and one_edit(word, w)]
        return close[0] if len(close) == 1 and close[0] in self._places else None

    def correct(self, text: str) -> tuple:
        """-> (``text`` with each misspelt place word replaced by the word it is read as, the
        replacements as (start, end) in the new text and (start, end) in ``text``); the text itself
        and an empty tuple when nothing is misspelt."""
        # most texts hold no misspelling, and their words were seen before: one set test
        if self._plain.issuperset(map(str.lower, _WORD.findall(text))):
            return text, ()
        pieces, edits, last, shift = [], [], 0, 0
        reading = self.reading
        for m in _WORD.finditer(text):
            meant = reading(m.group())
            if meant is None:
                continue
            start, end = m.span()
            pieces += [text[last:start], meant]
            edits.append((start + shift, start + shift + len(meant), start, end))
            shift += len(meant) - (end - start)
            last = end
        if not edits:
            return text, ()
        pieces.append(text[last:])
        return "".join(pieces), tuple(edits)


def to_original(position: int, edits, end: bool) -> int:
    """A position in a corrected text (``TypoReader.correct``) as a position in the original: a match
    that starts (``end`` False) or ends at a replaced word starts or ends at the word as typed."""
    shift = 0
    for new_start, new_end, old_start, old_end in edits:
        if position < new_start or (position == new_start and end):
            break
        if position < new_end:  # at or inside a replaced word
            return old_end if end else old_start
        shift = old_end - new_end
    return position + shift
