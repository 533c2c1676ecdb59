"""Report dropout: train some samples without their report, so the model can segment a case before a
report exists (as SGSeg and ProLearn do for text-guided segmentation, and as classifier-free guidance
drops the condition). A dropped sample gets the learned "no report" input of DATE."""
from typing import List, Sequence

import numpy as np

from ..text.convention import NO_REPORT


def drop_reports(texts: Sequence[str], probability: float, rng: np.random.Generator) -> List[str]:
    """``texts`` with each replaced by NO_REPORT with ``probability`` (independently per sample)."""
    if not 0.0 <= probability < 1.0:
        raise ValueError(f"tgc_report_dropout must be in [0, 1) (a share of the training samples), got {probability}")
    if probability == 0:
        return list(texts)
    return [NO_REPORT if rng.random() < probability else t for t in texts]
