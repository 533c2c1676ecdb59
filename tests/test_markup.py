"""Reports that come as a marked-up document (text/markup.py): an e-mail's HTML, an RTF export, a LaTeX case file,
a MediaWiki page and an Org note, restated as the plain lines the reader of places reads; any other text as it is."""
import pytest

from nnunet_tgc.text.knowledge import KnowledgeBase
from nnunet_tgc.text.markup import markup_as_text
from nnunet_tgc.text.normalize import normalize_report
from nnunet_tgc.text.places import read_places


@pytest.fixture(scope="module")
def chest():
    return KnowledgeBase.load().for_domain("chest")


def cells(text, kb):
    return {f"{s} {z}" for s, z in read_places(normalize_report(text), kb).involved}


def test_html_paragraphs_entities_and_a_table_become_lines():
    text = ('<html><head><style>p.MsoNormal {margin:0cm;}</style><title>Report</title></head><body>'
            '<p class="MsoNormal"><b>Indication:</b> fever &amp; cough<o:p></o:p></p>'
            '<p class="MsoNormal">Temp 38&deg;C &#8211; ward&nbsp;5<br>Heart normal.</p>'
            '<table><tr><th>Zone</th><th>Right lung</th><th>Left lung</th></tr>'
            '<tr><td>Lower zone</td><td>Opacity</td><td>Clear</td></tr></table>'
            '<ul><li>No effusion</li></ul><script>var x = 1;</script></body></html>')
    assert markup_as_text(text) == ("Indication: fever & cough\nTemp 38\u00b0C \u2013 ward 5\nHeart normal.\n"
                                    "| Zone | Right lung | Left lung |\n| Lower zone | Opacity | Clear |\n"
                                    "- No effusion")


def test_html_quoted_message_lines_open_with_a_quote_mark():
    text = ('<div dir="ltr">Left base opacity.</div><div class="gmail_quote"><div class="gmail_attr">On Mon, 4 May '
            '2020 at 10:12, Dr A &lt;a@x.org&gt; wrote:<br></div><blockquote class="gmail_quote">'
            '<div>Any change in the right lung?</div></blockquote></div>')
    assert markup_as_text(text) == ("Left base opacity.\nOn Mon, 4 May 2020 at 10:12, Dr A <a@x.org> wrote:\n"
                                    "> Any change in the right lung?")


def test_rtf_control_words_groups_and_tables():
    text = (r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fnil Calibri;}}{\colortbl;\red0\green0\blue0;}"
            r"{\*\generator Riched20}{\info{\author X}}\pard\b Findings:\b0\tab opacity \'96 right base\par "
            r"{\pntext\f1\'B7\tab}Heart\~normal\line No effusion\par "
            r"\trowd\cellx1000\cellx2000\intbl Zone\cell Right\cell Left\cell\row "
            r"\intbl Lower\cell X\cell -\cell\row }")
    assert markup_as_text(text) == ("Findings: opacity \u2013 right base\nHeart normal\nNo effusion\n"
                                    "| Zone | Right | Left |\n| Lower | X | - |")


def test_latex_preamble_sections_items_and_tabular():
    text = (r"\documentclass{article} \usepackage{booktabs} \title{Case} \begin{document} \maketitle "
            r"% a comment" "\n"
            r"\section*{Clinical history} Fever (38.5\,\textdegree{}C), SpO2 91\% on air.\label{s:h}" "\n"
            r"\subsection{Findings.} \begin{itemize} \item \textbf{Left lung:} \emph{clear}. \end{itemize}" "\n"
            r"\begin{table}[h]\centering\begin{tabular}{lcc}\toprule \textbf{Zone} & Right & Left \\ \midrule "
            r"Upper & $-$ & $-$ \\ Lower & $+$ & -- \\ \multicolumn{2}{l}{Lesions} & 1 \\ \bottomrule\end{tabular}"
            r"\caption{Zones~involved.}\end{table} \end{document}")
    assert markup_as_text(text) == ("Clinical history:\nFever (38.5\u00b0C), SpO2 91% on air.\nFindings:\n"
                                    "- Left lung: clear.\n| Zone | Right | Left |\n| Upper | - | - |\n"
                                    "| Lower | + | \u2013 |\n| Lesions | 1 |\nZones involved.")


def test_mediawiki_headings_tables_infobox_links_and_signatures():
    text = ("{{Infobox case | title = Viral pneumonia | modality = [[Chest radiograph|CXR]] }}\n"
            "== Findings == '''Opacity''' in the ''right'' lower zone.<ref>PCR positive.</ref>\n"
            '{| class="wikitable" |+ Zones ! Zone !! Right !! Left |- ! Lower\n| X || &mdash;\n'
            '|- ! Count | colspan="2" | 1\n|}\n'
            ": Agree. [[User:Ann|Ann]] ([[User talk:Ann|talk]]) 08:29, 9 October 2020 (UTC) :: Thanks.\n"
            "[[Category:Chest]]")
    assert markup_as_text(text) == ("title: Viral pneumonia\nmodality: CXR\nFindings:\n"
                                    "Opacity in the right lower zone.\nZones\n| Zone | Right | Left |\n"
                                    "| Lower | X | \u2014 |\n| Count | 1 |\nAgree.\nThanks.")


def test_org_headings_drawers_keywords_lists_and_tables():
    text = ("#+title: CXR note\n* DONE CXR ward 3 :covid:\nCLOSED: [2021-01-02 Sat 10:00]\n:PROPERTIES:\n"
            ":ID: abc\n:END:\n** Findings\n- RIGHT lung :: opacity, lower zone\n- [X] phoned team\n"
            "See [[id:123][zone guide]].\n| zone | R | L |\n|------+---+---|\n| lower | x | - |\n"
            "- plan: review #+begin_quote Agree.\n#+end_quote")
    assert markup_as_text(text) == ("CXR ward 3:\nFindings:\nRIGHT lung: opacity, lower zone\n- [X] phoned team\n"
                                    "See zone guide.\n| zone | R | L |\n| lower | x | - |\n- plan: review\nAgree.")


@pytest.mark.parametrize("text", [
    "Consolidation in the right lower zone.\nNo effusion. Heart size normal; SpO2 < 92% on air.",
    "- Right lung: clear\n- Left lung: opacity | lower zone\n* bullet line",
    '{"findings": [{"label": "opacity", "laterality": "left", "zones": ["lower"]}], "impression": "Pneumonia."}',
    '<?xml version="1.0"?>\n<Report><Findings>Opacity in the <b>right</b> lower zone.</Findings>'
    '<Table><tr><td>Lower</td></tr></Table></Report>',
    '<RISExport><Lung side="Left" abnormal="true"><Zone name="Lower"/></Lung></RISExport>',
    "Opacity 50% of the left lung \\ right lung clear == no change",
    # a FHIR resource's narrative is HTML inside JSON: the JSON reader reads it
    '{"resourceType": "DiagnosticReport", "text": {"status": "generated", "div": "<div><p>Opacity in the '
    '<b>left</b> base.</p></div>"}, "conclusion": "Left lower zone opacity."}',
])
def test_other_text_comes_back_as_it_is(text):
    assert markup_as_text(text) == text


@pytest.mark.parametrize("text, expected", [
    ('<html><body><p><b>Findings:</b> Airspace opacity in the left lower zone.</p><table>'
     '<tr><th>Zone</th><th>Right</th><th>Left</th></tr><tr><td>Upper</td><td>-</td><td>-</td></tr>'
     '<tr><td>Lower</td><td>-</td><td>+</td></tr></table></body></html>', {"left lower"}),
    (r"{\rtf1\ansi{\fonttbl{\f0 Arial;}}\pard\b Report:\b0\par Consolidation in the right mid and lower "
     r"zones.\par The left lung is clear.\par }", {"right middle", "right lower"}),
    ("\\documentclass{article}\n\\begin{document}\n\\section*{Findings}\nThe right lung is clear.\n"
     "\\begin{tabular}{lcc} Zone & Right & Left \\\\ \\hline Upper & no & yes \\\\ Middle & no & no \\\\ "
     "Lower & no & yes \\\\ \\end{tabular}\n\\end{document}", {"left upper", "left lower"}),
    ("== Imaging findings ==\n'''Consolidation''' in the [[Lung|right]] upper zone.\n"
     "[[User:Bo|Bo]] ([[User talk:Bo|talk]]) 10:01, 2 May 2020 (UTC)", {"right upper"}),
    # a grid whose clear cells are dots ("X = involved, . = clear")
    ("* Film\n| zone | R | L |\n|------+---+---|\n| upper | . | X |\n| mid | . | . |\n| lower | X | . |",
     {"left upper", "right lower"}),
    ("* TODO CXR bed 4 :icu:\n:PROPERTIES:\n:LESIONS: 1\n:END:\n** Findings\n- LEFT lung :: clear\n"
     "- RIGHT lung :: patchy opacity, mid zone", {"right middle"}),
])
def test_marked_up_reports_are_read_for_their_places(chest, text, expected):
    assert cells(text, chest) == expected
