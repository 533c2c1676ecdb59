"""Place jitter: some training samples get a place vector with one cell changed.

A dataset's reports name few combinations of places (QaTa's 1,000 training reports about 50), and a
network that sees only those can learn what the place map *pattern* of each combination means instead
of what each cell means: on QaTa's validation cases whose report names a combination no training report
named, TGC-Net gained nothing over plain nnU-Net while it gained about 10 Dice on the others
(documentation/results.md, section 9). Changing one cell of a share of the samples' place vectors (a cell
added where the report named none, or a named cell taken away, never the last one) shows the network
combinations beyond the dataset's and reports that are a cell off, as real reports are: the map is then a
prior per cell that the image confirms, not a code for a training sentence.

Only the place map's input changes; the report's text features stay as read. The place map's own fit
and supervision are unaffected in meaning: a jittered cell is as wrong for the map as a real report that
is a cell off.
"""
import numpy as np
import torch

from ..model.place_map import PLACE_CELLS


def jitter_places(places: torch.Tensor, rate: float, rng: np.random.Generator) -> torch.Tensor:
    """``places`` (B, PLACE_VECTOR_SIZE: cell weights, then "places nothing") with, for each sample that
    places something, probability ``rate`` of one cell flipped (drawn among the flips that leave at least
    one cell named). A new tensor; samples that place nothing are left as they are."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"tgc_place_jitter_rate must be in [0, 1) (a share of the training samples), got {rate}")
    if rate == 0 or places is None:
        return places
    out = places.clone()
    for i in range(out.shape[0]):
        cells = out[i, :PLACE_CELLS]
        if out[i, PLACE_CELLS:].any() or rng.random() >= rate:
            continue
        named = cells > 0
        flippable = [c for c in range(PLACE_CELLS) if not named[c] or int(named.sum()) > 1]
        c = flippable[rng.integers(len(flippable))]
        cells[c] = 0.0 if named[c] else 1.0
    return out
