"""Reports that come as a marked-up document, restated as the plain lines the reader of places reads.

A report is pasted in the document it came in: an e-mail's HTML (Outlook's MsoNormal paragraphs, a Gmail reply
quoting the message before it, a RIS's notification with its tables), an RTF export, a LaTeX case file, a wiki page's
MediaWiki source (an infobox, tables, a talk page's signed replies) or an Org note. Its markup hides its words
("&nbsp;", "\\b0", "'''") and the layout the reader needs: where a statement, a heading or a table's row ends.
:func:`markup_as_text` restates such a text as its words, a line where the document ends one (a paragraph, a list
item, a heading as "Heading:", a table's row as its cells between pipes, as :mod:`.restatement` reads a Markdown
table), without what is no text of the report (styles, fonts, a preamble, a drawer, a signature). Any other text, a
data export :mod:`.records` reads (JSON, XML) too, is returned as it is. The text comes normalised: the markup's own
line ends (tags, control words, "\\\\", "|-"), not the source's line breaks, say where its lines end.
"""
from __future__ import annotations

import codecs
import html
import re
from html.parser import HTMLParser
from xml.etree import ElementTree

from .records import json_document


def markup_as_text(text: str) -> str:
    """``text`` as plain lines where it is an RTF, LaTeX, MediaWiki, Org or HTML document; else as it is (a JSON
    document too, whose strings may hold HTML: a FHIR resource's narrative; :mod:`.records` reads it)."""
    if not _RTF.match(text) and json_document(text) is not None:
        return text
    for looks_like, as_text in ((_RTF.match, _rtf_as_text), (_LATEX.search, _latex_as_text),
                                (_WIKI.search, _wiki_as_text), (_ORG.search, _org_as_text), (_is_html, _html_as_text)):
        if looks_like(text):
            return _tidy(as_text(text))
    return text


def _row(cells: list) -> str:
    """A table's row as a line: its cells framed and parted by pipes ("| Upper | - | + |"), as a Markdown table
    writes it and :mod:`.restatement` reads it; a row of one cell (a layout's table) as its text."""
    cells = [cell.strip() for cell in cells]
    return f"| {' | '.join(cells)} |" if len(cells) > 1 else "".join(cells)


def _tidy(text: str) -> str:
    """Lines with their whitespace collapsed, empty ones left out."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _is_html(text: str) -> bool:
    """Whether ``text`` is HTML: it has HTML's own tags and is no other XML document (an HL7 CDA document's narrative
    has tables too, a RIS's XML export has its own tags: :mod:`.records` and :mod:`.restatement` read those)."""
    if not _HTML_TAG.search(text) or text.lstrip().startswith("<?xml") or "ClinicalDocument" in text:
        return bool(_HTML_DOCUMENT.search(text))
    try:
        root = ElementTree.fromstring(text.strip())
    except (ElementTree.ParseError, ValueError):
        return True  # "<br>", "&nbsp;": HTML, which is no XML
    return root.tag.rpartition("}")[2].lower() in _HTML_ROOTS


def _html_as_text(text: str) -> str:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    return "\n".join(parser.lines + [_row(parser.cells)])


class _HtmlText(HTMLParser):
    """An HTML document's text: a block's end ends a line, a table's row is a line of its cells, a list item opens with
    "- ", and a line quoted from an earlier message (a blockquote: Gmail's, Outlook's) opens with "> ", as a reply in
    plain text quotes it and the reader of places leaves it out. What a browser does not show (a script, a style, the
    head) is left out."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines, self.hidden, self.quoted = [], 0, 0
        self.cells, self.opened = [""], 0  # the line's cells (one where it is no table's), and how many opened

    def end_line(self):
        said = _SPACES.sub(" ", _row(self.cells)).strip()
        if said.strip("| "):
            self.lines.append("> " * self.quoted + said)
        self.cells, self.opened = [""], 0

    def handle_starttag(self, tag, attrs):
        if tag in _HTML_HIDDEN:
            self.hidden += 1
        elif tag == "body":
            self.hidden = 0  # a head left open ends where the body begins
        elif tag in ("td", "th"):
            self.cells += [""] if self.opened else []
            self.opened += 1
        elif tag in _HTML_BLOCKS:
            self.end_line()
            self.quoted += tag == "blockquote"
            self.cells[0] = "- " if tag == "li" else ""

    def handle_endtag(self, tag):
        if tag in _HTML_HIDDEN:
            self.hidden = max(self.hidden - 1, 0)
        elif tag in _HTML_BLOCKS:
            self.end_line()
            self.quoted = max(self.quoted - (tag == "blockquote"), 0)

    def handle_data(self, data):
        if not self.hidden:
            self.cells[-1] += data


# the tags whose text a browser does not show, and those that end a line ("br" has no end tag)
_HTML_HIDDEN = frozenset({"script", "style", "head", "title", "xml"})
_HTML_BLOCKS = frozenset("p div br li ul ol h1 h2 h3 h4 h5 h6 tr table blockquote hr pre dt dd caption".split())
# HTML, by a document's opening or by HTML's own tags ("<p class=MsoNormal>", "<o:p>", "<br/>")
_HTML_ROOTS = frozenset("html body div p table span b font blockquote ul ol".split())
_HTML_DOCUMENT = re.compile(r"<!DOCTYPE\s+html|<html[\s>]", re.IGNORECASE)
_HTML_TAG = re.compile(r"<(?:html|body|p|div|br|table|tr|td|th|span|b|i|u|h[1-6]|o:p|blockquote|li|ul|font)"
                       r"(?:\s[^<>]*)?/?>", re.IGNORECASE)


def _rtf_as_text(text: str) -> str:
    """An RTF document's text: its control words left out, "\\par", "\\line" and a table's "\\row" ending a line
    (a row's cells, each ended by "\\cell", between pipes), "\\tab" a space, "\\'96" the code page's character,
    "\\u8211?" its Unicode one; the groups that hold no text of the document (its font and colour tables, its styles,
    its information, the destinations marked "\\*", a list's number) left out."""
    page = re.search(r"\\ansicpg(\d+)", text)
    try:
        encoding = codecs.lookup(f"cp{page.group(1)}" if page else "cp1252").name
    except LookupError:
        encoding = "cp1252"
    out, skipping, skip_next = [], [False], 0
    for token in _RTF_TOKEN.finditer(text):
        group, word, number, hexa, symbol, said = token.groups()
        if group == "{":
            skipping.append(skipping[-1])
            continue
        if group == "}":
            skipping.pop() if len(skipping) > 1 else None
            continue
        if (symbol == "*" or word in _RTF_HIDDEN) and len(skipping) > 2:  # a group the document does not show
            skipping[-1] = True
        if skipping[-1]:
            continue
        if skip_next and (said or hexa):  # the stand-in for a "\u" character a reader without Unicode shows
            skip_next -= 1
            said = said[1:] if said else None
            hexa = None
        if word == "u" and number:
            out.append(chr(int(number) % 0x10000))
            skip_next = 1
        elif word:
            out.append(_RTF_WORDS.get(word, ""))
        elif hexa:
            out.append(bytes([int(hexa, 16)]).decode(encoding, errors="replace"))
        elif symbol:
            out.append({"~": " ", "_": "-", "-": ""}.get(symbol, symbol))
        elif said:
            out.append(said.replace("\n", "").replace("\r", ""))
    return "\n".join(_row(line.rstrip()[:-1].split(" | ")) if line.rstrip().endswith(" |") else line
                     for line in "".join(out).split("\n"))  # a row's last cell ends with its "\\cell" too


# a token of RTF: a group's brace, a control word with its number (and the space that ends it), a character by its code,
# a control symbol, text
_RTF_TOKEN = re.compile(r"([{}])|\\([a-zA-Z]+)(-?\d+)? ?|\\'([0-9a-fA-F]{2})|\\([^a-zA-Z'])|([^\\{}]+)")
# the groups not marked "\\*" that hold no text of the document
_RTF_HIDDEN = frozenset("fonttbl colortbl stylesheet info pict header headerl headerr footer footerl footerr pntext "
                        "listtext listtable fldinst object filetbl revtbl footnote".split())
_RTF_WORDS = {"par": "\n", "line": "\n", "row": "\n", "sect": "\n", "page": "\n", "cell": " | ", "nestcell": " | ",
              "tab": " ", "emdash": "\u2014", "endash": "\u2013", "bullet": "\u2022", "lquote": "\u2018",
              "rquote": "\u2019", "ldblquote": "\u201c", "rdblquote": "\u201d"}
_RTF = re.compile(r"\s*\{\\rtf")


def _latex_as_text(text: str) -> str:
    """A LaTeX document's text: its preamble (before "\\begin{document}") and comments left out, a sectioning
    command's title as a heading's line ("\\section*{Clinical history}" -> "Clinical history:"), an "\\item" as a
    line "- ", a tabular's rows (to "\\\\", cells parted by "&") as lines of their cells between pipes, its rules left
    out; a command that marks its text up ("\\textbf{X}", "\\multicolumn{2}{c}{X}", "\\caption{X}") as its text, one
    that says nothing of the report ("\\label", "\\cite", "\\includegraphics") left out; "$+$" as "+", "\\%" as "%"."""
    text = _LATEX_COMMENT.sub("", text)
    begin, end = text.find("\\begin{document}"), text.find("\\end{document}")
    text = text[begin + len("\\begin{document}") if begin >= 0 else 0:end if end >= 0 else len(text)]
    return _latex_words(_LATEX_TABULAR.sub(_latex_table, text))


def _latex_table(m: re.Match) -> str:
    """A tabular's rows as lines: "Upper & $-$ & $+$ \\\\" -> "Upper | - | +"."""
    body, at = _LATEX_RULE.sub(" ", m.group("body")), 0
    for _ in range(2 if m.group("kind") in ("tabularx", "tabular*", "tabulary") else 1):  # tabularx's width first
        _, at = _latex_argument(body, _latex_argument(body, at, "[")[1], "{")  # its spec: "{lcc}", "{|p{3cm}|c|}"
    rows = []
    for row in _LATEX_ROW_END.split(body[at:]):
        cells = [_latex_words(cell).replace("\n", " ").strip() for cell in _LATEX_CELL.split(row)]
        if any(cells):
            rows.append(_row(cells))
    return "\n" + "\n".join(rows) + "\n"


def _latex_words(text: str) -> str:
    """LaTeX's text with its commands as what they show."""
    out, at = [], 0
    for m in _LATEX_CONTROL.finditer(text):
        if m.start() < at:
            continue  # inside an argument read already
        out.append(text[at:m.start()])
        name, at = m.group(1), m.end()
        if len(name) == 1 and not name.isalpha():  # a control symbol: "\%", "\\", "\,"
            out.append(_LATEX_SYMBOLS.get(name, name))
            continue
        arguments, (argument, after) = [], _latex_argument(text, at)
        while argument is not None:  # its arguments: "[h]", "{Zone}"
            arguments.append(argument)
            at = after
            argument, after = _latex_argument(text, at)
        out.append(_latex_command(name.rstrip("*"), [a[1:-1] for a in arguments if a.startswith("{")]))
    out.append(text[at:])
    said = "".join(out).replace("``", '"').replace("''", '"').replace("---", "\u2014").replace("--", "\u2013")
    return _LATEX_MATH.sub("", said.replace("~", " ").replace("{", "").replace("}", ""))


def _latex_command(name: str, arguments: list) -> str:
    last = _latex_words(arguments[-1]).strip() if arguments else ""
    if name in _LATEX_HEADINGS:
        return f"\n{last.rstrip('.:')}:\n"
    if name in ("item", "begin", "end", "caption", "par", "newline"):  # what ends a line, or opens one
        return {"item": "\n- ", "begin": "\n", "end": "\n"}.get(name, f"\n{last}\n")
    return "" if name in _LATEX_HIDDEN else _LATEX_CHARACTERS.get(name, last)


def _latex_argument(text: str, at: int, opening: str = "[{") -> tuple:
    """The argument in braces or brackets right at ``at``, with them, and where it ends; (None, ``at``) where there
    is none (what follows a command after a space is text: "\\item \\textbf{...}")."""
    depth, k = 0, at
    while at < len(text) and text[at] in opening and k < len(text):
        depth += {"{": 1, "}": -1}.get(text[k], 0)
        if depth == 0 and (text[k] == "]" or text[at] == "{"):
            return text[at:k + 1], k + 1
        k += 2 if text[k] == "\\" else 1
    return None, at


# a comment to its line's end ("%" not "\%"; a line the normalisation joined ends at the next command), a tabular
# environment, a row's end and a cell's
_LATEX_COMMENT = re.compile(r"(?<!\\)%[^\n\\]*")
_LATEX_TABULAR = re.compile(r"\\begin\{(?P<kind>tabularx|tabular\*?|longtable|tabulary|array)\}"
                            r"(?P<body>.*?)\\end\{(?P=kind)\}", re.DOTALL)
_LATEX_ROW_END = re.compile(r"\\\\(?:\s*\[[^\]]*\])?|\\tabularnewline\b")
_LATEX_RULE = re.compile(r"\\(?:hline|toprule|midrule|bottomrule|cline|cmidrule)\b(?:\([^)]*\))?(?:\{[^{}]*\})?")
_LATEX_CELL = re.compile(r"(?<!\\)&")
_LATEX_CONTROL = re.compile(r"\\([A-Za-z]+\*?|.)")
_LATEX_MATH = re.compile(r"(?<!\\)\$")
_LATEX_HEADINGS = frozenset("part chapter section subsection subsubsection paragraph subparagraph".split())
# commands whose arguments say nothing of the report (any other shows its last argument: "\\textbf{X}" -> "X"), and
# those that stand for a character
_LATEX_HIDDEN = frozenset("label ref eqref pageref cite citep citet includegraphics usepackage documentclass vspace "
                          "hspace thanks author date setlength newcommand renewcommand color rowcolor".split())
_LATEX_SYMBOLS = {"\\": "\n", ",": "", ";": " ", " ": " ", "-": ""}
_LATEX_CHARACTERS = {"textdegree": "\u00b0", "degree": "\u00b0", "ldots": "...", "dots": "...", "checkmark": "\u2713",
                     "times": "x", "textendash": "\u2013", "textemdash": "\u2014", "pm": "\u00b1", "quad": " ",
                     "qquad": " "}
_LATEX = re.compile(r"\\(?:documentclass|begin\{(?:document|tabular|itemize|enumerate|figure|table)\}|"
                    r"(?:sub)*section\*?\{|paragraph\*?\{|textbf\{|textit\{|emph\{)")


def _wiki_as_text(text: str) -> str:
    """A MediaWiki page's text: a heading as its line ("== Findings ==" -> "Findings:"), a table's rows as lines of
    cells between pipes (its header's too), an infobox's "| key = value" as "key: value" lines, a link as its label,
    bold and italic marks, references, categories and a talk page's signatures and indents left out."""
    text = _WIKI_HIDDEN.sub("", html.unescape(text))
    text = _WIKI_SIGNATURE.sub("\n", text)  # a signature ends its reply, and the next reply's indent opens a line
    text = _WIKI_LINK.sub(lambda m: m.group(2) or m.group(1), _WIKI_EXTERNAL.sub(r"\1", text))
    while _WIKI_TEMPLATE.search(text):  # the innermost first
        text = _WIKI_TEMPLATE.sub(_wiki_template, text)
    text = _WIKI_TABLE.sub(lambda m: _wiki_table(m.group(1)), text)
    text = _WIKI_HEADING.sub(lambda m: f"\n{m.group(2).strip().rstrip(':.')}:\n", text)
    text = _WIKI_BREAK.sub("\n", _WIKI_EMPHASIS.sub("", text))
    return _WIKI_INDENT.sub("", _WIKI_TAG.sub("", text))


def _wiki_template(m: re.Match) -> str:
    """A template's named parameters as "key: value" lines (an infobox's fields); one without any as nothing."""
    fields = [field.partition("=") for field in m.group(1).split("|")[1:]]
    return "".join(f"\n{key.strip()}: {value.strip()}" for key, equals, value in fields if equals) + "\n"


def _wiki_table(body: str) -> str:
    """A table's rows ("|-") as lines of their cells ("! a !! b", "| a || b", a cell's attributes before its single
    "|" left out), its caption ("|+ ...") as a line."""
    lines = []
    for row in _WIKI_ROW.split(body):
        cells = []
        for mark, cell in zip(*[iter(_WIKI_CELL.split(" " + row)[1:])] * 2):
            if mark == "|+":
                lines.append(cell.strip())
            elif not _WIKI_ATTRIBUTES.fullmatch(cell):
                cells.append(cell.strip())
        if any(cells):
            lines.append(_row(cells))
    return "\n" + "\n".join(lines) + "\n"


# a reference's note, a signature ("[[User:X|X]] ([[User talk:X|talk]]) 08:29, 9 October 2020 (UTC)"), a link that
# shows nothing (a category, a file), a link ("[[target|label]]", "[url label]"), a template without templates in it
_WIKI_HIDDEN = re.compile(r"<ref\b[^>/]*>.*?</ref>|<!--.*?-->|__[A-Z]+__|\[\[(?:Category|File|Image):[^\]]*\]\]",
                          re.DOTALL | re.IGNORECASE)
_WIKI_STAMP = r"\d{1,2}:\d{2},\s+\d{1,2}\s+\w+\s+\d{4}\s+\(UTC\)"
_WIKI_SIGNATURE = re.compile(rf"(?:--|\u2014)?\s*\[\[User:[^\]]*\]\]\s*"
                             rf"(?:\(\[\[User talk:[^\]]*\]\]\)\s*(?:{_WIKI_STAMP})?|{_WIKI_STAMP})")
_WIKI_LINK = re.compile(r"\[\[(?:[^\]|]*\|)?([^\]|]*)(?:\|([^\]]*))?\]\]")
_WIKI_EXTERNAL = re.compile(r"\[(?:https?:)?//\S+\s+([^\]]*)\]")
_WIKI_TEMPLATE = re.compile(r"\{\{((?:(?!\{\{|\}\})[^\n]|\n)*?)\}\}")
# a table, from "{|" to "|}"; a row's start ("|-"), a cell's start ("!", "!!", "|", "||") or the caption's ("|+"),
# and a cell that holds only its attributes ('colspan="2"')
_WIKI_TABLE = re.compile(r"\{\|(.*?)(?:\n\s*|\s)\|\}", re.DOTALL)
_WIKI_ROW = re.compile(r"(?:^|\s)\|-+")
_WIKI_CELL = re.compile(r"(\|\+|\|\||!!|\||(?<=\s)!)")
_WIKI_ATTRIBUTES = re.compile(r'\s*(?:[\w-]+\s*=\s*(?:"[^"]*"|\'[^\']*\'|[\w#%.-]+)\s*)+')
_WIKI_HEADING = re.compile(r"(?m)(?:^|(?<=\s))(={2,6})([^=\n]+)\1(?=\s|$)")
_WIKI_EMPHASIS = re.compile(r"'{2,}")
_WIKI_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_WIKI_TAG = re.compile(r"</?[A-Za-z][\w:-]*\b[^<>]*>")  # "<small>", "<sub>", "<span style=...>"
_WIKI_INDENT = re.compile(r"(?m)^[ \t]*:+[ \t]*")
_WIKI = re.compile(r"(?m)^\{\||^\s*={2,6}[^=\n]+={2,6}|'''|\[\[(?:User|Category):|\{\{[^{}|]*\|\s*\w[\w ]*=")


def _org_as_text(text: str) -> str:
    """An Org note's text: a heading as its line without its stars, TODO keyword, priority and tags ("** TODO Findings
    :cxr:" -> "Findings:"), a description item as "term: description", a link as its label, a table's rows as Org
    writes them (as Markdown does: "| lower | x | - |"), its rule lines, the drawers (":PROPERTIES:" ... ":END:"), the
    keywords ("#+title: ...") and the planning lines' stamps ("CLOSED: [...]") left out."""
    text = _ORG_DRAWER.sub("\n", text)
    text = _ORG_BLOCK.sub("\n", _ORG_KEYWORD.sub("\n", _ORG_PLANNING.sub("", text)))
    text = _ORG_LINK.sub(lambda m: m.group(2) or m.group(1), text)
    lines = []
    for line in text.split("\n"):
        heading = _ORG_HEADING.match(line)
        if heading:
            title = heading.group("title").strip()
            line = title if not title or title[-1] in ".:?!" else f"{title}:"
        elif _ORG_RULE.fullmatch(line):
            line = ""
        else:
            line = _ORG_DESCRIPTION.sub(r"\1: ", line)  # "- RIGHT lung :: clear" -> "RIGHT lung: clear"
        lines.append(line)
    return "\n".join(lines)


# a drawer (":PROPERTIES:" to ":END:"), a keyword's line ("#+title: ...", "#+CAPTION: ..."), a block's fences
# ("#+begin_quote", whose text stays), a planning line's stamps ("SCHEDULED: <2020-09-18 Fri>")
_ORG_DRAWER = re.compile(r"(?ms)^[ \t]*:[A-Za-z_]+:[ \t]*$.*?:END:")
_ORG_KEYWORD = re.compile(r"(?m)(?:^|(?<=\s))#\+(?!begin_|end_)\w+:.*$", re.IGNORECASE)
_ORG_BLOCK = re.compile(r"(?m)(?:^|(?<=\s))#\+(?:begin|end)_\w+[^\n]*?(?=\s|$)", re.IGNORECASE)
_ORG_PLANNING = re.compile(r"\b(?:CLOSED|SCHEDULED|DEADLINE):\s*[\[<][^\]>\n]*[\]>]")
_ORG_LINK = re.compile(r"\[\[([^\]]*)\](?:\[([^\]]*)\])?\]")
_ORG_HEADING = re.compile(r"^\*+\s+(?:(?:TODO|DONE|NEXT|WAITING|HOLD|CANCELL?ED)\s+)?(?:\[#[A-Z]\]\s+)?"
                          r"(?P<title>.*?)(?:\s+:[\w@#%:]+:)?\s*$")
_ORG_RULE = re.compile(r"\s*\|[-+|\s]*-[-+|\s]*")
_ORG_DESCRIPTION = re.compile(r"^\s*[-+]\s+(.*?)\s+::\s+")
_ORG = re.compile(r"(?m)^(?:#\+(?:(?:title|author|date|filetags|startup|options|caption):|begin_\w)|:PROPERTIES:|"
                  r"\*+\s+(?:TODO|DONE)\b|\*+\s.*\s:[\w@:]+:\s*$)|\[\[(?:id|file):[^\]]*\]\[", re.IGNORECASE)
_SPACES = re.compile(r"[^\S\n]+")
