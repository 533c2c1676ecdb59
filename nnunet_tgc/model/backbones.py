"""Named CLIP backbones and the one place where their weights are resolved.

Like open_clip and timm: a registry of named configurations and a single factory. The weights are
an argument of the factory, in open_clip's ``pretrained=`` style (``create_clip(name, weights=...)``; the
nnU-Net glue passes the value of ``nnUNet_TGC_clip_weights``, ``nnunet_tgc/nnunet/env.py``):

* None       -> the backbone's default pretrained tag through open_clip's download and cache
                (the tiny test backbone has none: it is built from a fixed seed);
* a path     -> a local checkpoint file (open_clip or plain ``state_dict`` format, or a TorchScript
                archive such as OpenAI's original ``ViT-B-16.pt``, read for its state dict as open_clip's
                ``load_openai_model`` does), or an open_clip ``local-dir`` folder (config + weights +
                tokenizer files);
* ``random`` -> random initialisation, for tests and measurements only (a warning is logged); never
                touches the Hugging Face hub, for every backbone.

Every route builds the tower with the configuration its weights were trained with: for a tag of
open_clip's pretrained table that includes the table's ``quick_gelu`` (OpenAI's CLIP was trained with
QuickGELU; open_clip's plain ``ViT-B-16`` config uses GELU and only warns). The configuration is
recorded on the model as ``tgc_build`` (model config + the activations actually built) so that
checkpoints can refuse towers built differently: a fingerprint over tensors cannot see an activation.
Every route also records the image preprocessing the weights were trained with (open_clip's
``preprocess_cfg`` on the image tower: mean and std), which ``tower_input.py`` maps nnU-Net's input to.
"""
import copy
import json
import logging
import os
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple, Union

import torch
from torch import nn

from .tower_input import OPENAI_MEAN, OPENAI_STD

# the environment variable the nnU-Net glue reads the ``weights`` argument from (named in error messages)
WEIGHTS_ENV = "nnUNet_TGC_clip_weights"
RANDOM_WEIGHTS = "random"
log = logging.getLogger(__name__)


class CLIPWeightsError(RuntimeError):
    """The CLIP weights a backbone needs could not be obtained."""


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    model_cfg: Callable[[], dict]                 # the open_clip model config the weights were trained with
    build_random: Callable[[], nn.Module]         # that architecture with random weights, offline
    download: Optional[Callable[[], nn.Module]]   # that architecture with its pretrained weights (hub / URL)
    tokenizer: Callable[..., Callable]            # (route: "default"/"file"/"dir"/"random", folder=None) -> tokenizer
    default_pretrained: Optional[str] = None      # open_clip tag; None: no tag (hub model or no weights)
    open_clip_name: Optional[str] = None          # open_clip's model name or hub id
    description: str = ""
    taps: Tuple[int, ...] = field(default=())     # 0-based ViT blocks whose outputs SSE uses


# ----------------------------------------------------------------------------- build configuration
def canonical_cfg(cfg: dict) -> dict:
    """JSON-normal form (tuples -> lists, sorted keys), so that a config read back from a checkpoint
    compares equal to the one built here."""
    return json.loads(json.dumps(cfg, sort_keys=True))


def activation_names(model: nn.Module) -> list:
    """The activation classes a built model actually uses (e.g. ['GELU'] or ['QuickGELU'])."""
    names = set()
    for m in model.modules():
        cls = type(m)
        in_torch = cls.__module__ == "torch.nn.modules.activation" and not isinstance(m, nn.MultiheadAttention)
        if in_torch or "GELU" in cls.__name__ or cls.__name__.endswith("Activation"):
            approximate = getattr(m, "approximate", "none")
            names.add(cls.__name__ + (f"(approximate={approximate})" if approximate != "none" else ""))
    return sorted(names)


def _record_build(model: nn.Module, cfg: dict) -> nn.Module:
    model.tgc_build = {"model_cfg": canonical_cfg(cfg), "activations": activation_names(model)}
    return model


def _record_preprocess(model: nn.Module, mean, std) -> nn.Module:
    """Record the image statistics of the weights on the tower, where open_clip keeps them (``preprocess_cfg``
    and the legacy ``image_mean`` / ``image_std``; open_clip's own loaders set them for tags and folders)."""
    visual = getattr(model, "visual", model)
    cfg = dict(getattr(visual, "preprocess_cfg", None) or {})
    cfg.update(mean=tuple(mean), std=tuple(std))
    visual.preprocess_cfg, visual.image_mean, visual.image_std = cfg, tuple(mean), tuple(std)
    return model


def pretrained_model_cfg(open_clip_name: str, tag: Optional[str]) -> dict:
    """open_clip's model config for ``open_clip_name`` with the pretrained table's ``quick_gelu`` for ``tag``."""
    import open_clip
    cfg = open_clip.get_model_config(open_clip_name)
    if cfg is None:
        raise KeyError(f"open_clip has no model config {open_clip_name!r}")
    pretrained = open_clip.get_pretrained_cfg(open_clip_name, tag) if tag else {}
    cfg["quick_gelu"] = bool(pretrained.get("quick_gelu", False))
    return cfg


def _open_clip_backbone(name: str, tag: str, **spec_kwargs) -> BackboneSpec:
    """A backbone from open_clip's registry and pretrained table (e.g. ViT-B-16 / openai)."""
    def model_cfg():
        return pretrained_model_cfg(name, tag)

    def create(pretrained):
        import open_clip
        cfg = model_cfg()
        # force_quick_gelu sets the activation before open_clip compares it with the tag's (no warning)
        extra = {"force_quick_gelu": True} if cfg["quick_gelu"] else {}
        model = open_clip.create_model(name, pretrained=pretrained, require_pretrained=pretrained is not None,
                                       **extra)
        # the tag's statistics on every route (random and local files too: they stand for the tag's weights)
        tag_cfg = open_clip.get_pretrained_cfg(name, tag) or {}
        _record_preprocess(model, tag_cfg.get("mean", OPENAI_MEAN), tag_cfg.get("std", OPENAI_STD))
        return _record_build(model, cfg)

    def tokenizer(route, folder=None):
        import open_clip
        return open_clip.get_tokenizer(name)  # CLIP's BPE ships inside open_clip: no route needs the hub
    return BackboneSpec(name=name, model_cfg=model_cfg, build_random=lambda: create(None),
                        download=lambda: create(tag), tokenizer=tokenizer, default_pretrained=tag,
                        open_clip_name=name, **spec_kwargs)


TINY_SEED = 20251225
TINY_CONFIG = dict(
    embed_dim=64,
    vision_cfg=dict(image_size=224, layers=4, width=64, head_width=32, patch_size=16, mlp_ratio=2.0),
    text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2, mlp_ratio=2.0),
)


def _build_tiny() -> nn.Module:
    """A CLIP of the same shape as ViT-B-16 (ViT image tower, causal text transformer, BPE tokens)
    but a few layers of width 64. Random weights from a fixed seed, so every process that builds it
    gets the same towers (and the same fingerprint) without a file."""
    from open_clip.model import CLIP
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        return _record_build(_record_preprocess(CLIP(**TINY_CONFIG), OPENAI_MEAN, OPENAI_STD), TINY_CONFIG)


BIOMEDCLIP_HUB = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
# The hub repository's open_clip_config.json (model_cfg) and its text model's BERT config.json
# (microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract), shipped so that `random` builds the same
# architecture without the hub.
BIOMEDCLIP_TEXT_MODEL = "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract"
BIOMEDCLIP_CONFIG = {
    "embed_dim": 512,
    "vision_cfg": {"timm_model_name": "vit_base_patch16_224", "timm_model_pretrained": False, "timm_pool": "",
                   "timm_proj": "linear", "image_size": 224},
    "text_cfg": {"hf_model_name": BIOMEDCLIP_TEXT_MODEL, "hf_tokenizer_name": BIOMEDCLIP_TEXT_MODEL,
                 "hf_proj_type": "mlp", "hf_pooler_type": "cls_last_hidden_state_pooler", "context_length": 256},
}
# the hub repository's open_clip_config.json "preprocess_cfg" (OpenAI's CLIP statistics)
BIOMEDCLIP_PREPROCESS = {"mean": OPENAI_MEAN, "std": OPENAI_STD}
BIOMEDCLIP_BERT_CONFIG = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                              intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
                              attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                              initializer_range=0.02, layer_norm_eps=1e-12, pad_token_id=0)


def _build_custom_text_clip(cfg: dict, text_config_dir: Path) -> nn.Module:
    """CustomTextCLIP from ``cfg`` with the Hugging Face text tower's config read from a local folder
    and no pretrained tower weights: nothing is fetched."""
    from open_clip.model import CustomTextCLIP
    build_cfg = copy.deepcopy(cfg)
    build_cfg.pop("custom_text", None)
    build_cfg["vision_cfg"]["timm_model_pretrained"] = False
    build_cfg["text_cfg"].update(hf_model_name=str(text_config_dir), hf_model_pretrained=False)
    model = _record_preprocess(CustomTextCLIP(**build_cfg), BIOMEDCLIP_PREPROCESS["mean"], BIOMEDCLIP_PREPROCESS["std"])
    return _record_build(model, cfg)


def _build_biomedclip_random() -> nn.Module:
    from transformers import BertConfig
    with tempfile.TemporaryDirectory(prefix="tgc_biomedbert_") as folder:
        BertConfig(**BIOMEDCLIP_BERT_CONFIG).save_pretrained(folder)
        return _build_custom_text_clip(BIOMEDCLIP_CONFIG, Path(folder))


def _download_biomedclip() -> nn.Module:
    import open_clip
    # require_pretrained: where the hub gives the config but no weights, open_clip would only log a warning
    model = open_clip.create_model(BIOMEDCLIP_HUB, require_pretrained=True)
    return _record_build(model, open_clip.get_model_config(BIOMEDCLIP_HUB))


def _standin_wordpiece_tokenizer(vocab_size: int, context_length: int):
    """A WordPiece tokenizer of the text tower's vocabulary size (special tokens, characters and
    ``##`` continuations, padded with unused entries) for random weights: the real vocabulary lives
    on the hub, and random weights give no meaning to token ids anyway. Reports are then split into
    about one token per character, so token counts differ from the real tokenizer."""
    from open_clip.tokenizer import HFTokenizer
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    vocab = specials + chars + ["##" + c for c in chars]
    vocab += [f"[unused{i}]" for i in range(vocab_size - len(vocab))]
    with tempfile.TemporaryDirectory(prefix="tgc_standin_tokenizer_") as folder:
        (Path(folder) / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        (Path(folder) / "tokenizer_config.json").write_text(json.dumps(
            {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512,
             "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
             "mask_token": "[MASK]"}))
        return HFTokenizer(folder, context_length=context_length)


def _biomedclip_tokenizer(route: str, folder: Optional[Path] = None):
    """PubMedBERT's WordPiece tokenizer: from the local-dir ``folder`` (route "dir"), from the hub, or a stand-in
    for random weights."""
    import open_clip
    if route == "random":
        warnings.warn("BiomedCLIP with RANDOM weights tokenises with a stand-in WordPiece vocabulary (the real one "
                      "is on the hub): for measurements only.", stacklevel=3)
        return _standin_wordpiece_tokenizer(BIOMEDCLIP_BERT_CONFIG["vocab_size"],
                                            BIOMEDCLIP_CONFIG["text_cfg"]["context_length"])
    local = route == "dir"
    name = f"local-dir:{Path(folder)}" if local else BIOMEDCLIP_HUB
    try:
        return open_clip.get_tokenizer(name)
    except Exception as e:  # noqa: BLE001 - missing tokenizer files or no hub access: same advice
        where = f"folder {folder} (vocab.txt, tokenizer_config.json)" if local else BIOMEDCLIP_HUB
        raise CLIPWeightsError(f"Could not load the tokenizer from {where} ({type(e).__name__}: {e}). "
                               f"Point {WEIGHTS_ENV} at a folder holding the hub repository's files.") from e


def _open_clip_tokenizer_bpe():
    import open_clip
    return open_clip.get_tokenizer("ViT-B-16")  # CLIP's BPE, inside the open_clip package


BACKBONES: Dict[str, BackboneSpec] = {
    "ViT-B-16": _open_clip_backbone(
        "ViT-B-16", "openai", taps=(2, 5, 8, 11),
        description="OpenAI CLIP ViT-B/16 (86M image + 63M text parameters, QuickGELU), open_clip 'openai' weights"),
    "BiomedCLIP": BackboneSpec(
        name="BiomedCLIP", model_cfg=lambda: copy.deepcopy(BIOMEDCLIP_CONFIG), build_random=_build_biomedclip_random,
        download=_download_biomedclip, tokenizer=_biomedclip_tokenizer, open_clip_name=BIOMEDCLIP_HUB,
        taps=(2, 5, 8, 11), description="BiomedCLIP: timm ViT-B/16 + PubMedBERT text tower (Hugging Face hub)"),
    "tiny": BackboneSpec(
        name="tiny", model_cfg=lambda: copy.deepcopy(TINY_CONFIG), build_random=_build_tiny, download=None,
        tokenizer=lambda route, folder=None: _open_clip_tokenizer_bpe(), taps=(0, 1, 2, 3),
        description="4-layer width-64 CLIP with random weights from a fixed seed (CPU tests and demo)"),
}


def get_backbone_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise KeyError(f"Unknown CLIP backbone {name!r}; known: {sorted(BACKBONES)}")
    return BACKBONES[name]


def weights_setting(weights: Union[str, os.PathLike, None]) -> Optional[str]:
    """The ``weights`` argument in normal form: None for the default weights (None or a blank string),
    else the stripped text (``random`` or a path)."""
    value = "" if weights is None else os.fspath(weights).strip()
    return value or None


def create_clip(name: str, weights: Union[str, os.PathLike, None] = None) -> Tuple[nn.Module, Callable, str]:
    """Build backbone ``name`` with the given ``weights`` (open_clip's ``pretrained=`` style):

    * None (default) -> the backbone's default pretrained tag (open_clip's download and cache; the tiny
      backbone: its fixed seed);
    * a path         -> a local checkpoint file (open_clip or ``state_dict`` format, or a TorchScript
      archive) or an open_clip ``local-dir`` folder;
    * ``"random"``   -> random weights, with a warning (tests and measurements; never touches the hub).

    The nnU-Net glue passes ``nnUNet_TGC_clip_weights`` here (``nnunet_tgc.nnunet.env.model_settings``).
    Returns the open_clip model (carrying its build configuration as ``tgc_build``), its tokenizer and
    a human-readable description of the weight source (stored with checkpoints so that a fingerprint
    mismatch can say what was used).
    """
    spec = get_backbone_spec(name)
    setting = weights_setting(weights)
    folder = None
    if setting is None:
        model, source, route = *_build_default(spec), "default"
    elif setting.lower() == RANDOM_WEIGHTS:
        warnings.warn(f"weights='random' ({WEIGHTS_ENV}=random in nnU-Net): CLIP backbone {name} has RANDOM "
                      f"weights. Use this for tests and measurements only; results are not those of a pretrained "
                      f"CLIP.", stacklevel=2)
        model, source, route = spec.build_random(), "random", "random"
    else:
        path = Path(setting)
        route = "dir" if path.is_dir() else "file"
        folder = path if route == "dir" else None
        model, source = _build_from_file(spec, path), f"file:{path.resolve()}"
    return model, spec.tokenizer(route, folder=folder), source


def _build_default(spec: BackboneSpec) -> Tuple[nn.Module, str]:
    if spec.download is None:  # the tiny backbone: its weights are its seed
        return spec.build_random(), f"seed:{TINY_SEED}"
    try:
        model = spec.download()
    except Exception as e:  # noqa: BLE001 - any download/hub failure gets the same advice
        raise _download_error(spec, e) from e
    tag = f"/{spec.default_pretrained}" if spec.default_pretrained else ""
    return model, (f"open_clip:{spec.name}{tag}" if spec.default_pretrained else f"hub:{spec.name}")


def _download_error(spec: BackboneSpec, cause: Exception) -> CLIPWeightsError:
    return CLIPWeightsError(
        f"Could not obtain pretrained weights for CLIP backbone {spec.name!r} ({type(cause).__name__}: {cause}).\n"
        f"Either allow open_clip to download them (network access to the Hugging Face hub), or download the "
        f"checkpoint on another machine and point {WEIGHTS_ENV} at the local file, e.g.\n"
        f"  export {WEIGHTS_ENV}=/path/to/{spec.name}.bin\n"
        f"(for tests only: {WEIGHTS_ENV}=random builds the backbone with random weights).")


def _build_from_file(spec: BackboneSpec, path: Path) -> nn.Module:
    if path.is_dir():
        return _build_from_folder(spec, path)
    if not path.is_file():
        raise CLIPWeightsError(f"{WEIGHTS_ENV} points to {path}, which does not exist. Set it to a CLIP checkpoint "
                               f"for backbone {spec.name!r}, to 'random', or unset it to download the default weights.")
    model = spec.build_random()  # the architecture of the default weights (QuickGELU for OpenAI's), then the file
    if is_torchscript_archive(path):
        _load_torchscript(model, spec, path)
        return model
    try:
        from open_clip import load_checkpoint
        load_checkpoint(model, str(path), strict=True, weights_only=True)
    except Exception as e:  # noqa: BLE001 - report which file and which backbone, whatever went wrong
        raise CLIPWeightsError(f"Could not load CLIP checkpoint {path} into backbone {spec.name!r}: {e}"
                               f"{_file_advice(spec)}") from e
    return model


# what OpenAI's TorchScript archives hold besides weights (open_clip's load_state_dict drops the same)
_TORCHSCRIPT_METADATA = ("input_resolution", "context_length", "vocab_size")


def is_torchscript_archive(path: Path) -> bool:
    """A TorchScript archive (``torch.jit.save``: a zip with ``code/`` and ``constants.pkl``), such as OpenAI's
    original ``ViT-B-16.pt``; ``torch.save`` zips hold ``data.pkl`` instead."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n.split("/", 1)[-1] for n in archive.namelist()]
    except (zipfile.BadZipFile, OSError):
        return False
    return "constants.pkl" in names or any(n.startswith("code/") for n in names)


def _load_torchscript(model: nn.Module, spec: BackboneSpec, path: Path) -> None:
    """Load the state dict of a TorchScript archive into ``model``, as open_clip's ``load_openai_model`` reads
    OpenAI's checkpoints (``torch.jit.load(...).state_dict()``; its float16 weights are cast on loading).
    ``torch.jit.load`` runs the archive's TorchScript code: use archives from a trusted source only."""
    try:
        state = torch.jit.load(str(path), map_location="cpu").state_dict()
    except Exception as e:  # noqa: BLE001 - a truncated or corrupt archive: say what to use instead
        raise CLIPWeightsError(f"Could not read the TorchScript archive {path} ({type(e).__name__}: {e})."
                               f"{_file_advice(spec)}") from e
    for key in _TORCHSCRIPT_METADATA:
        state.pop(key, None)
    own = model.state_dict()
    # buffers TorchScript keeps but the module rebuilds and leaves out of its state dict (the causal text mask)
    rebuilt = {name for name, _ in model.named_buffers()} - set(own)
    state = {k: v for k, v in state.items() if k not in rebuilt}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [f"{k}: {tuple(v.shape)} in the file, {tuple(own[k].shape)} here" for k, v in state.items()
                  if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        raise CLIPWeightsError(
            f"The TorchScript archive {path} does not hold the weights of backbone {spec.name!r}: "
            f"{len(missing)} missing (first {missing[:3]}), {len(unexpected)} unexpected (first {unexpected[:3]}), "
            f"{len(mismatched)} of another shape (first {mismatched[:3]}).{_file_advice(spec)}")
    model.load_state_dict(state, strict=True)


def _file_advice(spec: BackboneSpec) -> str:
    if spec.name == "ViT-B-16":
        return (f"\n{WEIGHTS_ENV} takes OpenAI's original ViT-B-16.pt (TorchScript, as published at "
                f"openaipublic.azureedge.net/clip/models/.../ViT-B-16.pt) or open_clip's conversion of it, "
                f"open_clip_pytorch_model.bin (or open_clip_model.safetensors) from the Hugging Face repository "
                f"timm/vit_base_patch16_clip_224.openai; download one of them again if this file is damaged.")
    if spec.name == "BiomedCLIP":
        return (f"\nFor BiomedCLIP, point {WEIGHTS_ENV} at a folder holding the files of the hub repository "
                f"{BIOMEDCLIP_HUB.split(':', 1)[1]} (open_clip_config.json, open_clip_pytorch_model.bin, the "
                f"tokenizer files and the text model's config.json).")
    return f"\n{WEIGHTS_ENV} takes an open_clip checkpoint, a state_dict file, a TorchScript archive or a folder."


def _build_from_folder(spec: BackboneSpec, path: Path) -> nn.Module:
    """A folder as open_clip's 'local-dir:' schema expects it (open_clip_config.json + weights, and the
    tokenizer files for Hugging Face text towers): the offline route for hub models such as BiomedCLIP.
    The folder's own config decides the architecture, as it does for open_clip."""
    import open_clip
    overrides, hint = _local_hf_text_cfg(path)
    try:
        # require_pretrained: a folder without weights would otherwise give random towers with a log line
        model = open_clip.create_model(f"local-dir:{path}", pretrained_text=False, require_pretrained=True,
                                       **overrides)
    except Exception as e:  # noqa: BLE001
        raise CLIPWeightsError(f"Could not build CLIP backbone {spec.name!r} from folder {path}: {e}{hint}") from e
    # recorded with the folder's own text-model name, not this machine's path to it
    return _record_build(model, json.loads((path / "open_clip_config.json").read_text())["model_cfg"])


def _local_hf_text_cfg(path: Path) -> Tuple[dict, str]:
    """A Hugging Face text tower (BiomedCLIP's PubMedBERT) is built from its ``config.json``, which open_clip
    fetches from the hub by the config's ``hf_model_name`` even with a local folder and no text weights
    (the weights come from the CLIP checkpoint). If the folder holds that ``config.json``, build from it
    instead, so that the folder alone suffices offline. Returns (create_model overrides, error hint)."""
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
