#!/usr/bin/env python
"""Speed on CPU or GPU: seconds per training step and per inferred 224x224 image, nnU-Net's U-Net vs TGC-Net.

Training step = forward + nnU-Net's loss (Dice + CE, deep supervision weights as nnU-Net sets them; for
TGC-Net the trainer's training forward and loss: also the alignment loss on its maps and nnU-Net's loss on
its image route's logits, ``nnunet_tgc.nnunet.trainer.WithAuxiliaryLosses``) + backward + SGD step (lr 1e-2,
momentum 0.99, Nesterov: nnU-Net's optimizer), on random data, after
warm-up steps; the median over ``--repeats`` steps is reported. Inference = one forward at batch 1
under ``torch.no_grad`` without deep supervision, alone and with nnU-Net's 2D test-time mirroring
(4 passes: none, axis 0, axis 1, both). TGC-Net's text is encoded once outside the timed region, as
training and prediction do (one encoding per distinct report, cached); its cost is reported apart.

CLIP backbones have random weights (``nnUNet_TGC_clip_weights=random`` for ViT-B-16): the arithmetic
is the same as with pretrained weights. No data loading or augmentation is timed (see
``benchmark_qata.py`` for end-to-end seconds per iteration).

``--device`` (default ``auto``: CUDA when available) chooses where; on CUDA the steps run as nnU-Net
runs them, under autocast with a GradScaler (``--no-amp`` for float32), with the frozen towers in
float16, and every timed call ends with ``torch.cuda.synchronize``. What could not run (a network
that failed to build, a batch that ran out of memory) is written to the JSON under ``not_run`` and
printed, and the rest is still measured. Examples::

    nice -n 10 python scripts/benchmark_speed.py --json speed.json              # CPU here
    python scripts/benchmark_speed.py --device cuda --batches 2 8 62 --json speed_gpu.json
"""
import contextlib
import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore", message=".*RANDOM weights.*")
warnings.filterwarnings("ignore", message=".*torch.jit.interface.*")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import DeviceUnavailable, machine, resolve_device, synchronize, write_json  # noqa: E402
from count_parameters import (EXAMPLE_REPORT, IN_CHANNELS, PATCH, QATA_2D_ARCH, QATA_DATASET_JSON,  # noqa: E402
                              build_nnunet, build_tgc)
from nnunet_tgc.nnunet.trainer import WithAuxiliaryLosses, nnUNetTrainerTGC  # noqa: E402

NETWORKS = {"nnunet": "nnU-Net PlainConvUNet", "tgc_tiny": "TGC-Net tiny", "tgc_vitb16": "TGC-Net ViT-B-16 (random)"}


def nnunet_loss(n_outputs: int):
    """nnU-Net's training loss: DC_and_CE_loss wrapped for deep supervision with its weights."""
    import numpy as np
    from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
    from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
    from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss
    loss = DC_and_CE_loss({"batch_dice": True, "smooth": 1e-5, "do_bg": False, "ddp": False}, {}, weight_ce=1,
                          weight_dice=1, ignore_label=None, dice_class=MemoryEfficientSoftDiceLoss)
    weights = np.array([1 / (2 ** i) for i in range(n_outputs)])
    weights[-1] = 0
    weights = weights / weights.sum()
    return DeepSupervisionWrapper(loss, weights)


def set_deep_supervision(net, on: bool):
    net.decoder.deep_supervision = on


def build(key: str, device):
    """-> (network on ``device``, forward(x, training=False) callable, text-encoding seconds or None). With
    ``training`` the forward is the trainer's training forward (TGC-Net: also the maps the alignment loss reads
    and the image route's logits, ``nnUNetTrainerTGC._network_input``)."""
    if key == "nnunet":
        net = build_nnunet(QATA_2D_ARCH).to(device)
        return net, (lambda x, training=False: net(x)), None
    from nnunet_tgc.model.factory import create_towers
    from nnunet_tgc.nnunet.env import model_settings
    from nnunet_tgc.model import TGCInput
    from nnunet_tgc.nnunet.predictor import make_text_cache
    backbone = "tiny" if key == "tgc_tiny" else "ViT-B-16"
    if backbone != "tiny":
        os.environ["nnUNet_TGC_clip_weights"] = "random"
    towers = create_towers(backbone, **model_settings())
    torch.manual_seed(0)
    net = build_tgc(QATA_2D_ARCH, towers, {}).to(device)  # on CUDA the frozen towers become float16
    cache = make_text_cache(net, QATA_DATASET_JSON)
    t0 = time.perf_counter()
    cache.encode(EXAMPLE_REPORT)
    synchronize(device)
    text_seconds = time.perf_counter() - t0
    texts = {}

    def forward(x, training=False):
        b = x.shape[0]
        if b not in texts:
            texts[b] = cache.batch([EXAMPLE_REPORT] * b, device)
        return net(TGCInput(x, texts[b], return_similarity=training))
    return net, forward, text_seconds


def time_calls(fn, warmup: int, repeats: int) -> dict:  # one network alone
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4),
            "max_s": round(max(times), 4), "repeats": repeats, "warmup": warmup}


def autocast(device, amp: bool):
    """nnU-Net's precision: autocast on CUDA (float16), nothing on the CPU."""
    return torch.autocast(device.type, enabled=True) if amp and device.type == "cuda" else contextlib.nullcontext()


def train_step_timer(net, forward, batch: int, device, amp: bool):
    net.train()
    set_deep_supervision(net, True)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-2, momentum=0.99, nesterov=True, weight_decay=3e-5)
    scaler = torch.amp.GradScaler(device.type) if amp and device.type == "cuda" else None
    x = torch.randn(batch, IN_CHANNELS, *PATCH, device=device)
    target = (torch.rand(batch, 1, *PATCH, device=device) > 0.7).float()
    with torch.no_grad():
        n_out = len(forward(x[:1]))
    # the trainer's loss: nnU-Net's, plus the alignment loss and the image route's for TGC-Net's training output
    loss_fn = WithAuxiliaryLosses(nnunet_loss(n_out), None, nnUNetTrainerTGC.tgc_alignment_loss_weight,
                                  nnUNetTrainerTGC.tgc_image_route_weight)
    sizes = [PATCH]
    with torch.no_grad():
        sizes = [o.shape[2:] for o in forward(x[:1])]
    targets = [F.interpolate(target, size=s, mode="nearest") for s in sizes]

    def step():  # nnU-Net's train_step: autocast forward and loss, scaled backward, clipping, step
        opt.zero_grad(set_to_none=True)
        with autocast(device, amp):
            out = forward(x, training=True)
            loss = loss_fn(out, targets)
        if scaler is None:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 12)
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, 12)
            scaler.step(opt)
            scaler.update()
    return step


def inference_timer(net, forward, mirror: bool, device, amp: bool):
    net.eval()
    set_deep_supervision(net, False)
    x = torch.randn(1, IN_CHANNELS, *PATCH, device=device)
    flips = [(), (2,), (3,), (2, 3)] if mirror else [()]

    def infer():
        with torch.no_grad(), autocast(device, amp):
            pred = None
            for axes in flips:
                xi = torch.flip(x, axes) if axes else x
                o = forward(xi)
                o = torch.flip(o, axes) if axes else o
                pred = o if pred is None else pred + o
            return pred / len(flips)
    return infer


def interleaved(timers: dict, warmup: int, repeats: int, device="cpu", not_run=None, what="") -> dict:
    """Time every network's call in turn, round after round (key -> stats): on shared CPUs whose load
    drifts, each network sees the same conditions, so the ratios stay fair. A network whose call fails
    (e.g. CUDA out of memory) is dropped from this measurement and noted in ``not_run``."""
    timers = dict(timers)
    for k, fn in list(timers.items()):
        try:
            for _ in range(warmup):
                fn()
            synchronize(device)
        except RuntimeError as e:
            _give_up(timers, k, what, e, not_run, device)
    times = {k: [] for k in timers}
    for _ in range(repeats):
        for k, fn in list(timers.items()):
            t0 = time.perf_counter()
            try:
                fn()
                synchronize(device)
            except RuntimeError as e:
                _give_up(timers, k, what, e, not_run, device)
                times.pop(k)
                continue
            times[k].append(time.perf_counter() - t0)
    return {k: {"median_s": round(statistics.median(t), 4), "min_s": round(min(t), 4), "max_s": round(max(t), 4),
                "repeats": repeats, "warmup": warmup} for k, t in times.items()}


def _give_up(timers: dict, key: str, what: str, error: Exception, not_run, device) -> None:
    timers.pop(key, None)
    if not_run is not None:
        not_run.append({"network": key, "what": what, "reason": f"{type(error).__name__}: {error}"[:500]})
    print(f"    {NETWORKS[key]}: {what} NOT RUN ({type(error).__name__}: {str(error)[:200]})", flush=True)
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()


def run(args) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    device, amp = args.device, args.amp and args.device.type == "cuda"
    result = {"machine": machine(device), "patch_size": list(PATCH), "architecture": "nnU-Net 2.8.1 2d plans for QaTa "
              "(PlainConvUNet 32..512, 6 stages); TGC-Net at width_factor 0.5 on the same stages",
              "settings": {"warmup": args.warmup, "repeats": args.repeats, "batches": args.batches,
                           "inference_repeats": args.inference_repeats, "order": "interleaved across networks",
                           "device": str(device), "autocast": amp},
              "started": time.strftime("%Y-%m-%d %H:%M:%S"), "networks": {}, "not_run": []}
    built = {}
    for key in args.networks:
        print(f"[{time.strftime('%H:%M:%S')}] {NETWORKS[key]}: building", flush=True)
        try:
            net, forward, text_s = build(key, device)
        except Exception as e:  # noqa: BLE001 - weights, memory: note it, measure the others
            result["not_run"].append({"network": key, "what": "build", "reason": f"{type(e).__name__}: {e}"[:500]})
            print(f"    NOT RUN: {type(e).__name__}: {str(e)[:200]}", flush=True)
            continue
        built[key] = (net, forward)
        entry = {"name": NETWORKS[key], "train_step": {}, "inference": {}}
        if text_s is not None:
            entry["text_encoding_first_report_s"] = round(text_s, 4)
        result["networks"][key] = entry
    for b in args.batches:
        print(f"[{time.strftime('%H:%M:%S')}] training steps, batch {b}", flush=True)
        stats = interleaved({k: train_step_timer(net, fwd, b, device, amp) for k, (net, fwd) in built.items()},
                            args.warmup, args.repeats, device, result["not_run"], f"train batch {b}")
        for k, r in stats.items():
            result["networks"][k]["train_step"][f"batch_{b}"] = r
            print(f"    {NETWORKS[k]}: median {r['median_s']:.3f} s (min {r['min_s']:.3f}, max {r['max_s']:.3f})",
                  flush=True)
    for mirror in (False, True):
        name = "mirror_4_passes" if mirror else "no_mirroring"
        print(f"[{time.strftime('%H:%M:%S')}] inference per 224x224 image, {name}", flush=True)
        stats = interleaved({k: inference_timer(net, fwd, mirror, device, amp) for k, (net, fwd) in built.items()},
                            args.warmup, args.inference_repeats, device, result["not_run"], f"inference {name}")
        for k, r in stats.items():
            result["networks"][k]["inference"][name] = r
            print(f"    {NETWORKS[k]}: median {r['median_s']:.3f} s", flush=True)
    result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    return result


def table(result) -> str:
    m = result["machine"]
    batches = result["settings"]["batches"]
    where = f"GPU {m['gpu']} (CUDA {m['cuda']}, autocast {result['settings']['autocast']})" if "gpu" in m else "CPU"
    lines = [f"device: {where}; CPU {m['cpu_model']} ({m['logical_cpus']} logical CPUs), torch {m['torch']} with "
             f"{m['torch_threads']} threads; load average at start {m['load_average_at_start'][0]:.2f}, at end "
             f"{m['load_average_at_end'][0]:.2f}", ""]
    head = f"{'network':<28}" + "".join(f"{'train b' + str(b) + ' (s)':>16}" for b in batches) + \
        f"{'infer (s)':>11}{'infer x4 mirror (s)':>21}"
    lines += [head, "-" * len(head)]
    def cell(stats, width):
        return f"{stats['median_s']:>{width}.3f}" if stats else f"{'not run':>{width}}"
    for entry in result["networks"].values():
        row = f"{entry['name']:<28}" + "".join(cell(entry["train_step"].get(f"batch_{b}"), 16) for b in batches)
        row += cell(entry["inference"].get("no_mirroring"), 11) + cell(entry["inference"].get("mirror_4_passes"), 21)
        lines.append(row)
    lines += ["", "train: forward + nnU-Net loss + backward + SGD step, median; infer: one 224x224 image, batch 1, "
                  "no deep supervision, median. TGC-Net's first report encoding (with the knowledge-base entries it "
                  "matches; once per distinct report, then cached): " +
              ", ".join(f"{e['name']} {e['text_encoding_first_report_s']:.3f} s" for e in result["networks"].values()
                        if "text_encoding_first_report_s" in e)]
    for item in result.get("not_run", []):
        lines.append(f"NOT RUN: {NETWORKS.get(item['network'], item['network'])}, {item['what']}: {item['reason']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    p.add_argument("--batches", nargs="+", type=int, default=[2, 8])
    p.add_argument("--warmup", type=int, default=2, help="untimed calls before timing")
    p.add_argument("--repeats", type=int, default=5, help="timed training steps (median reported)")
    p.add_argument("--inference-repeats", type=int, default=10, help="timed inferences (median reported)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    p.add_argument("--no-amp", dest="amp", action="store_false",
                   help="on CUDA, float32 instead of nnU-Net's autocast")
    p.add_argument("--json", type=Path, help="write the numbers to this JSON file")
    args = p.parse_args(argv)
    try:
        args.device = resolve_device(args.device)
    except DeviceUnavailable as e:
        write_json({"machine": machine("cpu"), "requested_device": args.device,
                    "not_run": [{"network": "all", "what": "everything", "reason": str(e)}]}, args.json)
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = run(args)
    print()
    print(table(result))
    write_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
