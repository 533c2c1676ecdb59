"""Conservative clean-up of clinical report text.

The reports are the model's second input, so the converters must not change what they say:
only layout artefacts are repaired (runs of whitespace, line breaks, a doubled final period such
as MosMedData+'s "lung..").  Spelling, grammar ("one infected areas") and wording stay as written;
the original text is always kept next to the normalised one (``reports_original.json``).
"""
import re
import unicodedata

# any run of whitespace, including non-breaking spaces, tabs and line breaks
_WHITESPACE = re.compile(r"\s+")
# exactly two periods; three or more are an ellipsis and are left alone
_DOUBLE_PERIOD = re.compile(r"(?<!\.)\.\.(?!\.)")


def normalize_report(text: str) -> str:
    """Return ``text`` with whitespace collapsed and doubled periods made single.

    Unicode is put in NFC form so that visually identical reports compare (and cache) equal.
    """
    if not isinstance(text, str):
        raise TypeError(f"a report must be a string, got {type(text).__name__}: {text!r}")
    text = unicodedata.normalize("NFC", text)
    text = _WHITESPACE.sub(" ", text).strip()
    return _DOUBLE_PERIOD.sub(".", text)


def normalize_reports(reports: dict) -> dict:
    """Apply :func:`normalize_report` to every value of a ``{case_id: text}`` mapping."""
    return {case_id: normalize_report(text) for case_id, text in reports.items()}
