"""Named CLIP backbones and the one place where their weights are resolved.

Like open_clip and timm: a registry of named configurations and a single factory. The weights come
from ``nnUNet_TGC_clip_weights``:

* unset      -> the backbone's default pretrained tag through open_clip's download and cache
                (the tiny test backbone has none: it is built from a fixed seed);
* a path     -> a local checkpoint file (open_clip or plain ``state_dict`` format);
* ``random`` -> random initialisation, for tests and measurements only (a warning is logged).
"""
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import nn

WEIGHTS_ENV = "nnUNet_TGC_clip_weights"
log = logging.getLogger(__name__)


class CLIPWeightsError(RuntimeError):
    """The CLIP weights a backbone needs could not be obtained."""


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    build: Callable[[Optional[str]], nn.Module]  # pretrained tag or None -> open_clip model
    tokenizer: Callable[[], Callable]
    default_pretrained: Optional[str]            # tag for open_clip; None: no public weights
    description: str = ""
    taps: Tuple[int, ...] = field(default=())     # 0-based ViT blocks whose outputs SSE uses


def _open_clip_builder(model_name: str, **kwargs) -> Callable[[Optional[str]], nn.Module]:
    def build(pretrained: Optional[str]) -> nn.Module:
        import open_clip
        return open_clip.create_model(model_name, pretrained=pretrained, **kwargs)
    return build


def _open_clip_tokenizer(model_name: str) -> Callable[[], Callable]:
    def make():
        import open_clip
        return open_clip.get_tokenizer(model_name)
    return make


TINY_SEED = 20251225
TINY_CONFIG = dict(
    embed_dim=64,
    vision_cfg=dict(image_size=224, layers=4, width=64, head_width=32, patch_size=16, mlp_ratio=2.0),
    text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2, mlp_ratio=2.0),
)


def _build_tiny(pretrained: Optional[str]) -> nn.Module:
    """A CLIP of the same shape as ViT-B-16 (ViT image tower, causal text transformer, BPE tokens)
    but a few layers of width 64. Random weights from a fixed seed, so every process that builds it
    gets the same towers (and the same fingerprint) without a file."""
    from open_clip.model import CLIP
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        return CLIP(**TINY_CONFIG)


BIOMEDCLIP_HUB = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"


def _hub_tokenizer(hub_name: str) -> Callable[[], Callable]:
    """The tokenizer of a hub model (BiomedCLIP's PubMedBERT WordPiece). When ``nnUNet_TGC_clip_weights``
    names a ``local-dir`` folder, the tokenizer files come from that folder too, so that the offline
    route never touches the hub."""
    def make():
        import open_clip
        setting = weights_setting()
        local = setting is not None and Path(setting).is_dir()
        name = f"local-dir:{Path(setting)}" if local else hub_name
        try:
            return open_clip.get_tokenizer(name)
        except Exception as e:  # noqa: BLE001 - missing tokenizer files or no hub access: same advice
            where = f"folder {setting} (vocab.txt, tokenizer_config.json)" if local else hub_name
            raise CLIPWeightsError(f"Could not load the tokenizer from {where} ({type(e).__name__}: {e}). "
                                   f"Point {WEIGHTS_ENV} at a folder holding the hub repository's files.") from e
    return make

BACKBONES: Dict[str, BackboneSpec] = {
    "ViT-B-16": BackboneSpec(
        name="ViT-B-16", build=_open_clip_builder("ViT-B-16"), tokenizer=_open_clip_tokenizer("ViT-B-16"),
        default_pretrained="openai", taps=(2, 5, 8, 11),
        description="OpenAI CLIP ViT-B/16 (86M image + 63M text parameters), open_clip 'openai' weights"),
    "BiomedCLIP": BackboneSpec(
        name="BiomedCLIP", build=_open_clip_builder(BIOMEDCLIP_HUB), tokenizer=_hub_tokenizer(BIOMEDCLIP_HUB),
        default_pretrained=None, taps=(2, 5, 8, 11),
        description="BiomedCLIP: timm ViT-B/16 + PubMedBERT text tower (Hugging Face hub)"),
    "tiny": BackboneSpec(
        name="tiny", build=_build_tiny, tokenizer=_open_clip_tokenizer("ViT-B-16"),
        default_pretrained=None, taps=(0, 1, 2, 3),
        description="4-layer width-64 CLIP with random weights from a fixed seed (CPU tests and demo)"),
}


def get_backbone_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise KeyError(f"Unknown CLIP backbone {name!r}; known: {sorted(BACKBONES)}")
    return BACKBONES[name]


def weights_setting() -> Optional[str]:
    value = os.environ.get(WEIGHTS_ENV, "").strip()
    return value or None


def create_clip(name: str) -> Tuple[nn.Module, Callable, str]:
    """Build backbone ``name`` with weights chosen by ``nnUNet_TGC_clip_weights``.

    Returns the open_clip model, its tokenizer and a human-readable description of the weight source
    (stored with checkpoints so that a fingerprint mismatch can say what was used).
    """
    spec = get_backbone_spec(name)
    setting = weights_setting()
    if setting is None:
        model, source = _build_default(spec)
    elif setting.lower() == "random":
        warnings.warn(f"{WEIGHTS_ENV}=random: CLIP backbone {name} has RANDOM weights. Use this for tests and "
                      f"measurements only; results are not those of a pretrained CLIP.", stacklevel=2)
        model, source = spec.build(None), "random"
    else:
        model, source = _build_from_file(spec, Path(setting)), f"file:{Path(setting).resolve()}"
    return model, spec.tokenizer(), source


def _build_default(spec: BackboneSpec) -> Tuple[nn.Module, str]:
    if spec.default_pretrained is None:
        if spec.name == "tiny":
            return spec.build(None), f"seed:{TINY_SEED}"
        # hub models carry their weights in the model name
        try:
            return spec.build(None), f"hub:{spec.name}"
        except Exception as e:  # noqa: BLE001 - any download/hub failure gets the same advice
            raise _download_error(spec, e) from e
    try:
        return spec.build(spec.default_pretrained), f"open_clip:{spec.name}/{spec.default_pretrained}"
    except Exception as e:  # noqa: BLE001
        raise _download_error(spec, e) from e


def _download_error(spec: BackboneSpec, cause: Exception) -> CLIPWeightsError:
    return CLIPWeightsError(
        f"Could not obtain pretrained weights for CLIP backbone {spec.name!r} ({type(cause).__name__}: {cause}).\n"
        f"Either allow open_clip to download them (network access to the Hugging Face hub), or download the "
        f"checkpoint on another machine and point {WEIGHTS_ENV} at the local file, e.g.\n"
        f"  export {WEIGHTS_ENV}=/path/to/{spec.name}.bin\n"
        f"(for tests only: {WEIGHTS_ENV}=random builds the backbone with random weights).")


def _build_from_file(spec: BackboneSpec, path: Path) -> nn.Module:
    if path.is_dir():
        # a folder as open_clip's 'local-dir:' schema expects it (open_clip_config.json + weights, and the
        # tokenizer files for Hugging Face text towers): the offline route for hub models such as BiomedCLIP
        import open_clip
        overrides, hint = _local_hf_text_cfg(path)
        try:
            return open_clip.create_model(f"local-dir:{path}", pretrained_text=False, **overrides)
        except Exception as e:  # noqa: BLE001
            raise CLIPWeightsError(f"Could not build CLIP backbone {spec.name!r} from folder {path}: {e}{hint}") from e
    if not path.is_file():
        raise CLIPWeightsError(f"{WEIGHTS_ENV} points to {path}, which does not exist. Set it to a CLIP checkpoint "
                               f"for backbone {spec.name!r}, to 'random', or unset it to download the default weights.")
    model = spec.build(None)
    try:
        from open_clip import load_checkpoint
        load_checkpoint(model, str(path), strict=True, weights_only=True)
    except Exception as e:  # noqa: BLE001 - report which file and which backbone, whatever went wrong
        raise CLIPWeightsError(f"Could not load CLIP checkpoint {path} into backbone {spec.name!r}: {e}") from e
    return model


def _local_hf_text_cfg(path: Path) -> Tuple[dict, str]:
    """A Hugging Face text tower (BiomedCLIP's PubMedBERT) is built from its ``config.json``, which open_clip
    fetches from the hub by the config's ``hf_model_name`` even with a local folder and no text weights
    (the weights come from the CLIP checkpoint). If the folder holds that ``config.json``, build from it
    instead, so that the folder alone suffices offline. Returns (create_model overrides, error hint)."""
    import json
    try:
        text_cfg = json.loads((path / "open_clip_config.json").read_text())["model_cfg"]["text_cfg"]
    except Exception:  # noqa: BLE001 - open_clip reports a missing or broken config itself
        return {}, ""
    hf_name = text_cfg.get("hf_model_name")
    if not hf_name or Path(hf_name).is_dir():
        return {}, ""
    if (path / "config.json").is_file():
        return {"text_cfg": {**text_cfg, "hf_model_name": str(path), "hf_model_pretrained": False}}, ""
    return {}, (f"\nThe text tower {hf_name!r} is a Hugging Face model whose config.json open_clip fetches from the "
                f"hub (or its cache). To work offline, copy that config.json (from the hub repository {hf_name}) "
                f"into {path}.")
