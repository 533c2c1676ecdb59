"""Report dropout: a learned "no report" input, used for a share of training samples and at prediction
only when asked for (the end-to-end part is in tests/test_e2e_nnunet.py)."""
import numpy as np
import pytest
import torch

from nnunet_tgc.model import EncodedText, create_tgc_net, create_towers
from nnunet_tgc.nnunet.report_dropout import drop_reports
from nnunet_tgc.text.cache import TextFeatureCache
from nnunet_tgc.text.convention import NO_REPORT
from nnunet_tgc.text.knowledge import KnowledgeBase

PLANS = dict(features_per_stage=[32, 64, 128, 256], strides=[[1, 1], [2, 2], [2, 2], [2, 2]],
             kernel_sizes=[[3, 3]] * 4, n_conv_per_stage=[2] * 4, n_conv_per_stage_decoder=[2] * 3)
REPORT = "Unilateral pulmonary infection, one infected area, lower left lung."


@pytest.fixture(scope="module")
def cache():
    return TextFeatureCache(create_towers("tiny"), KnowledgeBase.load())


def make_net(cache, **kw):
    """A network without the image route, as report dropout trains it (nnUNetTrainerTGC_reportDropout): the
    image route would segment a sample without a report itself (tests/test_image_route.py)."""
    torch.manual_seed(0)
    return create_tgc_net("tiny", 1, 2, towers=cache.towers, verbose=False, deep_supervision=False,
                          **{**PLANS, "image_route": False, **kw}).eval()


def test_the_no_report_input_is_learned_and_used_only_where_flagged(cache):
    net = make_net(cache, learn_no_report=True)
    image = torch.randn(3, 1, 64, 64)
    mixed = cache.batch([REPORT, NO_REPORT, "Bilateral pulmonary infection."])
    assert mixed.absent.tolist() == [False, True, False] and len(cache) == 2  # NO_REPORT is not encoded
    with torch.no_grad():
        out = net(image, mixed)
        # the samples with a report give what they give in a batch without any absent sample
        alone = net(image[[0, 2]], cache.batch([REPORT, "Bilateral pulmonary infection."]))
        assert torch.allclose(out[[0, 2]], alone, atol=1e-5)
        # the absent sample depends on the learned vector, not on any report
        net.date.no_report.add_(1.0)
        moved = net(image, mixed)
    assert torch.allclose(moved[[0, 2]], out[[0, 2]], atol=1e-5) and not torch.allclose(moved[1], out[1])
    loss = net(image, mixed).sum()
    loss.backward()
    assert net.date.no_report.grad is not None and net.date.no_report.grad.abs().sum() > 0


def test_a_model_without_it_refuses_a_missing_report(cache):
    net = make_net(cache)
    assert not net.date.supports_no_report and "date.no_report" not in net.state_dict()
    assert "date.no_report" in make_net(cache, learn_no_report=True).state_dict()
    with pytest.raises(ValueError, match="without report dropout"):
        net(torch.randn(1, 1, 64, 64), cache.batch([NO_REPORT]))


def test_encoded_text_keeps_the_flag_through_to_index_and_repeat():
    one = EncodedText.no_report(8)
    assert one.repeat(3).absent.tolist() == [True] * 3 and one.to("cpu", torch.float64).absent.dtype == torch.bool
    assert one.index(0).absent.shape == (1,) and one.tokens.shape == (1, 0, 8)


def test_drop_reports_replaces_the_requested_share():
    texts = [f"report {i}" for i in range(4000)]
    dropped = drop_reports(texts, 0.2, np.random.default_rng(0))
    share = np.mean([t == NO_REPORT for t in dropped])
    assert 0.18 < share < 0.22 and all(d in (t, NO_REPORT) for d, t in zip(dropped, texts))
    assert drop_reports(texts, 0.0, np.random.default_rng(0)) == texts
    with pytest.raises(ValueError, match="tgc_report_dropout"):
        drop_reports(texts, 1.0, np.random.default_rng(0))
