"""Mixed precision: nnU-Net trains under autocast on CUDA; CPU autocast (bfloat16) stands in for it here.

A training step (nnU-Net's Dice+CE with deep supervision plus the alignment loss, backward, SGD step)
runs under autocast with every activation of the trainable path in bfloat16: no trainable parameter
is shaped so that it promotes the activations to float32 (a (1,)-shaped float32 tensor does, a 0-dim
scalar does not). Prediction under autocast is tested on a trained model in test_nnunet_options.py.
"""
import numpy as np
import pytest
import torch
from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

from nnunet_tgc.model import EncodedText, create_tgc_net, create_towers
from nnunet_tgc.model.alignment_loss import similarity_map_loss

from _text import encode_reports

PLANS = dict(features_per_stage=[32, 64, 128, 256], strides=[[1, 1]] + [[2, 2]] * 3,
             kernel_sizes=[[3, 3]] * 4, n_conv_per_stage=[1] * 4, n_conv_per_stage_decoder=[1] * 3)
REPORTS = ["Unilateral pulmonary infection, one infected area, lower left lung.",
           "Bilateral pulmonary infection, two infected areas, upper left lung and upper right lung."]


@pytest.fixture(scope="module")
def towers():
    return create_towers("tiny")


def make(towers, **switches):
    torch.manual_seed(0)
    return create_tgc_net("tiny", 1, 2, towers=towers, verbose=False, **PLANS, **switches)


@pytest.mark.parametrize("switches", [{}, {"use_vlcm": False}, {"use_cnn_branch": False}])
def test_no_trainable_parameter_promotes_autocast_activations(towers, switches):
    net = make(towers, **switches)
    # the place map is exempt: it computes in float32 by design (autocast off inside; its log-odds are cast to
    # the activations' dtype where they join them), so its one-number offset promotes nothing
    promoting = [n for n, p in net.named_parameters() if p.requires_grad and p.ndim >= 1 and p.numel() == 1
                 and not n.startswith("place_map.")]
    assert not promoting, f"(1,)-shaped parameters promote bfloat16 products to float32: {promoting}"


def _deep_supervision_loss(n_outputs):
    weights = np.array([1 / 2 ** i for i in range(n_outputs)])
    weights[-1] = 0
    return DeepSupervisionWrapper(DC_and_CE_loss({"batch_dice": True, "smooth": 1e-5, "do_bg": False, "ddp": False}, {},
                                                 weight_ce=1, weight_dice=1, dice_class=MemoryEfficientSoftDiceLoss),
                                  weights / weights.sum())


@pytest.mark.parametrize("image_route", [False, True])
def test_training_step_under_cpu_autocast_bfloat16(towers, image_route):
    net = make(towers, image_route=image_route)
    net.train()
    text = encode_reports(net.towers, REPORTS)
    image = torch.randn(2, 1, 32, 40)
    target = torch.zeros(2, 1, 32, 40)
    target[0, :, 20:28, 4:14] = 1
    target[1, :, 4:12, 4:14] = target[1, :, 4:12, 26:36] = 1
    targets = [target[:, :, ::2 ** i, ::2 ** i] for i in range(3)]
    dtypes = {}
    hooks = [net.sse.register_forward_hook(lambda m, i, o: dtypes.__setitem__("skips", {t.dtype for t in o}))]
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.99, nesterov=True)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        result = net(image, text, return_similarity=True)
        out, sims = result.segmentation, result.similarity_maps
        loss = _deep_supervision_loss(len(out))(out, targets) + similarity_map_loss(sims, target)
        if image_route:  # the image route's logits of every sample, supervised as the trainer does
            loss = loss + _deep_supervision_loss(len(out))(result.image_only, targets)
    for h in hooks:
        h.remove()
    assert dtypes["skips"] == {torch.bfloat16}  # SSE's gated tap fusion kept bfloat16
    assert all(o.dtype == torch.bfloat16 for o in out + (result.image_only or []))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    assert all(p.dtype == torch.float32 for p in net.parameters())  # master weights stay float32
    torch.nn.utils.clip_grad_norm_(net.parameters(), 12)
    optimizer.step()
    changed = [n for n, p in net.named_parameters() if not torch.equal(p, before[n])]
    assert any(n.startswith("sse.encoder.") for n in changed) and any(n.startswith("vlcm.") for n in changed)
    # the zero-initialised gates got a gradient through the bfloat16 path and moved off zero
    assert any(n.startswith("sse.fusions.") and n.endswith(".gate") for n in changed)


# ------------------------------------------------- the towers' dtype on CUDA: an argument, read from the
# environment by the nnU-Net glue only (the move to CUDA is stood in for by settle_dtype with the device given)
CUDA = torch.device("cuda")


@pytest.mark.parametrize("tower_dtype, expected", [(None, torch.float16), ("float16", torch.float16),
                                                   ("float32", torch.float32), ("BFloat16", torch.bfloat16),
                                                   (torch.float32, torch.float32)])
def test_the_tower_dtype_argument_decides_the_cuda_dtype(tower_dtype, expected, monkeypatch):
    from nnunet_tgc.model.clip_towers import TOWER_DTYPE_ENV
    monkeypatch.setenv(TOWER_DTYPE_ENV, "bfloat16")  # not read by the model package
    kwargs = {} if tower_dtype is None else {"tower_dtype": tower_dtype}
    net = create_tgc_net("tiny", 1, 2, verbose=False, **PLANS, **kwargs)  # the factory builds the towers
    assert net.towers.tower_dtype == expected
    assert net.towers.settle_dtype(torch.device("cpu")) == torch.float32  # the CPU keeps float32
    assert net.towers.settle_dtype(CUDA) == expected
    assert all(p.dtype == expected for p in net.towers.clip.parameters())


def test_an_unknown_tower_dtype_argument_is_refused_when_building():
    with pytest.raises(ValueError, match=r"tower_dtype='half': use one of \['bfloat16', 'float16', 'float32'\]"):
        create_towers("tiny", tower_dtype="half")
    with pytest.raises(ValueError, match="tower_dtype=torch.float64"):
        create_towers("tiny", tower_dtype=torch.float64)


@pytest.mark.parametrize("value, expected", [("float32", torch.float32), ("float16", torch.float16)])
def test_the_tower_dtype_variable_reaches_the_towers_through_the_glue(value, expected, monkeypatch):
    from nnunet_tgc.model.clip_towers import TOWER_DTYPE_ENV
    from nnunet_tgc.nnunet.env import model_settings
    monkeypatch.setenv(TOWER_DTYPE_ENV, value)
    towers = create_towers("tiny", **model_settings())
    assert towers.settle_dtype(CUDA) == expected
    monkeypatch.setenv(TOWER_DTYPE_ENV, "half")
    with pytest.raises(ValueError, match=TOWER_DTYPE_ENV):
        model_settings()
