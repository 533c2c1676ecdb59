"""What a report states about places: the sides and zones it names as involved, those it says are
free, and how many lesions it counts.

A report is read, not recalled: the words come from the knowledge base (``text_reports/knowledge``,
each term's ``place``), and a few rules compose them, so an unseen wording or combination of known
facts reads as the facts it states ("RLL" = right lower; "upper and lower left lung" = left upper +
left lower; "no right-sided opacity" = right free). The places are cells of a grid of the image:
the two sides (``left``/``right``, in the internal image-side convention, see ``convention.py``)
times three zones along the vertical axis (``upper``/``middle``/``lower``).

Rules (documentation/text.md, "Places", gives an example of each):

* clauses end at ``. ;``, a line end, "but", "while", "whereas", a dictated "full stop", and at a colon unless
  what precedes it is a heading that names a place and states nothing ("Left lung: lower zone opacity");
  a table row by place is read cell by cell with its heading ("Mid zone - L: no opacity | R: opacity");
* negation: places after a negation cue ("no", "without", "free of", "sparing", a "clear" opening its
  stretch) and before a clearing word ("clear", "normal", "spared", "resolved", "not involved", "NAD") are
  free. A negated stretch ends at a comma beyond which a finding is stated ("no opacity on the left, right
  basal consolidation"), not inside a list of places; a cleared stretch starts after such a comma, a
  "with", or a "rest"/"remainder"/"otherwise" (what is cleared then is what the report has not named); a
  line listing what is normal ("Normal: ...") frees every place on it; in a clause that states no
  finding, a side named alone before a negation, or any place right before it, is free ("R lung: no
  opacity"); a zone scored 0 in a severity score is free, above 0 involved;
* what is no finding of this film is not read: the request ("Clinical details: ?R basal pneumonia", "Indication:"
  and its line) and an earlier film ("Admission CXR 17/05/2020: ...", "the film of 01/02, which showed ...",
  "Previous film showed ..."), to its line's next heading or first sentence; a legend ("Categories:", "Key:",
  "Reminder:" and the labelled lines under one alone on its line); a statement of a disease in general ("COVID-19
  typically affects both lower zones", unless it says it is this film's: "in keeping with", "here"); a condition or
  a purpose ("if the left upper zone opacity does not clear", "to ensure resolution of ..."); a question, unless
  answered by a bare yes ("Is there consolidation in the left lower zone? Yes."), also one asked as a statement or
  with a tag ("So the right lower zone was normal?", "..., didn't you?"); a word's meaning ('"Base" means the bottom
  part of a lung') and an expectation ("You might expect change in ...");
* "they are clear" after a clause that names places and states no finding clears those places;
* a side that only weighs findings its clause placed before it ("..., more marked on the left", "...,
  predominantly on the left") places nothing, and a
  side or zone right before a term of something that is no lung ("the lower superior vena cava", the
  knowledge base's ``extrapulmonary`` terms) is that thing's; "upper limit of normal" is one term, no zone;
* the place terms of a clause form segments, split where the words between two terms hold a separator
  ("and", a comma, "with", "as well as", "&", "+", "/", a queried item's "?" or "query"); a segment names sides
  x zones, a lobe its own cell, a range every zone between its ends ("apex to base");
* records, scores, shares and landmarks are restated as plain statements first (:mod:`.restatement`): an
  obscured heart border is its side's middle zone, an effaced hemidiaphragm its lower zone (the silhouette
  sign), a level by anterior ribs the zones of those ribs (boundaries at the 2nd and 4th); a side at 0 % is
  clear, "N% of both lungs" names no side, a structured export's record is one statement;
* zones beside a lobe and no side name a part of the lobe: its cell ("the superior segment of the RLL");
* a segment with zones and no side continues a side-first phrase
  it is joined to by a bare "and"/comma ("left mid and lower zones"), else takes the sides of the next
  segment with sides ("upper and lower left lung"), else of a previous one, else those the report names
  elsewhere (first a colon heading's side: "Right lung: upper zone spared, lower zone opacity"), else both
  ("bibasal opacities"); a free one takes the sides of the free places beside it,
  else of its clause's involved places, and one without any side frees no cell stated involved; a whole
  side stated free frees no cell another statement places with a side of its own;
* a segment with sides and no zone ("bilateral", "left lung") names the whole side, unless the report
  names zones on that side elsewhere (then it is a summary); a word naming both sides does not widen the
  side the same phrase names ("Bilateral infection of the whole left lung") unless it stands right before
  the zones ("both lower zones and the right upper zone"); a bare side word right
  before a segment with zones shares its zones ("left and right lower lobes");
* "all", "whole", "entire", "diffuse" name every zone unless a zone or lobe stands beside them ("all lower left
  lung").

:func:`place_vector` turns the places into the input of the network's place map.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

from ..model.place_map import PLACE_CELLS, PLACE_VECTOR_SIZE
from .knowledge import SIDES, ZONES, Entry, KnowledgeBase
from .normalize import CONTEXT_HEADING
from .markup import markup_as_text
from .records import records_as_text
from .restatement import restate, undotted

CELLS = tuple((side, zone) for side in SIDES for zone in ZONES)
assert len(CELLS) == PLACE_CELLS and len(CELLS) + 1 == PLACE_VECTOR_SIZE

# "full stop", "period", "new paragraph": dictated punctuation; a decimal point ends nothing ("score 0.72"); a "?"
# that ends a question ("... haze in the right mid zone as well? The heart is normal."), kept with it
# a numbered item's "(2)" parts clauses ("(1) in the left lung, top, middle and bottom (2) at the bottom of the right
# lung"; a " | " does not: it parts a table row's cells, which _spread_row reads); "but" parts clauses, except as an
# exception: "everywhere but the apex", "all but the left apex"
_CLAUSE_END = re.compile(r"(?:[;\n]|(?<!\d)\.|\.(?!\d))+|(?<=\?)(?=\s+[A-Z]|\s*$)"
                         r"|\(\d{1,2}\)(?=\s+[A-Za-z])"
                         # a pipe before a field: "R lower | Left lung: no opacity"
                         r"|\s\|\s(?=[A-Za-z][\w /-]{0,30}:)"
                         r"|\b(?:(?<!\beverywhere\s)(?<!\beverything\s)(?<!\ball\s)(?<!\ball\szones\s)but|"
                         r"while|whereas|"
                         r"full stop|period|colon|semicolon|new (?:paragraph|line)|"
                         r"next (?:paragraph|line))\b", re.IGNORECASE)
# a run-on note's turn to another organ or a device (not "right heart border", a landmark of the right middle zone)
_TOPIC = re.compile(r"(?<!\bleft\s)(?<!\bright\s)(?<!\bl\s)(?<!\br\s)\b"
                    r"(?=(?:heart|cardiac|mediastinum|mediastinal|bones?|ett|et\s+tube|ngt?|ng\s+tube|central\s+line|"
                    r"cvc|picc|pacemaker|trachea)\b)", re.IGNORECASE)
_PUNCTUATION = re.compile(r"[.,;:!?()]")
# "?" and "query": a queried item of a run-on list ("?consolidation L base ?patchy shadowing R mid zone"); "beside" and
# "in addition to" join places ("the right lower zone beside the left mid and lower zones")
_SEPARATOR = re.compile(r",|&|\+|/|\?|\b(and|with|as well as|plus|or|query|in addition to|besides?)\b", re.IGNORECASE)
# "No significant change in the consolidation affecting the right lower zone": the finding is still there
_NO_CHANGE = (r"\s+(?:\w+\s+){0,2}?change\s+(?:in|to)\s+(?:the\s+)?(?:\S+\s+){0,3}?"
              r"(?:opacit|opacif|consolidat|shadow|infiltrat|ground|haz|airspace|changes|disease|pneumonia|lesion)")
# (a reader who "did not record" a place says nothing of the film)
_NEGATION_BEFORE = re.compile(r"\b(no(?!,?\s+(?:just|only)\b)(?!" + _NO_CHANGE + r")|not(?!\s+record)|"
                              r"none(?=\s+(?:on|in|at|of)\s)|nothing|without|negative for|free of|absence of|"
                              r"neither|nor|stop(?:s|ped|ping)?\s+(?:short\s+of|above|below|before)|skips|skipping|"
                              # the same in words of other languages mixed into English reports
                              r"kein(?:e[nmrs]?)?|ohne|sin|sem|sans|senza|pas\s+de|hakuna|no\s+hay|"
                              r"resolution of|clearance of|clear of|(?<!partial )(?<!partly )clearing of|"
                              r"(?:don'?t|doesn'?t|didn'?t|can'?t|cannot|couldn'?t)\s+(?:see|show|identify|appreciate)|"
                              r"sparing|spares?|nil|disregard|(?:scrap|ignore|forget)\s+what\s+I\s+said\s+about|"
                              r"(?:erroneously|incorrectly|wrongly|mistakenly)\s+"
                              r"(?:stated|reported|described|dictated))\b",  # an amendment takes a place back
                              re.IGNORECASE)
# the words after a place that clear it ("not normal", "isn't clear" clear nothing)
_NEGATION_AFTER = re.compile(r"(?<!not )(?<!n't )\b(clear(?!-cut)|clr|cleared|normal|natural|unremarkable|healthy|"
                             r"preserved|conserved|"
                             r"spared|sparing(?=\s*(?:[,;.)\]]|$))|untouched|escaped(?!\s+(?:from|into|to)\b)|"
                             r"(?:none|nothing)(?:\s+(?:is|are)\s+(?:seen|present|noted|identified))?"
                             r"(?=\s*(?:[,;.)]|$))|"
                             r"frei|unauff(?:ä|ae|a)llig|safi|limpi[oa]s?|libres?|livres?|limpos?|liberi|libero|"
                             r"indenne|"
                             r"(?:opacit\w*|involvement|infiltrat\w*|consolidation|lesions?|abnormalit\w*|changes?)\s+"
                             r"(?:is|are|was|were)\s+not\s+(?:seen|visible|identified|noted|observed|present|evident)|"
                             r"unaffected|uninvolved|(?:is|are)\s+(?:open|intact)|"
                             r"free|nad|ok|okay|not involved|well[- ]aerated|normally aerated|"
                             r"(?:well|normally|regularly)\s+ventilated|"
                             r"(?:with\s+)?(?:adequate|normal|good|preserved)\s+aeration|"
                             r"not affected|not obscured|not blunted|not effaced|(?:(?:is|are)\s+)?sharp|"
                             r"(?:looks?|looking|is|are|seems?)\s+(?:fine|ok|okay|clean|good)|"
                             r"no longer (?:seen|visible)|"
                             r"not\s+(?:yet\s+)?see[n]?\s+(?:any\s+)?(?:lesions?|abnormal\w*)|"
                             r"(?<!partially )(?<!partly )resolved)\b",
                             re.IGNORECASE)
# what may stand between a place and the clearing word after it that speaks of it alone ("angles are clear")
_JUST_BEFORE = re.compile(r"\s*(?:(?:is|are|looks?|appears?|both)\s+)?")
# the clearing words that speak of an edge (an angle, a border), not of a lung zone
_EDGE_WORD = re.compile(r"(?:(?:is|are)\s+)?sharp|not blunted|not effaced", re.IGNORECASE)
# ... except where only part of it has gone
_PARTLY = re.compile(r"\b(?:partially|partly|largely|mostly|almost|nearly|incompletely|substantially|much|somewhat|"
                     r"not\s+(?:yet\s+)?(?:fully|completely|entirely))\s+(?:been\s+)?$", re.IGNORECASE)
# a place's first word, right after a clearing word before it
_PLACE_NEXT = r"(?:left|right|both|bilateral|lungs?|upper|mid|middle|lower|apex|apices|bases?|zones?)\b"
# ... and the same words opening a stretch, before what they clear: "Clear left lung, right basal opacity.", "Free
# costophrenic recesses", "- Normal both hilar shadows" ("free of" is a negation cue of its own)
_CLEAR_BEFORE = re.compile(r"(?:^[\s\-\u2022*\"]*|(?<=,)\s*)(?:(?:an?|the)\s+(?=\S+\s+" + _PLACE_NEXT + r"))?"
                           r"(?:clear(?!-cut)|normal|unremarkable|free|healthy)\b(?!\s+of\b)"
                           # ... after "with" only right before a place: "a chest X-ray with a clear left lung", not
                           # "consolidation with clear margins in the left base"
                           r"|\bwith\s+(?:an?\s+|the\s+)?(?:clear|normal|healthy)\s+(?=" + _PLACE_NEXT + r")"
                           r"|(?:^[\s\-\u2022*\"]*|\bwith\s+)(?:normal|good|preserved)\s+aeration\s+(?:of|in)\b",
                           re.IGNORECASE)
# the sides a clearing word is said of, after it: "Costophrenic sinus free on both sides", "apices clear bilaterally",
# and its extent: "The right lung is clear from apex to base"
_TRAILING_SIDES = re.compile(r"\s*(?:(?:on|in|at)\s+(?:the\s+)?)?(?:both\s+sides|both|bilaterally|bilateral|"
                             r"(?:left|right)(?:\s+side)?|(?:from\s+)?(?:the\s+)?(?:apex|apices|top)\s+to\s+(?:the\s+)?"
                             r"(?:base|bases|bottom)|throughout|in\s+(?:all|every)\s+(?:(?:all|three|3|six|6)\s+)?"
                             r"(?:zones?|parts?|areas?|thirds?))\b"
                             r"(?=\s*(?:[,;.]|$))", re.IGNORECASE)
# ... and zones right after it: what lies between the clearing word and the first zone, between the zones, after them
_ZONE_GAP = re.compile(r"\s+(?:(?:in|at|of|over)\s+)?(?:the\s+)?", re.IGNORECASE)
_ZONE_LIST_GAP = re.compile(r"(?:\s+(?:zones?|thirds?|fields?))?\s*(?:,|and|&)\s*(?:the\s+)?|\s+", re.IGNORECASE)
_CLAUSE_REST = re.compile(r"(?:\s+(?:zones?|thirds?|fields?))?[\s.]*", re.IGNORECASE)
# places stated only where something is there: a clear costophrenic angle says no pleural fluid, not a clear zone
_PLACES_WHEN_INVOLVED = frozenset({"costophrenic_angle", "hilum"})
# ... and of those, places that only a clause stating a finding places ("Hila N", "prominent right hilum": vessels and
# nodes; "blunting of the left costophrenic angle" still places)
_PLACES_ONLY_WITH_A_FINDING = frozenset({"hilum"})
# a lateral view shows no side: a clause about it places nothing that the frontal findings have not placed
_LATERAL_VIEW = re.compile(r"\blateral\s+(?:view|projection|film|radiograph|image)s?\b", re.IGNORECASE)
# "from apex to base", "from the hilum to the base", "from apex till base", "apex\u2192base", "from the right apex
# down to the right costophrenic angle", "LUZ-LLZ", "upper mpaka lower zones" (Swahili; "hasta", "bis"): every zone
# between
_RANGE = re.compile(r"^[\s-]*(?:(?:down\s+)?(?:to|through|thru|till|until|hasta|bis|mpaka)(?:\s+|-)(?:the\s+)?"
                    r"(?:(?:right|left)\s+)?|"
                    r"\u2192|->|"
                    r"-->|=>|[-\u2013]\s*(?:(?:right|left)\s+)?)\s*$",
                    re.IGNORECASE)
# "..., with the middle third spared"; "together with" and "along with" only join places to the list
_WITH = re.compile(r"(?<!together )(?<!along )\bwith\b", re.IGNORECASE)
# between a word naming both sides and zones that are both sides' ("in both lungs from the mid zones to the bases"),
# not those of a side named after them ("Bilateral infection of the middle and lower parts of the right lung")
_OWN_ZONES = re.compile(r"\s*(?:(?:from|in|at|within|throughout)\s+)?(?:the\s+)?(?:(?:lungs?|pulmonary)\s+)?$",
                        re.IGNORECASE)
# a new subject where a dictation has no stop: "the" right after a place ("in the left base the right lung is clear")
_NEW_SUBJECT = re.compile(r"\s+\bthe\b", re.IGNORECASE)
# nothing but a bracketed aside between two phrases ("R lower zone (1 patch) L lung clear")
_ASIDE = re.compile(r"\s*(?:\([^()]*\)\s*)?")
# between a structure and the words that say where it is: "Trachea in the middle", "tube with its apex under ..."
_POSITION_OF = re.compile(r"\s+(?:(?:is|are|lies|in|at|on|to|the|with|its)\s+)*", re.IGNORECASE)
# where a statement of a run-on note may end (a negation's stretch, a sign's): a comma, " / ", a spaced dash, and an
# "and" (or "but", "so") that opens what the film shows ("and there is", "and cxr from tonight shows")
_STATEMENT_PART = re.compile(r",|\s?/\s|\s[-\u2013\u2014]\s|\s(?:and|but|so)\s+(?=(?:it|this|that|there)\s+(?:is|are)\b"
                             r"|(?:[\w-]+\s+){0,4}?(?:shows?|showing|demonstrates?|reveals?)\b)", re.IGNORECASE)
# between a comma and the side that opens what follows it
_SUBJECT_OPENS = re.compile(r",\s*(?:the\s+)?", re.IGNORECASE)
# a device's tip, whose place follows it
_TIP = re.compile(r"\btips?\b", re.IGNORECASE)
# what joins the places of one list: "the right upper, middle and lower zones and the left base"
_LIST_JOIN = re.compile(r"(?:\s*(?:lung\s+)?(?:fields?|zones?|regions?|areas?|parts?|thirds?|lobes?|lungs?))?"
                        r"(?:\s*\([^()]*\))?"
                        r"\s*(?:,|&|\+|and|as well as|,\s*and|,\s*as well as)?"
                        r"\s*(?:(?:in|at|on|within|of)\s+)?(?:the\s+)?",
                        re.IGNORECASE)
# what joins zones that continue one phrase ("left mid and lower zones"), not a new phrase ("..., and in the ...")
_BARE_JOIN = re.compile(r"\s*(?:,|&|\+|/|and|or|,\s*and|,\s*or)\s*", re.IGNORECASE)
# ... and before a side's lung also with "the" ("the bottom of the left and the right lung"; not before a side word,
# "the right upper, mid and lower zones and the left lower zone"), before any side word with a bracket ("the upper
# zones (right and left)")
_BARE_JOIN_THE = re.compile(r"\s*(?:,|&|and|,\s*and)\s*the\s+", re.IGNORECASE)
_BRACKET_JOIN = re.compile(r"\s*\(\s*")
# a negation of what the report has not named: "..., nothing else acute", "no other abnormality"
_NOTHING_ELSE = re.compile(r"(?:nothing|no)\s+(?:else|other|further)\b", re.IGNORECASE)
# a negation that spares what follows it and says nothing of the places before it
_SPARING = re.compile(r"(?:stop\w*\s+(?:short\s+of|above|below|before)|skip\w*|spar\w*)\b", re.IGNORECASE)
# "X, not Y" in a clause without a finding: the "not" is said of the place right after it only
_CONTRAST = re.compile(r"not\s+(?:in\s+)?(?:the\s+)?", re.IGNORECASE)
# a question that asks whether, in talk ('"Is it in both lungs?" "No, just the right lung."'); its answer's "no" before
# "just" or "only" denies the question, not a place
# ("Isn't it true that ...", "Would you agree that ...")
_QUESTION_OPENING = (r"^\W*(?:any\b|(?:is|are|does|do|did|could|can|has|have|was|were|will|would|should)(?:n't)?\s+"
                     r"(?:it|that|this|the|any|there|they|she|he|you|we)\b)")
# ... or whatever is asked and then answered on its line ("?right apical pneumonia - present? -> No, ..."); a statement
# asked ("So the right lower zone was normal?") and one with a question tag ("You saw abnormality in the right upper
# zone, didn't you?") are asked too
_YES_NO_QUESTION = re.compile(_QUESTION_OPENING + r"[^?]*(?:\?|$)"
                              r"|^.*?\?(?=\s*(?:->|\u2192|=>|[:-])?\s*(?:yes|no|nothing|none)\b)"
                              r"|^\W*so\b[^?]*\?"
                              r"|^[^?]*,\s*(?:(?:is|are|was|were|do|does|did|have|has|would|could|can|will)(?:n't)?\s+"
                              r"(?:you|it|they|there|he|she|we|I)|right|correct|true)\s*\?", re.IGNORECASE)
# the answer to a question the report puts: a bare yes states the question's places ("Is there consolidation in the
# left lower zone? Yes."), a no takes them back ("R effusion? No effusion on either side"; a question may name a
# place for another reason: "Any effusion (dull right base clinically)? No.")
_ANSWER = re.compile(r"^\W*(?:(yes|y|yep|affirmative|correct)\W*$|(?:no|n|nope|nil|none|nothing|negative|absent)\b)",
                     re.IGNORECASE)
# "rest clear", "the remainder of the lungs is clear": what is cleared is what the report has not named
# (not the verb: "the upper zone remaining clear" clears the upper zone)
_REST = re.compile(r"\b(rest|remainder|remaining(?!\s+(?:clear|normal|free|unaffected|uninvolved|spared|unremarkable|"
                   r"healthy)\b)|otherwise|o/w|elsewhere|other)\b", re.IGNORECASE)
# a line listing what is normal ("Normal: the top and middle parts of the right lung; heart size.", "Not involved: ...")
_NORMAL_HEAD = (r"(?:what (?:looks|is) )?(?:(?:normal|unremarkable|negative|clear|no abnormality|"
                # an annotation's list of what holds no lesion ("No mask:", "Unlabelled (clear):")
                r"no\s+(?:masks?|labels?|annotations?|lesions?)|unlabell?ed(?:\s*\([^()]*\))?|"
                r"not involved|uninvolved|not affected|unaffected|spared)"
                r"(?:\s+(?:findings?|regions?|areas?|zones?|parts?))?"
                r"|(?:regions?|areas?|zones?|parts?)\s+(?:normal|clear|unremarkable|not involved|negative|"
                r"below\s+(?:the\s+)?threshold(?:\s*\((?:negative|neg)\))?|"
                r"(?:without|free of)\s+(?:lesions?|opacit\w+|disease|involvement|findings?))"
                r"|(?:lesion|disease)[- ]free\s+(?:regions?|areas?|zones?)|uninvolved\s+(?:regions?|areas?|zones?))"
                r"\s*:")
_NORMAL_LINE = re.compile(r"^\W*" + _NORMAL_HEAD, re.IGNORECASE)
# ... also after a sentence on the line: "One mask drawn, over the left base. Not involved: left top; right lung."
_NORMAL_INLINE = re.compile(r"(?<=[.;])\s+(?=" + _NORMAL_HEAD + ")", re.IGNORECASE)
# a line of negative prompts for a text-guided segmenter: what the image does not show ("NEG a chest X-ray with a
# clear left lung", "neg_prompts = [...]")
_NEGATIVE_PROMPTS = re.compile(r"^\W*(?:NEG\b|(?i:neg(?:ative)?[_ ](?:prompts?|texts?|class(?:es)?)\b))\s*[=:\-]?")
# a section heading ("FINDINGS:", "Differential diagnosis:", "1) Right lung:" is no section) and the sections that
# name hypotheses and advice rather than findings ("DDx: ... diffuse alveolar haemorrhage", "Suggest: CT chest")
_SECTION_HEADING = re.compile(r"^\s*[A-Za-z][A-Za-z /&-]{0,40}:")
_HYPOTHESES = re.compile(r"^\s*(?:ddx|d/?dx|differentials?|differential diagnos[ie]s|recommendations?|recommended|"
                         r"suggest(?:ions?|ed)?|advice|plan)\s*:", re.IGNORECASE)
# a heading inside a line after a sentence ("... ?R basal pneumonia. Findings: ...")
_INLINE_HEADING = re.compile(r"(?<=[.?!;])\s+(?=[A-Za-z][A-Za-z /&-]{0,40}:)")
# the end of a sentence of the context (a request, an earlier film); what follows it on its line is the report's unless
# it is queried too
_CONTEXT_SENTENCE = re.compile(r"(?<=[.?!])\s+(?!\?)")
# ... and the findings follow it before the next heading if they say what the film shows ("Clinical indication: fever.
# The radiograph shows consolidation in the right lower zone. Impression: pneumonia.")
_FILM_SAYS = re.compile(r"\b(?:(?:radiograph|film|x-?ray|cxr|image|study)\s+(?:shows|demonstrates|reveals)|"
                        r"(?:is|are)\s+(?:present|seen|noted|demonstrated|visible|identified)|"
                        r"there\s+(?:is|are)\s+(?!(?:a\s+)?(?:history|background|query|question|concern|suspicion|"
                        r"no)\b))\b", re.IGNORECASE)
# a condition or a purpose, not a statement: "If the left upper zone opacity does not clear, CT is advised", "a film in
# six weeks to ensure resolution of the left upper zone opacity"
_CONDITION = re.compile(r"\b(?:if|unless|should\s+(?:the|there|it|this|these)|to\s+(?:ensure|confirm|document|check|"
                        r"assess|exclude|rule\s+out|look\s+for|evaluate))\b[^,]*", re.IGNORECASE)
# a sign of the chest's examination or a symptom, not of the film: "few crackles L mid zone", "quiet L base", "dull R
# base clinically", "pleuritic pain right side"
_SIGN = re.compile(r"\b(?:crackles?|creps?|crepitations?|rales?|rhonchi|wheezes?|wheezy|air\s+entry|AE|breath\s+sounds|"
                   r"bronchial\s+breathing|dull(?:ness)?|percussion|egophony|vocal\s+(?:resonance|fremitus)|"
                   r"tactile\s+fremitus|quiet|auscultat\w*|on\s+listening|pain|painful|tender(?:ness)?)\b",
                   re.IGNORECASE)
# what an earlier film showed ("Previous film showed right basal consolidation, now resolved", "the film of 01/02,
# which showed right lower zone opacity, ...", "Comparison: 12/03/2020, when there was ..."): to the comma after which
# the report speaks of this film again, else to the clause's end
_PRIOR = re.compile(r"\b(?:(?:previous|prior|earlier|last|old|preceding|former|initial|baseline|admission)\s+"
                    r"(?:chest\s+)?(?:film|study|exam(?:ination)?|radiograph|x-?ray|cxr|image|imaging|one)s?\b"
                    r"[^,;]{0,40}?\b(?:showed|demonstrated|revealed|depicted|had|was|were)"
                    r"|(?:film|study|exam(?:ination)?|radiograph|x-?ray|cxr|image)s?\s+(?:of|from|dated)\s+[^,;]{0,20}?"
                    r"\d[^,;]{0,20}?,?\s*(?:which|that)\s+(?:showed|demonstrated|revealed|depicted|had)"
                    r"|when\s+there\s+(?:was|were))\b.*?(?=,\s*(?:(?:but|and)\s+)?(?:now|today|currently|"
                    r"there\s+(?:is|are)|this\s+(?:film|study|exam)|on\s+(?:this|today)|the\s+current|new)\b|$)",
                    re.IGNORECASE)
# a density that is no disease of this film: one explained away as something outside the lung or as the technique ("The
# apparent right basal haze is accounted for by overlying breast tissue", "An ECG electrode projects over the left mid
# zone", "Crossing rib shadows simulate a density in the right mid zone"), or an old change at rest ("Old healed scar at
# the left base", "Small calcified granuloma at the right apex, stable since 2018"); what the clause states before
# the cue still counts ("Opacity in the left lower zone, on a background of old inactive changes")
_NO_DISEASE = re.compile(
    r"\b(?:simulat\w*|mimic\w*|mistaken\s+for|pseudo-?\w+|arte?i?fact\w*|nipples?|electrodes?|"
    r"not\s+(?:an?\s+)?(?:true\s+)?(?:lung|pulmonary|parenchymal)\b|"
    r"(?:(?:due|related|attributable|secondary)\s+to|relates?\s+to|accounted\s+for\s+by|accounts?\s+for|explained\s+by|"
    r"caused\s+by)[^.;,]{0,30}?\b(?:overl\w+|superimpos\w*|summation|rotat\w*|"
    r"soft[- ]tissues?|breasts?|pectoral\w*|muscles?|bon[ey]\w*|ribs?|clavic\w*|scapul\w*|cartilage|underpenetrat\w*|"
    r"under-?exposure|technique|technical|projection|positioning|vessels?|vascular\w*|skin|hair|clothing)\b|"
    r"(?:is|are)\s+(?:an?\s+)?(?:\w+\s+)?(?:overl\w+|superimpos\w*|summation|bon[ey]|costal|vascular|vessels)\b|"
    r"(?:ecg|ekg)\s+(?:leads?|wires?)|"
    r"(?<![-\w])(?<!year\s)(?<!years\s)old(?!\s+(?:chest\s+)?(?:films?|stud(?:y|ies)|radiographs?|x-?rays?|cxrs?|"
    r"images?|imaging|ones?|reports?|exam\w*|notes?|records?))\b|healed|inactive|long-?standing|calcified|"
    r"of\s+no\s+(?:clinical\s+)?significance)", re.IGNORECASE)
# a word that states a place involved, as a finding does
_INVOLVED_WORD = re.compile(r"(?<!not )(?<!n't )\b(?:involved|affected|involving|involves|diseased)\b", re.IGNORECASE)
# "except (for)", "save for", "apart from", "other than": the places after it are the exception to what the clause says
# of the others
_EXCEPT = re.compile(r"\b(?:except(?:\s+for)?|save\s+for|apart\s+from|other\s+than|with\s+the\s+exception\s+of|"
                     r"excluding|(?:(?<=\beverywhere\s)|(?<=\beverything\s)|(?<=\ball\s)|(?<=\ball\szones\s))but)\b",
                     re.IGNORECASE)
# where an exception's places end: a comma, or the verb of a clause that names the exception before it ("All of the
# right lung except the base is clear")
_EXCEPTION_END = re.compile(r",|\s(?:is|are|was|were|which|that|shows?|has|have)\b", re.IGNORECASE)
# the whole chest before an exception that names no place itself
_EVERYWHERE_BEFORE = re.compile(r"\b(?:everywhere|everything|all)\s*$", re.IGNORECASE)
# the exception said clear after it: "The left lung is involved save for the apex, which is clear"
_WHICH_CLEAR = re.compile(r"\s*,?\s*(?:which|that)\s+(?:is|are|was|were)\s+(?:\w+\s+)?"
                          r"(?:clear|normal|spared|uninvolved|unaffected|free)\b", re.IGNORECASE)
# the parts of a clause that may each hold an exception: "The right lung is clear except for the base, and all of the
# left lung except the base is clear"
_EXCEPTION_PARTS = re.compile(r",\s*(?:and|while|whereas)\s+", re.IGNORECASE)
# the findings that are the disease
_DISEASE = frozenset({"infection", "covid19", "pneumonia", "ground_glass_opacity", "consolidation", "opacity",
                      "crazy_paving"})
# a relative clause about an earlier film: "The left lower zone, which was clear on the admission film, now shows ..."
_EARLIER_STATE = re.compile(r"\b(?:which|that)\s+(?:was|were|had\s+been|looked|appeared)\s+[^,;]{0,40}?"
                            r"\b(?:on|in|at)\s+"
                            r"(?:the\s+)?(?:previous|prior|earlier|admission|last|baseline|old|initial|preceding|"
                            r"first)\s+(?:chest\s+)?(?:film|study|exam(?:ination)?|radiograph|x-?ray|cxr|image)s?\b",
                            re.IGNORECASE)
# a statement about a disease in general, not this film ("COVID-19 typically affects both lower zones", "The typical
# distribution of COVID-19 is bilateral, peripheral and basal"), or a word's meaning ('"Base" means the bottom part of a
# lung', "each lung is divided into upper, middle and lower zones"), unless it says it is about this patient
_GENERAL = re.compile(r"[\"\u201c][^\"\u201d]{1,40}[\"\u201d]\s*"
                      r"(?:means|refers\s+to|is\s+(?:the\s+)?(?:word|term|name)\s+for)\b"
                      r"|\b(?:(?:is|are)\s+divided\s+into|typically|classically|characteristically|usually|commonly|"
                      r"frequently|tends?\s+to|"
                      r"would\s+(?:favou?r|place|make|indicate|point\s+to)|(?:might|would|could|may)\s+expect|"
                      r"(?:is|are)\s+known\s+to|(?:less|more|most|least)\s+typical|atypical|more\s+often|"
                      r"(?:typical|classic(?:al)?|characteristic|usual|expected|recogni[sz]ed)"
                      r"\s+(?:distribution|pattern|locations?|sites?|predilection))\b", re.IGNORECASE)
# the same said of another side: "Also the left", "Same on the left", "Likewise on the right side"
_SAME_ON_SIDE = re.compile(r"^\W*((?:also|same|likewise|similar(?:ly)?|ditto|the\s+same)(?:\s+(?:change|appearances?|"
                           r"findings?|is\s+seen|seen))?\s+(?:on|in|at|for)?\s*(?:the\s+)?)(left|right)(?:\s+(?:side|"
                           r"lung))?\W*$", re.IGNORECASE)
# "they are clear", "You can see these are normal": what a pronoun stands for is cleared (_referred)
_PRONOUN_CLEARED = re.compile(r"^\W*(?:(?:\w+\s+){0,3}?(?:see|note|notice|agree)\s+(?:that\s+)?)?"
                              r"(?:they|these|those|both|"
                              r"all\s+of\s+them|these\s+zones|those\s+zones)\s+(?:are|were|look|appear|seem)\s+"
                              r"(?:\w+\s+)?(?:clear|normal|unremarkable|clean|fine|free)\b", re.IGNORECASE)
# a sentence or its part after a semicolon: what a statement about a disease in general reaches ("The classic pattern is
# bilateral and basal; note that in this case ...": the first part)
_SENTENCE = re.compile(r"[^.?!;\n]+(?:[.?!;]+|$)")
_THIS_PATIENT = re.compile(r"\b(?:this\s+(?:patient|case|film|study|radiograph|exam\w*|image)|here|today|"
                           r"current(?:ly)?|now|there\s+(?:is|are)|"
                           r"(?:is|are)\s+(?:seen|noted|present|demonstrated|visible)|"
                           r"in\s+keeping|consistent|compatible|suggest\w*|"
                           r"such\s+as\s+(?:is|are))\b", re.IGNORECASE)  # "..., such as is commonly seen in pneumonia"
# a legend, not findings: what a form's categories mean, a guide or a teaching point ("Categories:\n Classic/Probable
# COVID-19: lower zone and peripheral predominant ...", "Reminder: lobar consolidation (e.g. the right lower lobe) would
# ..."); a legend alone on its line holds the lines under it that are headed too, up to a heading of findings or places
_LEGEND = re.compile(r"^\s*(?:categories|(?:category\s+)?(?:definitions?|key|legend)|guide|guidance|reminder|"
                     r"teaching(?:\s+points?)?|glossary)\s*:", re.IGNORECASE)
# an e-mail thread: a quoted line of an earlier message ("> I think there is change in the left upper zone"), and
# where the earlier messages below a reply begin ("-----Original Message-----", "On 24 Sep, Dr K wrote:", "From: ...\n
# Sent: ...")
_QUOTED_LINE = re.compile(r"^\s*>")
_EARLIER_MESSAGE = re.compile(r"^\s*(?:-{3,}\s*original message\s*-{3,}|on\s.{3,80}\swrote:)\s*$", re.IGNORECASE)
_MESSAGE_HEADER = re.compile(r"^\s*from:.*\n\s*(?:sent|date):", re.IGNORECASE)
_LABEL = re.compile(r"^\s*([^:\n]{1,40}?)(?::|\s[-\u2013\u2014=]\s)")
_FINDINGS_HEADING = re.compile(r"^\s*(?:(?:lung\s+)?findings?|impression|conclusions?|report|opinion|comments?|summary|"
                               r"results?|interpretation|assessment|[\w ]{0,20}category)\s*:", re.IGNORECASE)
# a negation of what lies outside the lung tissue ("no effusion/PTX"), not of the place named before it
_PLEURAL = re.compile(r"(?:no|not|without)\s+(?:new\s+|pleural\s+)*(?:effusions?|pneumothora\w*|ptx)\b",
                      re.IGNORECASE)
# between a place and the negation that is about it: "Mid zone L: no opacity", "upper zones are not involved", "...
# with preserved transparency"
_HEADING_GAP = re.compile(r"^[\s:\-\u2014\u2013,]*(?:(?:is|are|with)\s+)?$", re.IGNORECASE)
# a row of a table by place ("- Mid zones: right opacity; left clear", "Lower zone - R: opacity | L: normal")
_ROW = re.compile(r"^(\W*)([^:;|]+?)\s*(?::|\u2014|\u2013|\s-\s)\s*(.*[;|].*)$")
_SENTENCE_END = re.compile(r"(?<=\.)\s+")  # a period and a space: the dots of abbreviations are gone by then
# "more marked on the", "worse on the", "greater in the": what follows weighs findings, it does not place them
_COMPARATIVE = re.compile(r"\b(more|worse|greater|most|larger)\b(\s+[a-z]+)?\s+(on|in|at|to)\s+the\s*$"
                          r"|\b(predominantly|predominant|mainly|mostly|chiefly|particularly|especially)\s+"
                          r"(?:(?:on|in|at|to)\s+the\s+)?$", re.IGNORECASE)
_COUNT_VALUES = {"count_zero": 0, "count_one": 1, "count_two": 2, "count_three": 3, "count_four": 4,
                 "count_five": 5, "count_six": 6, "count_seven": 7, "count_eight": 8, "count_nine": 9,
                 "count_multiple": 3}


@dataclass(frozen=True)
class Places:
    involved: frozenset  # (side, zone) cells the report states are involved
    free: frozenset      # cells it states are free
    count: Optional[int] = None  # lesions counted (3 stands for "three or more"); None: not stated
    # sides read as a whole because a side word stands without a zone and no zone is named on that side
    # ("Right-sided opacity"): right when the report means it, a misread where the side word belongs to
    # something the rules do not know ("right heart border is sharp"); ``nnunet-tgc places`` points them out
    whole_sides: frozenset = frozenset()

    @property
    def sides(self) -> frozenset:
        """The sides the report names as involved."""
        return frozenset(side for side, _ in self.involved)


@dataclass
class _Segment:
    sides: set
    zones: set
    cells: set        # cells named by terms that carry both (lobes)
    bare_side: bool   # only side words, nothing else that places it
    last_side_at: Optional[int] = None   # where its last side word is
    first_zone_at: Optional[int] = None  # where its first zone word is
    whole: bool = False  # "all", "entire", "whole": every zone, unless a zone is named beside it
    summary: bool = False  # the sides so far come from a word naming both ("bilateral")
    summary_end: Optional[int] = None  # where that word ends
    continues: bool = False  # joined to the previous segment by a bare "and"/comma ("left mid and lower zones")
    start: Optional[int] = None  # where its first term starts
    end: Optional[int] = None    # where its last term ends

    @property
    def side_first(self) -> bool:
        """The side is named before its zones ("left mid and lower zones"), not after ("lower left lung")."""
        return self.last_side_at is not None and (self.first_zone_at is None or self.last_side_at < self.first_zone_at)


@dataclass
class _Freed:
    """Cells a report states free, kept apart by how the statement names them, because each kind yields to a
    different kind of involved cell."""
    stated: set = field(default_factory=set)   # with a side and a zone of their own: "no right lower zone opacity"
    # a whole side freed ("... but not in the right", "The right lung is clear"): not against a cell a statement
    # places with a side of its own ("both lower zones", "RLL"), only against sides borrowed or assumed
    sides: set = field(default_factory=set)
    # a free zone on its clause's sides ("Opacities in the right lung, sparing the apex", "left upper and middle field
    # and right lower field (middle field not seen abnormal)"): not against a cell stated with a side of its own either
    guessed: set = field(default_factory=set)
    vague: set = field(default_factory=set)    # no side at all ("Hila of normal size"): not against any involved cell

    def cells(self, involved: set, explicit: set) -> set:
        return self.stated | (self.sides - explicit) | (self.guessed - explicit) | (self.vague - involved)


@dataclass
class _Clause:
    positive: list        # its segments stating places involved
    heading_sides: set    # the sides of its heading ("Right lung: upper and mid zones spared, lower zone opacity")
    lateral_view: bool    # it speaks of the lateral view, where no zone has a side


def read_places(text: Optional[str], knowledge: KnowledgeBase) -> Places:
    """The places ``text`` (internal convention) states, read with ``knowledge``'s terms."""
    clauses, freed, report_sides, count = [], _Freed(), set(), None
    finding_asserted = False  # a finding stated, not negated, somewhere in the report
    # a report that came as data is read as its statements; abbreviations as the words they stand for ("R lung, all
    # zones and LLZ": "all zones" is the right lung's)
    spelled = restate(knowledge.spell_out(undotted(records_as_text(markup_as_text(text or "")))))
    for clause, all_free, heading in _clauses(knowledge.unglue(spelled), knowledge):
        positive, negative, clause_count, asserts = _read_clause(clause, knowledge, all_free)
        finding_asserted |= asserts
        heading_sides = {s for _, _, e in knowledge.find(heading) for s in e.sides}
        clauses.append(_Clause(positive, heading_sides, bool(_LATERAL_VIEW.search(clause))))
        # a free zone takes the side of the free places beside it ("no opacity in the right upper, middle or lower
        # zones"), else of its clause's involved places ("the right lung, with the middle third spared"); a free
        # side takes the free zones beside it ("Upper zones: no opacity on both sides")
        clause_sides = {s for seg in positive for s in seg.sides | _sides_of(seg.cells)}
        report_sides |= clause_sides
        _free(negative, clause_sides, freed)
        if count is None:
            count = clause_count
    involved, explicit, whole_sides = _involved(clauses, report_sides)
    free = freed.cells(involved, explicit)
    involved -= free
    if not involved and finding_asserted:
        # a finding stated and placed nowhere ("consolidation in the left lung base The right lung is clear", one
        # unpunctuated dictation): the reads contradict each other, so the report places nothing rather than
        # telling the network that the lesion it states is nowhere
        free = set()
    return Places(frozenset(involved), frozenset(free), count,
                  frozenset(side for side in whole_sides if any(s == side for s, _ in involved)))


def _free(negative: list, clause_sides: set, freed: _Freed) -> None:
    """Add the cells one clause's negated segments free to ``freed``, each by how it names its side."""
    # ... but not zones that continue a side's phrase ("The right upper and mid zones and the left lung are clear")
    free_zones = {z for i, seg in enumerate(negative) if _zones_only(seg) and not _continued_sides(negative, i)
                  for z in seg.zones}
    for i, seg in enumerate(negative):
        if seg.cells and not seg.sides:  # "no RUL opacity", "no opacity in the superior segment of the RLL"
            freed.stated |= seg.cells
            continue
        stated = seg.sides or _borrowed_sides(negative, i)
        sides = stated or clause_sides
        zones = seg.zones or (free_zones if seg.sides else set())
        cells = _cells_of(seg, sides or set(SIDES), zones or set(ZONES))
        if not sides:
            freed.vague |= cells
        elif not stated:
            freed.guessed |= cells
        elif seg.sides and not zones:
            freed.sides |= cells
        else:
            freed.stated |= cells


def _involved(clauses: list, report_sides: set) -> tuple:
    """The involved cells of every clause's positive segments, those of them placed with a side the report states
    (explicit), and the sides read whole (a side named without zones)."""
    involved, explicit, summaries = set(), set(), []
    for clause in clauses:
        segs = clause.positive
        for i, seg in enumerate(segs):
            own = seg.sides
            if clause.lateral_view and not own and not seg.cells:
                continue  # "On the lateral view the opacity projects over the lower lobe": no side, nothing new
            if (seg.summary and seg.zones and seg.side_first
                    and any(o.sides and not o.summary for o in segs if o is not seg)):
                # "Bilateral infection of the middle and lower parts of the right lung, ...": a summary; after its
                # zones it is their side ("the lower zones of the two lungs, and the left mid zone")
                own = set()
            if seg.cells and not own:
                # a zone word beside a lobe and no side word names a part of the lobe ("the superior segment of the
                # RLL", "retrocardiac opacity in the left lower lobe", "the whole LUL"): the lobe's cell
                involved |= seg.cells
                explicit |= seg.cells
                continue
            borrowed = _borrowed_sides(segs, i) or clause.heading_sides  # from the phrase or its heading: stated
            cells = _segment_cells(segs, i, own or borrowed or report_sides or set(SIDES))
            if cells is None:
                summaries.append(seg)
                cells = set()
            involved |= cells | seg.cells
            if own or borrowed:
                explicit |= cells | seg.cells
    whole_sides = set()
    for seg in summaries:  # a side named without zones: the whole side, unless zones are named on it elsewhere
        for side in seg.sides:
            if not any(s == side for s, _ in involved):
                involved |= {(side, z) for z in ZONES}  # not explicit: "The left lung is clear" frees it
                whole_sides.add(side)
    return involved, explicit, whole_sides


def _segment_cells(segs: list, i: int, sides: set) -> Optional[set]:
    """The cells segment ``i`` places on ``sides``: its zones, or zones it shares with its neighbours; None for
    side words alone, which name the whole side unless the report places zones on it elsewhere."""
    seg = segs[i]
    if seg.whole and not seg.zones:
        seg.zones = set(ZONES)
    if seg.zones:
        return _cells_of(seg, sides, seg.zones)
    if seg.bare_side and seg.continues and not (i + 1 < len(segs) and segs[i + 1].continues):
        zones = _zones_before_sides(segs, i)
        if zones:  # "lower lung field right and left", "the upper zones (right and left) and the left base"
            return _cells_of(seg, sides, zones)
    if seg.bare_side and i + 1 < len(segs) and segs[i + 1].zones and not segs[i + 1].cells:
        return _cells_of(seg, sides, _shared_zones(segs, i + 1))
    return None if seg.sides else set()


def _clauses(text: str, knowledge: KnowledgeBase) -> list:
    """(clause, all free, heading) for the text's sentences and clauses. A colon ends a clause unless what precedes
    it is a heading that names a place and states nothing ("Left lung: lower zone opacity. Right lung: clear."):
    the clause then starts with the heading, given again on its own; a row heading is read with each cell of its
    row; every place of a line that lists what is normal is free."""
    clauses, hypotheses = [], False
    placed = False  # a line before named a place: a list of places parted by semicolons may follow (_lists_joined)
    section = ""  # a place alone on its line as a heading ("RIGHT LUNG:"): the lines under it that name no side are its
    for line in [part for whole in _this_films_lines(text, knowledge)
                 for part in ([None] if whole is None else _NORMAL_INLINE.split(whole))]:
        if line is None:  # a context heading ended the section before it
            hypotheses, section = False, ""
            continue
        heading = _SECTION_HEADING.match(line)
        if heading:  # a differential diagnosis or a recommendation names diseases and tests, not findings
            hypotheses = bool(_HYPOTHESES.match(line))
            title = line[:heading.end() - 1]
            if hypotheses or not line[heading.end():].strip():
                section = title if not hypotheses and _is_heading(title, knowledge) else ""
                continue
            if not _is_heading(title, knowledge):
                section = ""  # "IMPRESSION: ...": another section
        elif hypotheses:
            continue
        if section and not any(e.sides for _, _, e in knowledge.find(line)):
            line = f"{section}: {line}"
        line = _SENTENCE.sub(lambda m: "" if _general(m.group(0)) else m.group(0), line)
        normal = _NORMAL_LINE.match(line) or _NEGATIVE_PROMPTS.match(line)
        line = _spread_row(line[normal.end():] if normal else line, knowledge)
        for sentence in _run_on_statements(line, _CLAUSE_END.split(_lists_joined(line, knowledge) if placed else line)):
            parts = sentence.split(":")
            clause, heading = parts[0], ""
            for part in parts[1:]:
                # "Lateral view: ..." too, and a finding that names no place: "Airspace opacity: L lower zone, R lung
                # clear" (the finding is stated before the comma, as in "Airspace opacity L lower zone, R lung clear")
                if (_is_heading(clause, knowledge) or _LATERAL_VIEW.search(clause)
                        or _finding_heading(clause, knowledge)):
                    clause, heading = f"{clause} {part}", clause
                else:
                    clauses.append((clause, bool(normal), heading))
                    clause, heading = part, ""
            clauses.append((clause, bool(normal), heading))
        placed = placed or any(e.sides or e.zones for _, _, e in knowledge.find(line))
    clauses = [(spelled, free, heading) for c, free, heading in _referred(_answered(clauses), knowledge)
               for spelled in _exceptions_spelled("" if _of_no_disease(c, knowledge) else _stated(c), knowledge)]
    return [(c, free, heading) for c, free, heading in clauses if c.strip()]


def _run_on_statements(line: str, sentences: list) -> list:
    """The sentences of ``line``; where the line has not a single punctuation mark, parted where it turns to another
    organ or a device: a run-on note's statements ("PATCHY CONSOLIDATION RIGHT LOWER LOBE HEART NORMAL SIZE NO PTX ETT
    OK"), where "normal" and "no" belong to the heart and the tube, not to the lobe before them."""
    if _PUNCTUATION.search(line):
        return sentences
    return [part for sentence in sentences for part in _TOPIC.split(sentence)]


def _referred(clauses: list, knowledge: KnowledgeBase) -> list:
    """A clause that says the same of another side ("Right lower zone consolidation. Also the left.") as said of the
    zones the clause before names; a clause that clears the places before it by a pronoun ("Now look at the right
    upper zone and the left lung. You can see they are clear.") as that clearing said of them, where the clause
    before names places and states no finding."""
    out = _former_and_latter(list(clauses), knowledge)
    for i, (clause, free, heading) in enumerate(clauses[1:], 1):
        before = out[i - 1][0]
        same = _SAME_ON_SIDE.match(clause)
        zones = [z for _, _, e in knowledge.find(before) if not e.sides for z in e.zones]
        if same and zones and not any(e.sides or e.zones for _, _, e in knowledge.find(same.group(1))):
            # "Right lower zone consolidation. Also the left.": the zones said before, on this side
            said = " and ".join(dict.fromkeys(zones))
            out[i] = (f"{clause[:same.start(2)]}{same.group(2)} {said} zone", free, heading)
            continue
        if (_PRONOUN_CLEARED.match(clause) and not any(e.sides or e.zones for _, _, e in knowledge.find(clause))
                and not any(_states_a_finding(e) for _, _, e in knowledge.find(before))):
            out[i - 1] = (f"{before} clear", out[i - 1][1], out[i - 1][2])
    return out


def _former_and_latter(clauses: list, knowledge: KnowledgeBase) -> list:
    """The clauses with "the former" and "the latter" read as the two places a clause before names and states nothing
    of ("The right lower zone and the left base were compared: the former shows opacification, whereas the latter is
    clear."); that clause is then left out, its places being stated by what refers to them."""
    for i, (clause, free, heading) in enumerate(clauses):
        if not _FORMER_LATTER.search(clause):
            continue
        for j in range(i - 1, max(i - 3, -1), -1):
            pair = _two_places(clauses[j][0], knowledge)
            if pair:
                for k in range(j + 1, min(j + 4, len(clauses))):
                    text, *rest = clauses[k]
                    text = _FORMER_LATTER.sub(lambda m: pair[m.group(1).lower() == "latter"], text)
                    clauses[k] = (text, *rest)
                clauses[j] = ("", clauses[j][1], clauses[j][2])
                break
    return clauses


def _two_places(clause: str, knowledge: KnowledgeBase) -> Optional[tuple]:
    """The two places a clause names, parted by "and", where it states no finding: ("right lower zone", "left base")."""
    found = knowledge.find(clause)
    if any(_states_a_finding(e) for _, _, e in found):
        return None
    places = [(s, e) for s, e, entry in found if entry.sides or entry.zones]
    parts = [k for k in range(len(places) - 1) if re.search(r"\band\b", clause[places[k][1]:places[k + 1][0]])]
    if len(parts) != 1:
        return None
    k = parts[0]
    return clause[places[0][0]:places[k][1]], clause[places[k + 1][0]:places[-1][1]]


_FORMER_LATTER = re.compile(r"\bthe\s+(former|latter)\b", re.IGNORECASE)


def _lists_joined(line: str, knowledge: KnowledgeBase) -> str:
    """A semicolon that parts the items of one list of places as a comma: in "1/3 upper of right lung field; left lung
    field not yet see lesion" what follows is said of both; a semicolon after a statement ends it as before. Only
    after a line that named a place (a report's first "Left lower zone; right lung clear." states its finding first)
    and where the line states no finding before it ("CXR: shadowing B/L LZ; left upper + mid zones; RUL spared" lists
    findings)."""
    parts = line.split(";")
    out, finding_before = [], False
    for part in parts[:-1]:
        found = knowledge.find(part)
        out.append(part + ("," if not finding_before and _bare_places(part, found) else ";"))
        finding_before = finding_before or any(_states_a_finding(e) for _, _, e in found)
    return "".join(out) + parts[-1]


def _bare_places(text: str, found) -> bool:
    """Whether ``text`` (its knowledge terms ``found``) names places and nothing else ("- Right lung field", "third
    upper and third middle of the left lung")."""
    found = [(s, e) for s, e, entry in found if entry.sides or entry.zones]
    rest = text
    for start, end in reversed(found):
        rest = rest[:start] + " " + rest[end:]
    return bool(found) and not _NOT_A_PLACE_WORD.sub(" ", rest).strip()


# what a list of places holds besides them
_NOT_A_PLACE_WORD = re.compile(r"[\W\d_]+|\b(?:the|of|and|in|at|on|a|lungs?|fields?|zones?|thirds?|regions?|parts?|"
                               r"lobes?|sides?|whole|all|entire)\b", re.IGNORECASE)


def _this_films_lines(text: str, knowledge: KnowledgeBase):
    """The lines of ``text`` that may state this film's findings: a legend's lines, an e-mail's quoted lines and the
    earlier messages below a reply left out, and the context's (the request, an earlier film) up to its line's next
    heading or first sentence, with None before where a context heading was."""
    legend = context_next = quoting = False
    lines = text.split("\n")
    for k, line in enumerate(lines):
        following = lines[k + 1] if k + 1 < len(lines) else ""
        # an earlier message quoted in a reply after the line that introduces it ("> ..." elsewhere is a bullet)
        quoting |= bool(_EARLIER_MESSAGE.match(line) and _QUOTED_LINE.match(following))
        if quoting and (_QUOTED_LINE.match(line) or _EARLIER_MESSAGE.match(line)):
            continue
        if _EARLIER_MESSAGE.match(line) or _MESSAGE_HEADER.match(line + "\n" + following):
            return  # a reply's earlier messages below it, unquoted
        label = _LABEL.match(line)  # "Classic/Probable COVID-19: ..." under "Categories:"
        legend = legend and bool(label) and not _FINDINGS_HEADING.match(line) and not _is_heading(
            label.group(1), knowledge)
        opened = _LEGEND.match(line)
        if legend or opened:
            legend = legend or not line[opened.end():].strip()
            continue
        context = CONTEXT_HEADING.match(line)
        if context:
            yield None
            context_next = not line[context.end():].strip()  # "Clinical details:" alone: the request is the next line
            line = line[context.end():]
        elif context_next and not _SECTION_HEADING.match(line):
            context_next = not line.strip()
        else:
            context_next = False
            yield line
            continue
        line = _after_context(line)
        if line.strip():
            yield line


def _after_context(content: str) -> str:
    """What follows the context (a request, an earlier film) on its line: from the next heading ("Clinical details: ?R
    basal pneumonia. Findings: left lower zone opacity") unless what comes before it after the first sentence says
    what the film shows, else after its first sentence and the queried ones right after it ("History: cough. ?R basal
    pneumonia. Left lower zone opacity" leaves the last)."""
    inline = _INLINE_HEADING.search(content)
    sentence = _CONTEXT_SENTENCE.search(content)
    if inline and not (sentence and sentence.end() <= inline.start()
                       and _FILM_SAYS.search(content, sentence.end(), inline.start())):
        return content[inline.end():]
    return content[sentence.end():] if sentence else ""


def _stated(clause: str) -> str:
    """The clause without what it does not state of this film: a condition ("if the left upper zone opacity does not
    clear"), a purpose ("to ensure resolution of ..."), what an earlier film showed or how a place looked on it, a
    sign of the examination."""
    blank = lambda m: " " * len(m.group(0))  # noqa: E731 -- positions stay those of the clause
    clause = _EARLIER_STATE.sub(blank, _PRIOR.sub(blank, _CONDITION.sub(blank, clause)))
    for sign in _SIGN.finditer(clause):  # the examination's sign, from the statement's part before it to the next
        parts = list(_STATEMENT_PART.finditer(clause))
        start = max((p.end() for p in parts if p.end() <= sign.start()), default=0)
        end = min((p.start() for p in parts if p.start() >= sign.end()), default=len(clause))
        clause = clause[:start] + " " * (end - start) + clause[end:]
    return clause


def _exceptions_spelled(clause: str, knowledge: KnowledgeBase) -> list:
    """A clause that states places with an exception ("The right lung is clear except for the base", "Opacity in all
    zones except the left apex", "The left lung is involved save for the apex, which is clear") as clauses that name
    each cell, what the clause says of the others first ("right upper zone, right middle zone clear", "right lower zone
    involved"); [clause] where it holds none."""
    if not _EXCEPT.search(clause):
        return [clause]
    return [spelled for part in _EXCEPTION_PARTS.split(clause) for spelled in _exception_spelled(part, knowledge)]


def _exception_spelled(part: str, knowledge: KnowledgeBase) -> list:
    cue = _EXCEPT.search(part)
    if not cue:
        return [part]
    end = _EXCEPTION_END.search(part, cue.end())
    stop = end.start() if end else len(part)
    said_clear = _WHICH_CLEAR.match(part, stop)
    rest = part[:cue.start()] + " " + part[said_clear.end() if said_clear else stop:]
    named = _cells_named(rest, knowledge, set(SIDES), set(ZONES))
    if not named and _EVERYWHERE_BEFORE.search(part, 0, cue.start()):
        named = {(side, zone) for side in SIDES for zone in ZONES}  # "involves everything but the left upper zone"
    exception = _exception_cells(part[cue.end():stop], knowledge, _sides_of(named) or set(SIDES))
    if not exception:
        return [part]
    others = named - exception
    clearing = not said_clear and bool(_NEGATION_BEFORE.search(rest) or _NEGATION_AFTER.search(rest)
                                       or _CLEAR_BEFORE.search(rest))
    words = lambda cells: ", ".join(f"{side} {zone} zone" for side, zone in sorted(cells))  # noqa: E731
    return [f"{words(others)} {'clear' if clearing else 'involved'}" if others else "",
            f"{words(exception)} {'involved' if clearing else 'clear'}"]


def _exception_cells(text: str, knowledge: KnowledgeBase, default_sides: set) -> set:
    """The cells an exception names: read as a statement where it names a side ("apart from opacity in the left mid
    zone and the right lower zone" pairs each zone with its side), else its zones on ``default_sides`` ("except the
    base" is the base of the sides the clause names)."""
    if any(entry.sides for _, _, entry in knowledge.find(text)):
        return set(read_places(text, knowledge).involved)
    return _cells_named(text, knowledge, default_sides, set())


def _cells_named(text: str, knowledge: KnowledgeBase, default_sides: set, side_only_zones: set) -> set:
    """The cells a stretch of a clause names: its lobes, and its sides with its zones (``default_sides`` where it names
    a zone of no side: an exception's "except the base" is the base of the sides the clause names). A side named alone
    is the whole side (``side_only_zones``: the zones of such a side; none in an exception, "all zones except the
    left" is not read)."""
    found = [e for _, _, e in knowledge.find(text) if e.sides or e.zones]
    cells = {(s, z) for e in found if e.sides and e.zones and len(e.sides) == 1 for s in e.sides for z in e.zones}
    sides = {s for e in found if e.sides and not (e.zones and len(e.sides) == 1) for s in e.sides}
    zones = {z for e in found if e.zones and not (e.sides and len(e.sides) == 1) for z in e.zones}
    if not (sides or zones):
        return cells
    return cells | {(s, z) for s in (sides or default_sides) for z in (zones or side_only_zones)}


def _of_no_disease(clause: str, knowledge: KnowledgeBase) -> bool:
    """Whether a clause speaks of a density that is no disease of this film (_NO_DISEASE), states the disease, not
    negated, nowhere before it says so, and frees no place itself."""
    cue = _NO_DISEASE.search(clause)
    if not cue:
        return False
    found = knowledge.find(clause)
    negated, cleared = _negated_spans(clause, found)
    if any(a <= s < b for s, _, e in found if e.sides or e.zones for a, b in negated + cleared):
        return False  # "right upper zone judged NOT involved (nipple shadow)": the clause frees its place itself
    return not any(e.id in _DISEASE and s < cue.start() and not any(a <= s < b for a, b in negated)
                   for s, _, e in found)


def _general(sentence: str) -> bool:
    """Whether a sentence speaks of a disease in general, not of this film."""
    return bool(_GENERAL.search(sentence)) and not _THIS_PATIENT.search(sentence)


def _answered(clauses: list) -> list:
    """The clauses with a question the next one answers read as what the answer says of it: "Is there consolidation
    in the left lower zone? Yes." -> "consolidation in the left lower zone"; a no leaves the question out."""
    out = list(clauses)
    for i, ((clause, free, heading), (answer, _, _)) in enumerate(zip(clauses, clauses[1:])):
        said = _ANSWER.match(answer)
        if not said or not (_YES_NO_QUESTION.match(clause) or clause.rstrip().endswith("?")):
            continue
        opening = re.match(_QUESTION_OPENING, clause, re.IGNORECASE)
        question = clause[opening.end() if opening else 0:].rstrip(" ?")
        out[i] = (question if said.group(1) else "", free, heading)
    return out


def _spread_row(line: str, knowledge: KnowledgeBase) -> str:
    """A table row by place, as sentences: "- Mid zones: right opacity; left clear" -> "Mid zones right opacity.
    Mid zones left clear." (other lines as they are). A row ends with its sentence: in "Left lung: upper zone
    opacity; lower zone clear. Right lung: upper zone clear; lower zone clear." each heading is its own row's."""
    return " ".join(_spread_sentence(sentence, knowledge) for sentence in _SENTENCE_END.split(line))


def _spread_sentence(line: str, knowledge: KnowledgeBase) -> str:
    row = _ROW.match(line)
    if not row or not _is_heading(row.group(2), knowledge):
        return line
    return " ".join(f"{row.group(2)} {cell.strip()}." for cell in re.split(r"[;|]", row.group(3)) if cell.strip())


def _is_heading(text: str, knowledge: KnowledgeBase) -> bool:
    """Places and no finding ("Right lung", "Mid zone L"), ending with its places: "the hazy patch at the bottom of the
    right lung comment: the left lung looks clear" is a statement and a remark, not a heading."""
    places, finding = _places_and_finding(text, knowledge)
    if not places or finding is not False:
        return False
    last = max(end for _, end, entry in knowledge.find(text) if entry.sides or entry.zones)
    return bool(_HEADING_END.fullmatch(text[last:]))


# what may follow a heading's places: "Right lung:", "Mid zone - L:", "Left lower zone (PA view):", the rest of a
# bracket its last place is in ("Left apical (apikal links):")
_HEADING_END = re.compile(r"(?:[^()]*\))?(?:[\W\d_]|\([^()]*\)|"
                          r"\b(?:zones?|fields?|lungs?|sides?|lobes?|regions?|findings?|only|"
                          # ... and a form's "Right lung affected:", "Left lung - zones involved:"
                          r"affected|involved|involvement)\b)*")


def _finding_heading(text: str, knowledge: KnowledgeBase) -> bool:
    """A few words that state a finding and name no place ("Airspace opacity", "Key finding: consolidation")."""
    if len(text.split()) > 4:
        return False
    places, finding = _places_and_finding(text, knowledge)
    return finding is True and not places


def _places_and_finding(text: str, knowledge: KnowledgeBase):
    """(whether ``text`` names a place, whether it states a finding), the second None where it negates or clears
    anything: the two kinds of heading are statements without a negation."""
    found = [entry for _, _, entry in knowledge.find(text)]
    negates = bool(_NEGATION_BEFORE.search(text) or _NEGATION_AFTER.search(text))
    return (any(e.sides or e.zones for e in found),
            None if negates else any(_states_a_finding(e) for e in found))


def _states_a_finding(entry: Entry) -> bool:
    """A finding that is there ("opacity"), not one stated absent ("no infection", "normal")."""
    return entry.category == "finding" and not any(
        _NEGATION_BEFORE.match(t) or _NEGATION_AFTER.search(t) for t in entry.terms)


def _negated_spans(clause: str, found) -> tuple:
    """(after each negation cue, before each clearing word): the (start, end) stretches of ``clause`` whose places are
    free. A stretch runs to the clause's end (back to its start), or to the nearest part of a statement (a comma, " / ",
    a spaced dash, an "and" that opens what the film shows) beyond which a finding is stated: a finding there is a
    statement of its own, not more of the negated list."""
    parts = [m.start() for m in _STATEMENT_PART.finditer(clause)]
    bounds = [0] + parts + [len(clause)]
    stated = [start for start, _, entry in found if _states_a_finding(entry)]
    stated += [m.start() for m in _INVOLVED_WORD.finditer(clause)]  # "The right lung is involved, and the left clear"

    def states(a, b):
        return any(a <= s < b for s in stated)

    negated, cleared = [], []
    side_phrases = _side_phrase_starts(clause, found)
    for cue in [*_NEGATION_BEFORE.finditer(clause), *_CLEAR_BEFORE.finditer(clause)]:
        ends = [c for c, nxt in zip(parts, bounds[2:]) if c > cue.start() and states(c, nxt)]
        # a negation in brackets ends with them: "the right upper and lower zones (sparing the right mid zone) and
        # the left lower zone"
        if _open_bracket(clause, cue.start()) is not None and ")" in clause[cue.end():]:
            ends = sorted(ends + [clause.index(")", cue.end())])
        end = ends[0] if ends else len(clause)
        # what is denied lies outside the lungs and no lung finding is: its places say where it would be ("No
        # effusion in the left base", "no drain at the right apex"), not that the lung there is clear
        terms = [x for s, _, x in found if cue.end() <= s < end]
        if not (terms and terms[0].category == "extrapulmonary" and not states(cue.end(), end)):
            negated.append((cue.start(), end))
    # a clearing word reaches back to a statement's comma, a "with" ("..., with the middle third spared") or a
    # "rest"/"otherwise" (what it clears is then what the report has not named)
    for cue in _NEGATION_AFTER.finditer(clause):
        if _PARTLY.search(clause, 0, cue.start()):
            continue  # "has largely cleared": some of it is still there
        starts = [c for prev, c in zip(bounds, parts) if c < cue.start() and states(prev, c)]
        # ... or to a comma after a finding that a side opens the clearing word's subject after ("Consolidation in the
        # right upper, mid and lower zones, left lung clear")
        starts += [c for c in parts if c < cue.start() and states(0, c) and any(
            x.sides and s < cue.start() and _SUBJECT_OPENS.fullmatch(clause, c, s) for s, _, x in found)]
        # (a "with" right before the clearing word is part of it: "... and the whole left hemithorax with preserved
        # transparency")
        starts += [w.start() for w in _WITH.finditer(clause, 0, cue.start())
                   if any(w.end() <= p < cue.start() and (x.sides or x.zones) for p, _, x in found)]
        # (searched in the whole clause: its look-ahead must see the clearing word after "remaining")
        starts += [r.end() for r in _REST.finditer(clause) if r.end() <= cue.start()]
        # a structure outside the lungs named before it is what it clears: "consolidation in the left base the heart is
        # normal in size" (a dictation without stops)
        starts += [e for _, e, x in found if x.category == "extrapulmonary" and e <= cue.start()]
        # ... and so is a new subject right after a place: "opacity in both lower lobes the upper lungs are clear"
        starts += [m.start() for _, e, x in found if (x.sides or x.zones) and e < cue.start()
                   for m in [_NEW_SUBJECT.match(clause, e)] if m and m.start() < cue.start()]
        # ... and a side that opens a phrase of its own right after a place's noun: "R lower zone (1 patch) L lung
        # clear" (a note's lines joined), not "lower left lung clear" nor "lower zones bilaterally clear"
        starts += [s for s in side_phrases if s < cue.start()]
        # a finding stated before places that the clearing word follows ends the stretch before it: "lingula + LLL -
        # consol UZs clear" (a bullet and the line after it); "RLZ opacity has cleared" clears its place
        starts += [e for s, e, _ in found if s in stated and e < cue.start()
                   and any(e <= p < cue.start() and (x.sides or x.zones) for p, _, x in found)]
        # the angles or hila it follows are all it clears: "RIGHT MID ZONE ONE PATCH ANGLES CLEAR" (a run-on note)
        starts += [_with_sides_before(clause, found, a) for a, e, x in found if x.id in _PLACES_WHEN_INVOLVED
                   and e <= cue.start() and _JUST_BEFORE.fullmatch(clause, e, cue.start())]
        if _EDGE_WORD.fullmatch(cue.group(0)):
            # an edge's word clears the angle or border named before it, not more of a list: "also right lower zone,
            # costophrenic angles sharp"
            starts += [c for c in parts if c < cue.start()][-1:]
        opened = _open_bracket(clause, cue.start())
        if opened is not None:
            starts.append(opened)  # "opacification L UZ + LZ (L MZ spared)": what the brackets hold
        trailing = _TRAILING_SIDES.match(clause, cue.end())
        zones_after = _zones_after(clause, found, cue.end())
        cleared.append((max(starts, default=0), trailing.end() if trailing else zones_after or cue.start()))
    return negated, cleared


def _with_sides_before(clause: str, found, at: int) -> int:
    """Where the place starting at ``at`` starts with the side words right before it ("Both costophrenic angles")."""
    for start, end, entry in reversed(found):
        if end <= at and entry.sides and not entry.zones and not clause[end:at].strip():
            at = start
    return at


def _zones_after(clause: str, found, at: int) -> Optional[int]:
    """Where the zones that end a clause right after its clearing word end ("The right lung is clear upper zone and
    lower zone", "Right lung clear in the upper zone"): zones without a side of their own, joined by "and" or commas,
    and nothing else to the clause's end; None otherwise ("Left lung clear right base" places the right base)."""
    after = [(s, e, x) for s, e, x in found if s >= at]
    if not after or any(x.sides or not x.zones for _, _, x in after):
        return None
    gaps = [clause[a:b] for a, b in zip([at] + [e for _, e, _ in after], [s for s, _, _ in after])]
    if not _ZONE_GAP.fullmatch(gaps[0]) or not all(_ZONE_LIST_GAP.fullmatch(g) for g in gaps[1:]):
        return None
    return after[-1][1] if _CLAUSE_REST.fullmatch(clause, after[-1][1]) else None


def _side_phrase_starts(clause: str, found) -> list:
    """Where a place term of one side opens a phrase of its own right after the place term before it (nothing but a
    bracketed aside between them): one that ends a phrase (not "lower" or "whole" before a noun) of the other side
    ("R lower zone (1 patch) L lung clear"; "left lung base left lung clear" contradicts itself and stays one
    stretch)."""
    starts, sides_before = [], set()
    placed = [(s, e, x) for s, e, x in found if x.sides or x.zones]
    for (start, end, before), (at, _, entry) in zip(placed, placed[1:]):
        sides_before = set(before.sides) or sides_before  # the sides of the last place term that has any
        if (len(entry.sides) == 1 and sides_before and not sides_before & set(entry.sides)
                and clause[start:end].lower() not in _PHRASE_MODIFIERS and _ASIDE.fullmatch(clause, end, at)):
            starts.append(at)
    return starts


def _open_bracket(clause: str, at: int) -> Optional[int]:
    """Where the bracket that is open at ``at`` opens, or None."""
    opened = clause.rfind("(", 0, at)
    return opened if opened > clause.rfind(")", 0, at) else None


def _read_clause(clause: str, knowledge: KnowledgeBase, all_free: bool = False):
    """-> (involved segments, free segments, count, whether a finding is stated and not negated) of one clause
    (``all_free``: of a line listing what is normal)."""
    asked = _YES_NO_QUESTION.match(clause)  # '"Is it in both lungs?"': asked, not stated
    if asked:
        clause = " " * asked.end() + clause[asked.end():]
    found = knowledge.find(clause)
    negated, cleared = _negated_spans(clause, found)
    if all_free:
        negated = [(0, len(clause))]
    asserts = any(_states_a_finding(e) and not any(a <= s < b for a, b in negated) for s, _, e in found)
    positive, negative, count = [], [], None
    previous_end = {True: None, False: None}
    previous_zone_end = {True: None, False: None}
    pleural_only = []  # free stretches that name only a costophrenic angle
    for k, (start, end, entry) in enumerate(found):
        if entry.id in _COUNT_VALUES:
            if count is None and not any(a <= start < b for a, b in negated):
                count = _COUNT_VALUES[entry.id]
            continue
        if not (entry.sides or entry.zones) or _weighs_only(clause, found, k) or _names_no_lung(clause, found, k):
            continue
        spans = [(a, b) for a, b in negated + cleared if a <= start and end <= b]
        is_free = bool(spans)
        if is_free and entry.id in _PLACES_WHEN_INVOLVED:
            pleural_only += spans  # "costophrenic angles sharp": no effusion, not a clear lower zone
            continue
        if entry.id in _PLACES_ONLY_WITH_A_FINDING and not asserts:
            continue
        if is_free and not entry.zones and any(a <= start and end <= b for a, b in pleural_only):
            continue  # "... sinus free on both sides": the sides of that statement
        if is_free and not entry.zones and _sides_of_hilum_or_angle(clause, found, k):
            continue  # "Left and right hila normal", "Right costophrenic angle clear": no lung zone freed
        segments = negative if is_free else positive
        last = previous_end[is_free]
        if not segments or last is None or _SEPARATOR.search(clause[last:start]):
            gap = clause[last:start] if last is not None else None
            side_alone = bool(entry.sides) and not entry.zones
            joined = gap is not None and bool(
                _BARE_JOIN.fullmatch(gap) or side_alone and _BRACKET_JOIN.fullmatch(gap)
                or side_alone and not _side_word(clause, (start, end, entry)) and _BARE_JOIN_THE.fullmatch(gap))
            segments.append(_Segment(set(), set(), set(), True, continues=joined))
        _add(segments[-1], entry, start, end)
        if entry.zones and segments[-1].summary and _OWN_ZONES.match(clause[segments[-1].summary_end:start]):
            # "both lower zones", "the bilateral lower lobes", "both lungs from the mid zones to the bases": the zones'
            # own sides
            segments[-1].summary = False
        zone_before = previous_zone_end[is_free]  # "from the right apex down to the right costophrenic angle"
        if zone_before is not None and entry.zones and _RANGE.match(clause[zone_before:start]):
            segments[-1].zones |= _zones_between(segments[-1].zones)
        previous_end[is_free] = end
        if entry.zones:
            previous_zone_end[is_free] = end
    _negate_headings(clause, found, negated, asserts, positive, negative)
    _leave_sides_of_other_structures(clause, found, positive)
    return positive, negative, count, asserts


def _leave_sides_of_other_structures(clause: str, found, positive: list) -> None:
    """A clause about a structure outside the lungs that states no finding places no lung by side words alone
    ("The heart shadow is widened to the left", "Trachea deviated to the right", "Both domes of diaphragm are
    normal"), nor by a place that says where the structure is ("Trachea in the middle", "Drain in the left base"; not
    "from the root to the diaphragm (middle and lower thirds)"), nor where a device's tip lies ("A right chest drain
    is in situ with its tip directed towards the right apex")."""
    structures = [end for _, end, e in found if e.category == "extrapulmonary"]
    if any(_states_a_finding(e) for _, _, e in found) or not structures:
        return
    positive[:] = [seg for seg in positive if not (
        not seg.zones and not seg.cells and not seg.whole
        or any(_POSITION_OF.fullmatch(clause, end, seg.start) or _TIP.search(clause[end:seg.start])
               for end in structures if end <= seg.start))]


def _negate_headings(clause: str, found, negated, asserts: bool, positive: list, negative: list) -> None:
    """In a clause that states no finding (``asserts``: one stated, not negated), the places a negation is about are
    free: a side named alone before it ("Right lung - well aerated, no opacity."; "L lung: no focal abnormality."),
    or any place right before it ("Mid zone L: no opacity")."""
    if not negated or asserts:
        return
    first = min(a for a, _ in negated)
    if _NOTHING_ELSE.match(clause, first):  # "the right lung base, nothing else acute": the rest is clear, not it
        return
    if _SPARING.match(clause, first):  # "... extends into the left mid zone, stopping short of the left apex"
        return
    contrast = _CONTRAST.match(clause, first)  # "The left upper zone, not the right upper zone": only the latter
    if contrast and any(s == contrast.end() and (e.sides or e.zones) for s, _, e in found):
        return
    ends = [e for s, e, _ in found if s < first]
    right_before = (bool(ends) and bool(_HEADING_GAP.match(clause[max(ends):first]))
                    and not _PLEURAL.match(clause, first))  # "RLL and LLL, no effusion": the pleura's negation
    listed = _listed_before(clause, positive) if right_before else []
    for seg in [seg for seg in positive if seg.bare_side and seg.last_side_at is not None and seg.last_side_at < first
                or seg in listed]:
        positive.remove(seg)
        negative.append(seg)


def _listed_before(clause: str, positive: list) -> list:
    """The clause's last place and the places listed with it: "The upper and middle thirds of the right hemithorax and
    the whole left hemithorax without alterations" is said of the whole list, which an "and" closes; a comma alone
    does not make one ("Lower zones bilaterally, left upper zone clear": the clearing word is the last place's)."""
    listed = positive[-1:]
    closed = False
    for before, seg in zip(reversed(positive[:-1]), reversed(positive)):
        gap = clause[before.end:seg.start]
        if not _LIST_JOIN.fullmatch(gap):
            break
        closed |= "," not in gap or bool(re.search(r"\band\b|&|\+", gap))
        listed.insert(0, before)
    return listed if closed else positive[-1:]


def _names_no_lung(clause: str, found, k: int) -> bool:
    """Whether the k-th term modifies a part of the body outside the lungs right after it ("the lower superior vena
    cava", "upper left arm") or two words on ("the left 8th posterolateral rib", "left-sided dual-chamber
    pacemaker"), also through the place words right after it ("upper left central incisor"): the knowledge base's
    extrapulmonary terms."""
    if k + 1 == len(found):
        return False
    words = _GAP_WORD.findall(clause[found[k][1]:found[k + 1][0]])
    after = found[k + 1][2]
    if after.category != "extrapulmonary":  # through a side or level word only ("upper left", not "left base")
        return (not words and clause[found[k + 1][0]:found[k + 1][1]].lower() in _MODIFIERS
                and _names_no_lung(clause, found, k + 1))
    return (len(words) <= 2 and not any(w.lower() in _RELATION_WORDS for w in words)
            and not any(c in w for w in words for c in ",;:/")  # "both LZs, creps. Calves SNT": another statement
            and not any(w in ("-", "\u2013", "\u2014") for w in words))  # "left base - heart size ok": so is a dash


def _sides_of_hilum_or_angle(clause: str, found, k: int) -> bool:
    """Whether the k-th term is a side word of a hilum or a costophrenic angle named right after it, also through other
    side words ("Left and right hila", "both costophrenic angles")."""
    j = k + 1
    while _side_word(clause, found[j - 1]) and j < len(found) and _SIDES_JOIN.fullmatch(
            clause[found[j - 1][1]:found[j][0]]):
        if found[j][2].id in _PLACES_WHEN_INVOLVED:
            return True
        j += 1
    return False


def _side_word(clause: str, term) -> bool:
    """Whether a term is a side word alone ("left", "R", "both"), not a side's lung ("right lung", "both lungs")."""
    start, end, entry = term
    return bool(entry.sides) and not entry.zones and not any(c.isspace() for c in clause[start:end])


_SIDES_JOIN = re.compile(r"\s*(?:,|&|and|/)?\s*", re.IGNORECASE)
_GAP_WORD = re.compile(r"[^\s]+")
# side and level words that modify what follows them ("upper left central incisor"); "base", "apex" name places
_MODIFIERS = {"upper", "lower", "left", "right", "mid", "middle"}
# ... and with the words of extent, those that open a place's phrase rather than end it ("whole left lung")
_PHRASE_MODIFIERS = _MODIFIERS | {"whole", "entire", "both", "all", "bilateral"}
# words that relate a place to a structure rather than name part of it ("left of the heart border")
_RELATION_WORDS = {"of", "the", "to", "in", "at", "on", "near", "beside", "behind", "along", "adjacent", "with", "and",
                   "or", "is", "are", "from", "by", "over", "above", "below", "under", "obscuring", "abutting",
                   # what parts a place from a thing denied or added after it: "the left lower lobe without effusion"
                   "without", "no", "not", "nor", "but", "plus", "than", "into", "within"}


def _weighs_only(clause: str, found, k: int) -> bool:
    """Whether the k-th term is a side word that weighs findings placed before it in its clause ("lower zones, more
    marked on the left", "both bases, predominantly on the left"): a comparative right before it, and no place of
    its own phrase after it. With nothing placed before it ("Patchy opacities, predominantly on the left") the side
    is the only place the clause states, and it places."""
    start, end, entry = found[k]
    if not entry.sides or entry.zones or not any(e.sides or e.zones for _, _, e in found[:k]):
        return False
    before = clause[found[k - 1][1] if k else 0:start]
    later = [s for s, _, e in found[k + 1:] if e.sides or e.zones]
    return bool(_COMPARATIVE.search(before)) and (not later or bool(_SEPARATOR.search(clause[end:later[0]])))


def _add(seg: _Segment, entry: Entry, at: int, end: int) -> None:
    seg.start = at if seg.start is None else seg.start
    seg.end = end
    if entry.sides and entry.zones:  # a lobe: its own cell
        seg.cells |= {(s, z) for s in entry.sides for z in entry.zones}
        seg.bare_side = False
        return
    if entry.sides:
        seg.last_side_at = at
    if entry.zones and set(entry.zones) != set(ZONES) and seg.first_zone_at is None:
        seg.first_zone_at = at  # not "diffuse": "Diffuse left lung opacity (upper, mid ...)" names the side first
    if entry.sides:
        # "Bilateral infection of the whole left lung ...": a summary of both sides does not widen a side
        # the same phrase names
        both, named = set(entry.sides) == set(SIDES), set(seg.sides)
        if not both and named == set(SIDES) and seg.summary:
            seg.sides = set()
        if not (both and named):
            seg.sides |= set(entry.sides)
        seg.summary = both and not named
        seg.summary_end = end
    if set(entry.zones) == set(ZONES):  # "all lower left lung": the named zone, not every zone
        seg.whole = True
    else:
        seg.zones |= set(entry.zones)
    if entry.zones or entry.category != "side":
        seg.bare_side = False


def _shared_zones(segs, i: int) -> set:
    """The zones of segment i and of the zone-only segments that continue it: "left and right upper and mid zones"."""
    zones = set(segs[i].zones)
    for seg in segs[i + 1:]:
        if not seg.continues or seg.sides or seg.cells or not seg.zones:
            break
        zones |= seg.zones
    return zones


def _side_after_zones(seg: _Segment) -> bool:
    """Whether a segment names its zones, then its side ("lower lung field right")."""
    return bool(seg.zones and seg.sides and not seg.cells and not seg.side_first)


def _zones_between(zones: set) -> set:
    named = [ZONES.index(z) for z in zones]
    return set(ZONES[min(named):max(named) + 1])


def _sides_of(cells) -> set:
    return {side for side, _ in cells}


def _cells_of(seg: _Segment, sides, zones) -> set:
    return {(s, z) for s in sides for z in zones} | seg.cells


def _borrowed_sides(segs, i: int) -> set:
    """The sides of a segment that names zones only: a following phrase that names its side after its zones ("upper
    and middle zones of the left lung"), a previous "left mid" that continues ("left mid and lower zones"); otherwise
    the next segment with a side ("upper and lower left lung"), then the previous ones."""
    k = i + 1  # on over zones listed before the side they share ("right mid zone, upper and middle zones of the left
    # lung")
    while k < len(segs) and segs[k].continues and _zones_only(segs[k]):
        k += 1
    if k < len(segs) and k > i and segs[k].continues and segs[k].sides and not segs[k].side_first:
        return segs[k].sides
    continued = _continued_sides(segs, i)
    if continued:
        return continued
    trailing = _trailing_sides(segs, k) if k > i else set()
    if trailing:
        return trailing
    for j in list(range(i + 1, len(segs))) + list(range(i - 1, -1, -1)):
        if segs[j].sides:
            return segs[j].sides
        if segs[j].cells:
            return _sides_of(segs[j].cells)
    return set()


def _trailing_sides(segs, k: int) -> set:
    """The sides named alone right after zones, from segment ``k`` on: "the lower zones, right and left"."""
    sides = set()
    while k < len(segs) and segs[k].continues and segs[k].bare_side:
        sides |= segs[k].sides
        k += 1
    return sides


def _zones_before_sides(segs, i: int) -> set:
    """The zones that a side named alone after them shares: "lower lung field right and left", "the mid and lower
    zones, right and left"."""
    j = i
    while j > 0 and segs[j].continues and segs[j].bare_side:
        j -= 1
        if _side_after_zones(segs[j]):
            return segs[j].zones
        if _zones_only(segs[j]):  # not the zones of a side-first phrase: "the right upper and mid zones and the left"
            return set() if _continued_sides(segs, j) else _shared_zones(segs, j)
    return set()


def _continued_sides(segs, i: int) -> set:
    """The sides of a side-first phrase that segment ``i``'s zones continue ("left upper, middle and lower")."""
    j = i  # back over zones that continue one phrase
    while j > 0 and segs[j].continues and _zones_only(segs[j - 1]):
        j -= 1
    if j > 0 and segs[j].continues and segs[j - 1].sides and segs[j - 1].side_first:
        return segs[j - 1].sides
    return set()


def _zones_only(seg: _Segment) -> bool:
    return not seg.sides and not seg.cells and bool(seg.zones)


def place_vector(places: Places) -> list:
    """The place map's input (``PLACE_VECTOR_SIZE`` numbers): per cell of :data:`CELLS`, 1 where the
    lesions may be (the involved cells; a report that places nothing: every cell it does not state
    free), then 1 if the report places nothing. The count is not part of it (``model/place_map.py``)."""
    placed = bool(places.involved)
    active = [float(c in places.involved) if placed else float(c not in places.free) for c in CELLS]
    return active + [0.0 if placed else 1.0]


@lru_cache(maxsize=1)
def _default_knowledge() -> KnowledgeBase:
    return KnowledgeBase.load()


def named_sides(text: Optional[str], knowledge: Optional[KnowledgeBase] = None) -> frozenset:
    """The sides (``"left"``/``"right"``, internal convention) a report names as involved: the one rule
    for "which sides a report names" (side share, report categories, ``check``)."""
    return read_places(text, knowledge or _default_knowledge()).sides
