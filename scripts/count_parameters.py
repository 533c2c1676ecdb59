#!/usr/bin/env python
"""Parameters, checkpoint sizes and GFLOPs: nnU-Net's default 2D U-Net vs TGC-Net on the same plans.

The plans are QaTa-COV19's 2d configuration (224x224, 1 channel, 2 classes). Without ``--plans`` the
network is built from the exact PlainConvUNet arguments nnU-Net 2.8's ExperimentPlanner writes for it
(6 stages, features 32-64-128-256-512-512, strides [1,1] then [2,2] x5, 3x3 kernels, 2 convs per
stage, InstanceNorm + LeakyReLU, conv bias); with ``--plans nnUNetPlans.json`` (e.g. from planning the
converted QaTa subset) the network comes from that file's 2d configuration instead.

CLIP backbones are built with random weights (``nnUNet_TGC_clip_weights=random``): counting needs the
shapes, not the values. ``--device`` (default ``auto``: CUDA when available) is where the FLOP counts
and the optimiser step for the checkpoint sizes run; the numbers do not depend on it (on CUDA the
frozen towers are float16, which leaves counts and FLOPs unchanged; only the size of the frozen
towers in memory halves). What could not run is written under ``not_run`` and printed. Examples::

    python scripts/count_parameters.py                       # everything, with GFLOPs
    python scripts/count_parameters.py --backbones tiny --no-flops --json params.json
    python scripts/count_parameters.py --device cuda --json params_gpu.json
"""
import argparse
import copy
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore", message=".*RANDOM weights.*")
warnings.filterwarnings("ignore", message=".*torch.jit.interface.*")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import DeviceUnavailable, machine, resolve_device, write_json  # noqa: E402

PATCH = (224, 224)
IN_CHANNELS = 1
NUM_CLASSES = 2  # background + infection
EXAMPLE_REPORT = "Bilateral pulmonary infection, two infected areas, all left lung and all right lung."
# the dataset.json keys the text path reads: QaTa's reports are chest reports in the image-side convention
QATA_DATASET_JSON = {"tgc_knowledge_domain": "chest", "tgc_laterality": "image"}

# what nnU-Net 2.8.1's ExperimentPlanner writes into nnUNetPlans.json for QaTa's 2d configuration
QATA_2D_ARCH = {
    "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
    "arch_kwargs": {
        "n_stages": 6,
        "features_per_stage": [32, 64, 128, 256, 512, 512],
        "conv_op": "torch.nn.modules.conv.Conv2d",
        "kernel_sizes": [[3, 3]] * 6,
        "strides": [[1, 1]] + [[2, 2]] * 5,
        "n_conv_per_stage": [2] * 6,
        "n_conv_per_stage_decoder": [2] * 5,
        "conv_bias": True,
        "norm_op": "torch.nn.modules.instancenorm.InstanceNorm2d",
        "norm_op_kwargs": {"eps": 1e-05, "affine": True},
        "dropout_op": None,
        "dropout_op_kwargs": None,
        "nonlin": "torch.nn.LeakyReLU",
        "nonlin_kwargs": {"inplace": True},
    },
    "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
}

# (row name, backbone, factory switches)
VARIANTS = [
    ("TGC-Net ViT-B-16", "ViT-B-16", {}),
    ("TGC-Net ViT-B-16 noCNN", "ViT-B-16", {"use_cnn_branch": False}),
    ("TGC-Net ViT-B-16 noKnowledge", "ViT-B-16", {"use_knowledge": False}),
    ("TGC-Net ViT-B-16 noVLCM", "ViT-B-16", {"use_vlcm": False}),
    ("TGC-Net tiny", "tiny", {}),
    ("TGC-Net tiny noCNN", "tiny", {"use_cnn_branch": False}),
    ("TGC-Net tiny noKnowledge", "tiny", {"use_knowledge": False}),
    ("TGC-Net tiny noVLCM", "tiny", {"use_vlcm": False}),
]
NNUNET_ROW = "nnU-Net PlainConvUNet"


def load_architecture(plans_file):
    if plans_file is None:
        return copy.deepcopy(QATA_2D_ARCH), "constructed: nnU-Net 2.8.1 ExperimentPlanner's 2d PlainConvUNet for QaTa"
    plans = json.loads(Path(plans_file).read_text())
    c = plans["configurations"]["2d"]
    if tuple(c["patch_size"]) != PATCH:
        print(f"note: {plans_file} plans a {c['patch_size']} patch; FLOPs are still measured at {PATCH}")
    return copy.deepcopy(c["architecture"]), f"from {plans_file} (2d configuration)"


def build_nnunet(arch):
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
    return get_network_from_plans(arch["network_class_name"], arch["arch_kwargs"], arch["_kw_requires_import"],
                                  IN_CHANNELS, NUM_CLASSES, allow_init=True, deep_supervision=True)


def build_tgc(arch, towers, switches):
    from nnunet_tgc.model.factory import create_tgc_net
    kw = arch["arch_kwargs"]
    return create_tgc_net(towers.backbone, IN_CHANNELS, NUM_CLASSES, kw["features_per_stage"], kw["strides"],
                          kw["kernel_sizes"], kw["n_conv_per_stage"], kw["n_conv_per_stage_decoder"],
                          deep_supervision=True, towers=towers, verbose=False, **switches)


def file_mb(obj) -> float:
    with tempfile.NamedTemporaryFile(suffix=".pth", delete=True) as f:
        torch.save(obj, f.name)
        return os.path.getsize(f.name) / 2 ** 20


def checkpoint_sizes(net, forward) -> dict:
    """state_dict alone, and nnU-Net-style (weights + SGD momentum buffers after one step).

    The step that creates the momentum buffers runs on a small input: sizes do not depend on it."""
    weights = file_mb(net.state_dict())
    trainable = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(trainable, lr=1e-3, momentum=0.99, nesterov=True)
    net.train()
    out = forward()
    out = out[0] if isinstance(out, (list, tuple)) else out
    out.float().mean().backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    with_opt = file_mb({"network_weights": net.state_dict(), "optimizer_state": opt.state_dict()})
    return {"state_dict_mb": round(weights, 2), "checkpoint_with_sgd_state_mb": round(with_opt, 2)}


def gflops(fn, *modules) -> float:
    """Forward GFLOPs of ``fn()``.

    nn.MultiheadAttention in eval mode takes a fused fast path (``_native_multi_head_attention``)
    that FlopCounterMode does not count; the attention modules of ``modules`` are put in training
    mode while counting (same arithmetic: attention dropout is 0 in CLIP and TGC-Net)."""
    from torch.utils.flop_counter import FlopCounterMode
    mha = [m for mod in modules for m in mod.modules() if isinstance(m, torch.nn.MultiheadAttention)]
    modes = [m.training for m in mha]
    for m in mha:
        m.train()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            fn()
    finally:
        for m, mode in zip(mha, modes):
            m.train(mode)
    return counter.get_total_flops() / 1e9


def count(module, trainable=None) -> int:
    return sum(p.numel() for p in module.parameters() if trainable is None or p.requires_grad == trainable)


def measure(args):
    device = args.device
    arch, arch_source = load_architecture(args.plans)
    torch.manual_seed(0)
    x1 = torch.randn(1, IN_CHANNELS, *PATCH, device=device)
    rows, notes, not_run = [], [], []

    net = build_nnunet(arch).to(device)
    n = count(net)
    row = {"name": NNUNET_ROW, "backbone": None, "total": n, "trainable": count(net, True),
           "frozen": count(net, False), "modules": {"encoder": count(net.encoder, True),
                       # the U-Net's decoder holds a reference to its encoder: count only its own parameters
                       "decoder (incl. segmentation heads)": count(net, True) - count(net.encoder, True)}}
    if not args.no_flops:
        net.eval()
        row["gflops_forward"] = round(gflops(lambda: net(x1)), 3)
    row.update(checkpoint_sizes(net, lambda: net(torch.randn(1, IN_CHANNELS, 64, 64, device=device))))
    rows.append(row)
    nnunet_trainable = row["trainable"]

    variants = [v for v in VARIANTS if v[1] in args.backbones and (args.ablations or v[2] == {})]
    towers_cache = {}
    for name, backbone, switches in variants:
        try:
            rows.append(measure_variant(args, arch, name, backbone, switches, towers_cache, notes, x1, nnunet_trainable))
        except Exception as e:  # noqa: BLE001 - weights, memory: note it, count the others
            not_run.append({"row": name, "reason": f"{type(e).__name__}: {e}"[:500]})
            print(f"{name}: NOT RUN ({type(e).__name__}: {str(e)[:200]})", flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return {"architecture_source": arch_source, "architecture": arch, "patch_size": list(PATCH),
            "in_channels": IN_CHANNELS, "num_classes": NUM_CLASSES, "goal": "trainable(TGC) <= 0.5 x trainable(nnU-Net)",
            "rows": rows, "backbones": notes, "torch": torch.__version__, "machine": machine(device),
            "not_run": not_run}


def build_towers(args, backbone, x1, notes):
    """The frozen towers of ``backbone`` on the device, with their note (counts, size, FLOPs)."""
    from nnunet_tgc.model.factory import create_towers
    from nnunet_tgc.nnunet.env import model_settings
    # ViT-B-16: random weights (only shapes matter here); tiny: its own fixed-seed weights
    if backbone == "tiny":
        os.environ.pop("nnUNet_TGC_clip_weights", None)
    else:
        os.environ["nnUNet_TGC_clip_weights"] = "random"
    t0 = time.perf_counter()
    towers = create_towers(backbone, **model_settings())
    towers.to(args.device)
    image_params = count(towers.clip.visual)
    clip_total = towers.num_frozen_parameters()
    info = {"backbone": backbone, "weights": towers.weights_source, "frozen_clip_total": clip_total,
            "frozen_image_tower": image_params, "frozen_text_tower_and_rest": clip_total - image_params,
            "frozen_clip_fp32_mb": round(file_mb({k: v.float() for k, v in towers.clip.state_dict().items()}), 1),
            "build_seconds": round(time.perf_counter() - t0, 1)}
    if not args.no_flops:
        rgb = x1.expand(-1, 3, -1, -1)
        info["gflops_frozen_image_tower"] = round(gflops(lambda: towers.encode_image(rgb), towers.clip), 3)
        info["gflops_text_tower_per_report"] = round(
            gflops(lambda: towers.encode_texts([EXAMPLE_REPORT]), towers.clip), 3)
    notes.append(info)
    return towers


def measure_variant(args, arch, name, backbone, switches, towers_cache, notes, x1, nnunet_trainable) -> dict:
    """One TGC-Net row (building the backbone's towers once, with their own note)."""
    from nnunet_tgc.nnunet.predictor import make_text_cache
    device = args.device
    if backbone not in towers_cache:
        towers_cache[backbone] = build_towers(args, backbone, x1, notes)
    towers = towers_cache[backbone]
    torch.manual_seed(0)
    tgc = build_tgc(arch, towers, switches).to(device)
    counts = tgc.parameter_counts()
    text = make_text_cache(tgc, QATA_DATASET_JSON).batch([EXAMPLE_REPORT], device)
    row = {"name": name, "backbone": backbone, "switches": switches, **counts,
           "modules": tgc.module_parameter_counts(),
           "ratio_trainable_vs_nnunet": round(counts["trainable"] / nnunet_trainable, 4)}
    if not args.no_flops:
        tgc.eval()
        total = gflops(lambda: tgc(x1, text), tgc, towers.clip)
        vit = next(n for n in notes if n["backbone"] == backbone).get("gflops_frozen_image_tower")
        row["gflops_forward_total"] = round(total, 3)
        row["gflops_forward_trainable_part"] = round(total - vit, 3)
    row.update(checkpoint_sizes(tgc, lambda: tgc(torch.randn(1, IN_CHANNELS, 64, 64, device=device), text)))
    return row


def fmt_int(n):
    return f"{n:,}" if n is not None else "-"


def table(result) -> str:
    out = [f"architecture: {result['architecture_source']}; patch {result['patch_size']}, "
           f"{result['in_channels']} channel, {result['num_classes']} classes", ""]
    head = (f"{'network':<30} {'total':>13} {'trainable':>12} {'frozen':>13} {'ratio':>6} {'goal':>5} "
            f"{'sd MB':>7} {'ckpt MB':>8} {'GFLOPs':>8} {'GF train':>8}")
    out += [head, "-" * len(head)]
    for r in result["rows"]:
        ratio = r.get("ratio_trainable_vs_nnunet")
        goal = "-" if ratio is None else ("ok" if ratio <= 0.5 else "MISS")
        gf = r.get("gflops_forward", r.get("gflops_forward_total"))
        gft = r.get("gflops_forward", r.get("gflops_forward_trainable_part"))
        out.append(f"{r['name']:<30} {fmt_int(r['total']):>13} {fmt_int(r['trainable']):>12} {fmt_int(r['frozen']):>13} "
                   f"{('-' if ratio is None else f'{ratio:.3f}'):>6} {goal:>5} {r['state_dict_mb']:>7.2f} "
                   f"{r['checkpoint_with_sgd_state_mb']:>8.2f} {('-' if gf is None else f'{gf:.2f}'):>8} "
                   f"{('-' if gft is None else f'{gft:.2f}'):>8}")
    out += ["", "ratio = trainable / trainable(nnU-Net); goal: <= 0.5. sd MB: state_dict file (TGC: trainable modules + "
                "CLIP fingerprint; the frozen CLIP is not in it). ckpt MB: state_dict + SGD momentum, as nnU-Net's "
                "checkpoints hold. GFLOPs: forward, batch 1, 224x224 (FLOPs = 2 x multiply-adds); GF train: without "
                "the frozen image tower.", "", "trainable parameters per module:"]
    for r in result["rows"]:
        out.append(f"  {r['name']}: " + ", ".join(f"{k} {v:,}" for k, v in r["modules"].items()))
    if result["backbones"]:
        out += ["", "frozen CLIP towers (random weights, counted only; not stored in TGC checkpoints):"]
        for b in result["backbones"]:
            extra = ""
            if "gflops_frozen_image_tower" in b:
                extra = (f"; image tower {b['gflops_frozen_image_tower']:.2f} GFLOPs per 224x224 image, text tower "
                         f"{b['gflops_text_tower_per_report']:.3f} GFLOPs per distinct report (encoded once, cached)")
            out.append(f"  {b['backbone']} ({b['weights']}): {b['frozen_clip_total']:,} parameters "
                       f"(image {b['frozen_image_tower']:,}, text and rest {b['frozen_text_tower_and_rest']:,}), "
                       f"{b['frozen_clip_fp32_mb']:.1f} MB fp32{extra}")
    for item in result.get("not_run", []):
        out.append(f"NOT RUN: {item['row']}: {item['reason']}")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--plans", type=Path, help="nnUNetPlans.json to take the 2d architecture from "
                                              "(default: the constructed QaTa 2d PlainConvUNet)")
    p.add_argument("--backbones", nargs="+", default=["ViT-B-16", "tiny"], choices=["ViT-B-16", "tiny"],
                   help="CLIP backbones to build TGC-Net with (default both)")
    p.add_argument("--no-ablations", dest="ablations", action="store_false", help="skip the ablation variants")
    p.add_argument("--no-flops", action="store_true", help="skip the FLOP counts")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    p.add_argument("--json", type=Path, help="write the numbers to this JSON file")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    try:
        args.device = resolve_device(args.device)
    except DeviceUnavailable as e:
        write_json({"machine": machine("cpu"), "requested_device": args.device,
                    "not_run": [{"row": "all", "reason": str(e)}]}, args.json)
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = measure(args)
    print(table(result))
    write_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
