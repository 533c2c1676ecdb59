"""The frozen CLIP towers: image taps for SSE, dense joint-space image features for VLCM, and
token-level text features for DATE.

The towers are never trained and must not bloat every fold's checkpoint, so the open_clip model is
held *outside* the module tree: it is not in ``parameters()`` or ``state_dict()``. What the state
dict does carry is the towers' **record**: a fingerprint of the frozen weights, checked when a
checkpoint is loaded into a rebuilt network, so that prediction cannot silently run with towers
other than those the trainable modules were trained with; the towers' build configuration (an
activation leaves no trace in the tensors); and the fingerprint of the knowledge base DATE reads (the
descriptions it embeds are as much part of the model as the weights). It is one extra-state entry, a
dict, so the state dict keeps exactly one non-tensor entry, under the key ``seg_layers._extra_state``
of the towers (:class:`TowerRecord`): nnU-Net's ``-pretrained_weights`` loader
(``nnunetv2.run.load_pretrained_weights``) leaves every key containing ``.seg_layers.`` to the network
it loads into, and the record describes the towers *this* run built, not a weight to transfer (nnU-Net's
loader also calls ``.shape`` on every other entry, which a dict has not). Checkpoints written when the
record was the towers' own extra state (``towers._extra_state``) are read under the new key.

On CUDA the frozen towers are kept in float16 (nnU-Net trains and predicts under CUDA autocast,
float16): under autocast, weights that do not require grad are re-cast at every call, which for the
86M-parameter ViT is an 86M-element copy per forward. The ``tower_dtype`` argument chooses another
(the nnU-Net glue passes ``nnUNet_TGC_tower_dtype``); ``allow_knowledge_mismatch`` turns a knowledge-base
mismatch into a warning (the glue passes ``nnUNet_TGC_allow_knowledge_mismatch``). This module reads no
environment variable: ``nnunet_tgc/nnunet/env.py`` does, once.
"""
import hashlib
import logging
import re
import warnings
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .text_features import EncodedText
from .tower_input import tower_statistics


log = logging.getLogger(__name__)
# the environment variables the nnU-Net glue reads these settings from (named in messages)
KNOWLEDGE_OVERRIDE_ENV = "nnUNet_TGC_allow_knowledge_mismatch"
TOWER_DTYPE_ENV = "nnUNet_TGC_tower_dtype"
TOWER_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
DEFAULT_TOWER_DTYPE = "float16"  # nnU-Net's CUDA autocast dtype


class BackboneMismatchError(RuntimeError):
    """The frozen CLIP towers differ from those a checkpoint was trained with."""


class KnowledgeMismatchError(RuntimeError):
    """The knowledge base differs from the one a checkpoint was trained with."""


def resolve_tower_dtype(tower_dtype: Union[str, torch.dtype]) -> torch.dtype:
    """``tower_dtype`` as a torch dtype: one of ``TOWER_DTYPES`` by name ("float16", "bfloat16", "float32") or
    as the dtype itself."""
    if isinstance(tower_dtype, torch.dtype):
        if tower_dtype in TOWER_DTYPES.values():
            return tower_dtype
    elif isinstance(tower_dtype, str) and tower_dtype.strip().lower() in TOWER_DTYPES:
        return TOWER_DTYPES[tower_dtype.strip().lower()]
    raise ValueError(f"tower_dtype={tower_dtype!r}: use one of {sorted(TOWER_DTYPES)}")


def frozen_tower_dtype(device: torch.device, tower_dtype: Union[str, torch.dtype] = DEFAULT_TOWER_DTYPE
                       ) -> torch.dtype:
    """The dtype the frozen towers are kept in on ``device``: ``tower_dtype`` on CUDA (default float16, what
    nnU-Net's CUDA autocast computes in; bfloat16 or float32 otherwise), float32 elsewhere (CPU kernels are
    fastest and exact in float32)."""
    if torch.device(device).type != "cuda":
        return torch.float32
    return resolve_tower_dtype(tower_dtype)


def _autocast_enabled(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4 has no device argument
        return torch.is_autocast_enabled() if device_type == "cuda" else torch.is_autocast_cpu_enabled()


def _differences(recorded, built, prefix="") -> List[str]:
    """Paths where two build configurations differ, e.g. 'model_cfg.quick_gelu: True vs False'."""
    if isinstance(recorded, dict) and isinstance(built, dict):
        out = []
        for key in sorted(set(recorded) | set(built)):
            out += _differences(recorded.get(key), built.get(key), f"{prefix}{key}.")
        return out
    return [] if recorded == built else [f"{prefix[:-1]}: {recorded!r} in the checkpoint, {built!r} here"]


def weights_fingerprint(model: nn.Module) -> str:
    """sha256 over names, shapes, dtypes and values of every tensor in the model's state dict."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:32]


# the towers' child that holds their record: nnU-Net's name for what -pretrained_weights leaves to the new run
RECORD_MODULE = "seg_layers"


class TowerRecord(nn.Module):
    """The record of the frozen towers it belongs to (:meth:`FrozenCLIP.record`) as this module's extra state,
    so that its state-dict key ends in ``.seg_layers._extra_state`` (see the module docstring). Loading
    checks the checkpoint's record against the towers (:meth:`FrozenCLIP.check_record`)."""

    def __init__(self, towers: "FrozenCLIP"):
        super().__init__()
        object.__setattr__(self, "_towers", towers)  # unregistered: the towers hold the record, not the reverse

    def get_extra_state(self):
        return self._towers.record()

    def set_extra_state(self, state):
        self._towers.check_record(state)


class FrozenCLIP(nn.Module):
    """The frozen towers of ``clip_model``.

    ``tower_dtype``: the dtype they are kept in on CUDA (``frozen_tower_dtype``; float16, bfloat16 or float32).
    ``allow_knowledge_mismatch``: a knowledge base other than the loaded checkpoint's gives a warning instead
    of ``KnowledgeMismatchError``.
    """

    def __init__(self, clip_model: nn.Module, tokenizer: Callable, backbone: str, weights_source: str,
                 taps: Sequence[int], tower_dtype: Union[str, torch.dtype] = DEFAULT_TOWER_DTYPE,
                 allow_knowledge_mismatch: bool = False):
        super().__init__()
        self.tower_dtype = resolve_tower_dtype(tower_dtype)  # checked now, not at the first move to CUDA
        self.allow_knowledge_mismatch = bool(allow_knowledge_mismatch)
        clip_model.requires_grad_(False).eval()
        object.__setattr__(self, "clip", clip_model)  # unregistered on purpose: see module docstring
        self.tokenizer = tokenizer
        self.backbone = backbone
        self.weights_source = weights_source
        self.fingerprint = weights_fingerprint(clip_model)  # before any dtype move: always the float32 weights
        self.build = getattr(clip_model, "tgc_build", None)  # recorded by backbones.create_clip
        self.knowledge_fingerprint: Optional[str] = None     # of the knowledge base in use (bind_knowledge)
        self._checkpoint_knowledge: Optional[str] = None     # of the one the loaded checkpoint was trained with
        self.image = _image_adapter(clip_model)
        # the statistics the image tower was trained on (open_clip's preprocess config of these weights)
        self.image_mean, self.image_std = tower_statistics(clip_model)
        self.text = _text_adapter(clip_model, tokenizer)
        self.taps = tuple(taps)
        if max(self.taps) >= self.image.depth:
            raise ValueError(f"taps {self.taps} exceed the {self.image.depth} blocks of backbone {backbone}")
        # the record in the state dict, under a '.seg_layers.' key (module docstring)
        setattr(self, RECORD_MODULE, TowerRecord(self))

    # ---- module plumbing: the unregistered towers follow device/dtype moves but never train mode
    def _apply(self, fn, recurse=True):
        self.clip._apply(fn)
        self.settle_dtype()
        return super()._apply(fn, recurse)

    def settle_dtype(self, device: Optional[torch.device] = None) -> torch.dtype:
        """Cast float32 frozen weights to the dtype for ``device`` (default: where they are), once,
        instead of autocast re-casting them at every call; other dtypes were asked for and stay."""
        target = frozen_tower_dtype(device if device is not None else self.device, self.tower_dtype)
        if self.dtype == torch.float32 and target != torch.float32:
            self.clip.to(target)
        return self.dtype

    @property
    def dtype(self) -> torch.dtype:
        return next(self.clip.parameters()).dtype

    def train(self, mode: bool = True):
        super().train(mode)
        self.clip.eval()
        return self

    def record(self) -> dict:
        """What a checkpoint records about these towers (the state dict's entry of :class:`TowerRecord`)."""
        return {"backbone": self.backbone, "fingerprint": self.fingerprint, "weights_source": self.weights_source,
                "build": self.build, "knowledge_fingerprint": self.knowledge_fingerprint}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before the record moved to TowerRecord hold it as the towers' own extra state:
        # read under the new key (the children's state dicts are cut from this one after this call)
        if prefix + "_extra_state" in state_dict:
            state_dict[prefix + RECORD_MODULE + "._extra_state"] = state_dict.pop(prefix + "_extra_state")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def check_record(self, state) -> None:
        """A loaded checkpoint's record against these towers: other weights or another build raise
        ``BackboneMismatchError``; its knowledge base is checked against the one bound (``bind_knowledge``)."""
        if state.get("backbone") != self.backbone or state.get("fingerprint") != self.fingerprint:
            raise BackboneMismatchError(
                f"The checkpoint was trained with CLIP backbone {state.get('backbone')!r} whose frozen weights have "
                f"fingerprint {state.get('fingerprint')} (weights: {state.get('weights_source')}), but the towers "
                f"rebuilt here are {self.backbone!r} with fingerprint {self.fingerprint} "
                f"(weights: {self.weights_source}). Point nnUNet_TGC_clip_weights at the weights used for training "
                f"(or unset it if training used the default download) and try again.")
        self._check_build(state.get("build"))
        self._checkpoint_knowledge = state.get("knowledge_fingerprint")
        self._check_knowledge()

    def _check_build(self, recorded) -> None:
        if recorded is None:
            if not getattr(self, "_warned_unrecorded_build", False):  # once: predictors reload folds per case
                log.warning("This checkpoint does not record how its CLIP towers were built (it predates that "
                            "record): their activation and configuration cannot be verified, only their weights.")
                self._warned_unrecorded_build = True
            return
        differences = _differences(recorded, self.build)
        if differences:
            raise BackboneMismatchError(
                f"The checkpoint's CLIP backbone {self.backbone!r} was built differently from the towers rebuilt here "
                f"(same weights, other architecture): " + "; ".join(differences) + ". The trainable modules were "
                f"trained on the towers as recorded; rebuild them that way (the same nnunet_tgc and open_clip "
                f"versions, the same nnUNet_TGC_clip_weights) or retrain.")

    def bind_knowledge(self, fingerprint: Optional[str]) -> None:
        """The knowledge base DATE reads from now on (None: none); checked against a loaded checkpoint's."""
        self.knowledge_fingerprint = fingerprint
        self._check_knowledge()

    def _check_knowledge(self) -> None:
        trained, here = self._checkpoint_knowledge, self.knowledge_fingerprint
        if trained is None or here is None or trained == here:
            return  # nothing recorded (no knowledge, or an older checkpoint), nothing bound yet, or the same
        message = (f"The checkpoint was trained with the knowledge base of fingerprint {trained}, but the knowledge "
                   f"base read here (text_reports/knowledge/*.json) has fingerprint {here}: DATE would read other "
                   f"descriptions than it was trained with.")
        if self.allow_knowledge_mismatch:
            warnings.warn(f"{message} Continuing because allow_knowledge_mismatch is set ({KNOWLEDGE_OVERRIDE_ENV} in nnU-Net).", stacklevel=3)
            return
        raise KnowledgeMismatchError(
            f"{message} Install the nnunet_tgc version (or knowledge files) the model was trained with, or set "
            f"{KNOWLEDGE_OVERRIDE_ENV}=1 to predict anyway (results may differ from the validated model).")

    def num_frozen_parameters(self) -> int:
        return sum(p.numel() for p in self.clip.parameters())

    @property
    def joint_dim(self) -> int:
        return self.image.joint_dim

    @property
    def vision_width(self) -> int:
        return self.image.width

    @property
    def patch_size(self) -> Tuple[int, int]:
        return self.image.patch_size

    @torch.no_grad()
    def encode_image(self, x: torch.Tensor) -> Tuple[List[torch.Tensor], torch.Tensor]:
        """Image (B, 3, H, W) -> (tap maps [(B, width, h, w)] for self.taps, dense joint features (B, D, h, w)).

        Runs under no_grad: nothing behind the towers is trained, so no backward pass through the ViT.
        """
        maps, dense = self.image(x.to(self.dtype), self.taps)
        if _autocast_enabled(x.device.type) or self.dtype == x.dtype:
            return maps, dense  # autocast takes them as they are (no cast of the 86M frozen weights)
        return [m.to(x.dtype) for m in maps], dense.to(x.dtype)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> List[EncodedText]:
        """Each report -> its token features and pooled embedding (knowledge fields empty)."""
        return [self.text(t) for t in texts]

    @torch.no_grad()
    def embed_sentences(self, texts: Sequence[str]) -> torch.Tensor:
        """Short texts (knowledge descriptions) -> pooled joint-space embeddings (N, D)."""
        if not texts:
            return torch.zeros(0, self.joint_dim, device=self.device)
        return torch.cat([self.text(t).pooled for t in texts])

    @property
    def device(self) -> torch.device:
        return next(self.clip.parameters()).device


# ----------------------------------------------------------------------------------------- images
def _interpolate_pos_embed(pos: torch.Tensor, old_grid: Tuple[int, int], new_grid: Tuple[int, int],
                           n_prefix: int) -> torch.Tensor:
    """Resample a (n_prefix + gh*gw, D) position table to another grid (bicubic), keeping prefix tokens."""
    if tuple(old_grid) == tuple(new_grid):
        return pos
    prefix, grid = pos[:n_prefix], pos[n_prefix:]
    grid = grid.reshape(1, old_grid[0], old_grid[1], -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=new_grid, mode="bicubic", align_corners=False).to(pos.dtype)
    return torch.cat([prefix, grid.permute(0, 2, 3, 1).reshape(-1, pos.shape[-1])])


def _pad_to_multiple(x: torch.Tensor, patch: Tuple[int, int]) -> torch.Tensor:
    ph = (-x.shape[-2]) % patch[0]
    pw = (-x.shape[-1]) % patch[1]
    return F.pad(x, (0, pw, 0, ph)) if (ph or pw) else x


class _OpenCLIPViT:
    """open_clip's own VisionTransformer (OpenAI / LAION CLIP, the tiny backbone)."""

    def __init__(self, visual):
        self.v = visual
        self.width = visual.conv1.out_channels
        self.depth = len(visual.transformer.resblocks)
        self.patch_size = tuple(visual.patch_size)
        self.joint_dim = visual.proj.shape[1] if visual.proj is not None else self.width

    def __call__(self, x, taps):
        v = self.v
        x = _pad_to_multiple(x, self.patch_size)
        x = v.conv1(x)
        b, d, gh, gw = x.shape
        x = x.flatten(2).transpose(1, 2)
        cls = v.class_embedding.to(x.dtype).expand(b, 1, -1)
        x = torch.cat([cls, x], dim=1)
        x = x + _interpolate_pos_embed(v.positional_embedding, v.grid_size, (gh, gw), 1).to(x.dtype)
        x = v.ln_pre(x)
        _, inter = v.transformer.forward_intermediates(x, indices=list(taps), stop_early=True)
        maps = [t[:, 1:].transpose(1, 2).reshape(b, d, gh, gw) for t in inter]
        # dense CLIP features: the last tap's patch tokens through CLIP's own head (ln_post + proj)
        dense = v.ln_post(inter[-1][:, 1:])
        if v.proj is not None:
            dense = dense @ v.proj
        return maps, dense.transpose(1, 2).reshape(b, -1, gh, gw)


class _TimmViT:
    """A timm ViT trunk inside open_clip's TimmModel (BiomedCLIP)."""

    def __init__(self, visual):
        from timm.layers import Format
        self.v = visual
        trunk = visual.trunk
        # nnU-Net plans patches other than 224x224: let timm resample its position table per call
        trunk.dynamic_img_size = True
        trunk.patch_embed.strict_img_size = False
        trunk.patch_embed.flatten = False
        trunk.patch_embed.output_fmt = Format.NHWC
        self.width = trunk.embed_dim
        self.depth = len(trunk.blocks)
        self.patch_size = tuple(trunk.patch_embed.patch_size)
        self.joint_dim = _out_features(visual.head, self.width)

    def __call__(self, x, taps):
        trunk = self.v.trunk
        x = _pad_to_multiple(x, self.patch_size)
        inter = trunk.forward_intermediates(x, indices=list(taps), output_fmt="NCHW", intermediates_only=True,
                                            stop_early=True)
        last = inter[-1]
        b, d, gh, gw = last.shape
        dense = self.v.head(trunk.norm(last.flatten(2).transpose(1, 2)))
        return list(inter), dense.transpose(1, 2).reshape(b, -1, gh, gw)


def _out_features(head: nn.Module, default: int) -> int:
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else default


def _image_adapter(clip_model):
    visual = clip_model.visual
    if hasattr(visual, "trunk"):
        return _TimmViT(visual)
    if hasattr(visual, "conv1") and hasattr(visual, "transformer"):
        return _OpenCLIPViT(visual)
    raise TypeError(f"Unsupported CLIP image tower {type(visual).__name__}: TGC-Net needs a ViT")


# ------------------------------------------------------------------------------------------ texts
_SENTENCE_END = re.compile(r"(?<=[.;!?])\s+")


def split_into_chunks(text: str, count_tokens: Callable[[str], int], max_tokens: int) -> List[str]:
    """Split a report into pieces of at most ``max_tokens`` tokens, at sentence ends where possible and
    at word boundaries otherwise. Long reports are chunked, never silently truncated."""
    pieces: List[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        if count_tokens(sentence) <= max_tokens:
            pieces.append(sentence)
            continue
        words, current = sentence.split(), []
        for w in words:
            if current and count_tokens(" ".join(current + [w])) > max_tokens:
                pieces.append(" ".join(current))
                current = []
            current.append(w)
        if current:
            pieces.append(" ".join(current))
    chunks: List[str] = []
    for p in pieces:  # greedily pack consecutive sentences into one context window
        if chunks and count_tokens(chunks[-1] + " " + p) <= max_tokens:
            chunks[-1] = chunks[-1] + " " + p
        else:
            chunks.append(p)
    return chunks or [""]


class _OpenCLIPText:
    """open_clip's causal text transformer with the BPE tokenizer (context 77: SOT + 75 + EOT)."""

    def __init__(self, clip_model, tokenizer):
        self.m = clip_model
        self.tokenizer = tokenizer
        self.context_length = clip_model.positional_embedding.shape[0]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))  # BPE tokens, without SOT/EOT

    def __call__(self, text: str) -> EncodedText:
        m = self.m
        chunks = split_into_chunks(text, self.count_tokens, self.context_length - 2)
        ids = self.tokenizer(chunks).to(m.positional_embedding.device)
        x = m.token_embedding(ids) + m.positional_embedding
        x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask))
        proj = m.text_projection
        x = proj(x) if isinstance(proj, nn.Linear) else (x @ proj if proj is not None else x)
        eot = ids.argmax(dim=-1)  # EOT has the largest id in CLIP's vocabulary
        mask = torch.arange(ids.shape[1], device=ids.device)[None] <= eot[:, None]
        pooled = x[torch.arange(len(chunks)), eot].mean(0, keepdim=True)
        return _single(x[mask][None], pooled)


class _HFText:
    """A Hugging Face text tower inside open_clip's HFTextEncoder (BiomedCLIP's PubMedBERT)."""

    def __init__(self, clip_model, tokenizer):
        self.t = clip_model.text
        self.tokenizer = tokenizer
        self.context_length = getattr(tokenizer, "context_length", 256)

    def count_tokens(self, text: str) -> int:
        # verbose=False: counting a long report is how it gets chunked, not a sequence the model would read
        return len(self.tokenizer.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def __call__(self, text: str) -> EncodedText:
        chunks = split_into_chunks(text, self.count_tokens, self.context_length - 2)
        ids = self.tokenizer(chunks).to(next(self.t.parameters()).device)
        attn = (ids != self.t.config.pad_token_id).long()
        out = self.t.transformer(input_ids=ids, attention_mask=attn)
        tokens = self.t.proj(out.last_hidden_state)
        pooled = self.t.proj(self.t.pooler(out, attn)).mean(0, keepdim=True)
        return _single(tokens[attn.bool()][None], pooled)


def _single(tokens: torch.Tensor, pooled: torch.Tensor) -> EncodedText:
    d = pooled.shape[-1]
    return EncodedText(
        tokens=tokens, token_mask=torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device),
        pooled=pooled, knowledge=tokens.new_zeros(1, 0, d),
        knowledge_mask=torch.zeros(1, 0, dtype=torch.bool, device=tokens.device))


def _text_adapter(clip_model, tokenizer):
    if hasattr(clip_model, "text") and hasattr(clip_model.text, "transformer") and \
            hasattr(clip_model.text, "config"):
        return _HFText(clip_model, tokenizer)
    if hasattr(clip_model, "token_embedding"):
        return _OpenCLIPText(clip_model, tokenizer)
    raise TypeError(f"Unsupported CLIP text tower in {type(clip_model).__name__}")
