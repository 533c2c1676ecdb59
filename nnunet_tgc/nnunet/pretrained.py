"""``nnUNetv2_train ... -pretrained_weights CHECKPOINT`` for TGC-Net (pretrain on one dataset, fine-tune on another).

nnU-Net's ``load_pretrained_weights`` transfers every state-dict entry but the segmentation heads
(keys containing ``.seg_layers.``) and asserts equal shapes by calling ``.shape`` on every entry. A
TGC-Net state dict holds one entry that is not a tensor: the frozen towers' extra state (backbone,
build configuration and fingerprints, ``FrozenCLIP.get_extra_state``). It describes the towers this
run rebuilt, not a weight to transfer, so the loader below keeps the network's own entry and transfers
the trainable weights by nnU-Net's rules: everything except the class-specific heads, which are
``decoder.seg_layers`` (nnU-Net's name) and ``similarity_to_logits`` (one output per class). The fixed
mapping of the input intensities to the ViT's statistics (``tower_input``) is not transferred either:
it belongs to the new dataset's normalisation, as this run's plans derived it.

``nnUNetv2_train`` calls ``nnunetv2.run.run_training.load_pretrained_weights`` right after the
trainer's ``initialize``; :func:`install` (called there) routes TGC networks to this loader and
leaves every other network to nnU-Net's.
"""
import torch
import nnunetv2.run.run_training as run_training

from ..model.tgc_net import TGCNet
from .predictor import unwrap



def _transferable(key: str) -> bool:
    class_specific = ".seg_layers." in key or key.startswith("similarity_to_logits.")
    dataset_specific = key.startswith("tower_input.")  # this dataset's intensities -> the ViT's statistics
    return not class_specific and not dataset_specific and not key.endswith("_extra_state")


def load_pretrained_tgc_weights(network, fname, verbose: bool = False) -> None:
    """nnU-Net's transfer rules for a TGC-Net (see the module docstring); a mismatch names the file and keys."""
    net = unwrap(network)
    pretrained = torch.load(fname, map_location="cpu", weights_only=False)["network_weights"]
    own = net.state_dict()
    missing = [k for k in own if _transferable(k) and k not in pretrained]
    mismatched = [f"{k}: {tuple(pretrained[k].shape)} in the file, {tuple(v.shape)} here" for k, v in own.items()
                  if _transferable(k) and k in pretrained and pretrained[k].shape != v.shape]
    if missing or mismatched:
        raise RuntimeError(
            f"-pretrained_weights {fname} does not fit this network ({len(missing)} missing, {len(mismatched)} "
            f"of other shape; first: {(missing + mismatched)[:5]}). Pretrain with the same TGC trainer variant "
            f"(backbone and switches) and the same plans (nnUNetv2_move_plans_between_datasets copies them).")
    towers_then, towers_now = pretrained.get("towers._extra_state"), own.get("towers._extra_state")
    if isinstance(towers_then, dict) and isinstance(towers_now, dict) and \
            towers_then.get("fingerprint") != towers_now.get("fingerprint"):
        print(f"WARNING: {fname} was trained on other frozen CLIP weights ({towers_then.get('fingerprint')}) than "
              f"this run's ({towers_now.get('fingerprint')}); its trainable modules start from features they "
              f"were not trained on.")
    transfer = {k: v for k, v in pretrained.items() if k in own and _transferable(k)}
    own.update(transfer)
    net.load_state_dict(own)
    print(f"################### Loaded pretrained weights from {fname}: {len(transfer)} entries; kept this "
          f"network's class-specific heads, input mapping and frozen-tower state ###################")
    if verbose:
        for key in transfer:
            print(key, "shape", tuple(transfer[key].shape))


def install() -> None:
    """Route nnU-Net's ``-pretrained_weights`` for TGC networks to :func:`load_pretrained_tgc_weights`."""
    original = run_training.load_pretrained_weights
    if getattr(original, "handles_tgc", False):
        return

    def load_pretrained_weights(network, fname, verbose=False):
        if isinstance(unwrap(network), TGCNet):
            return load_pretrained_tgc_weights(network, fname, verbose)
        return original(network, fname, verbose)

    load_pretrained_weights.handles_tgc = True
    run_training.load_pretrained_weights = load_pretrained_weights
