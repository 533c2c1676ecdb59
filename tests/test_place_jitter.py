import numpy as np
import pytest
import torch

from nnunet_tgc.model.place_map import PLACE_CELLS, PLACE_VECTOR_SIZE
from nnunet_tgc.nnunet.place_jitter import jitter_places


def _places(rows):
    return torch.tensor(rows, dtype=torch.float32)


ONE_CELL = [1, 0, 0, 0, 0, 0, 0]
TWO_CELLS = [1, 0, 0, 0, 1, 0, 0]
NOTHING_PLACED = [1, 1, 1, 1, 1, 1, 1]


def test_each_jittered_sample_differs_in_exactly_one_cell_and_keeps_a_named_cell():
    places = _places([ONE_CELL, TWO_CELLS] * 200)
    out = jitter_places(places, 0.5, np.random.default_rng(0))
    changed = (out != places).sum(dim=1)
    assert set(changed.tolist()) == {0, 1}
    assert 0.4 < (changed == 1).float().mean() < 0.6
    assert (out[:, :PLACE_CELLS].sum(dim=1) >= 1).all()
    assert torch.equal(out[:, PLACE_CELLS:], places[:, PLACE_CELLS:])
    # a report naming one cell never loses it; both additions and removals occur for two cells
    assert (out[0::2, 0] == 1).all()
    two = out[1::2, :PLACE_CELLS].sum(dim=1)
    assert {1.0, 3.0} <= set(two.tolist())


def test_unplaced_samples_rate_zero_and_the_input_stay_as_they_are():
    places = _places([NOTHING_PLACED, TWO_CELLS])
    before = places.clone()
    out = jitter_places(places, 0.99, np.random.default_rng(1))
    assert torch.equal(out[0], before[0])
    assert torch.equal(places, before)  # a new tensor: the text cache's encodings are not changed
    assert jitter_places(places, 0.0, np.random.default_rng(1)) is places
    assert places.shape[1] == PLACE_VECTOR_SIZE


def test_rate_outside_a_share_is_refused():
    with pytest.raises(ValueError, match="tgc_place_jitter_rate"):
        jitter_places(_places([ONE_CELL]), 1.0, np.random.default_rng(0))
