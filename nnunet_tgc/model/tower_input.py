"""nnU-Net's normalised input channels -> the input statistics the frozen image tower was trained on.

A pretrained CLIP image tower was trained on RGB images in [0, 1] (``ToTensor``), normalised with the
mean and std of its preprocess config (open_clip's ``preprocess_cfg``; OpenAI's CLIP and BiomedCLIP:
mean (0.481, 0.458, 0.408), std (0.269, 0.261, 0.276)). nnU-Net hands the network its normalised
channels instead (z-scored per image, CT-windowed and standardised with dataset statistics, or already
in [0, 1]). :class:`TowerInput` maps them back, with fixed numbers (buffers: nothing here is trained,
and the tower behind it runs under ``no_grad``, so nothing here could learn):

1. each channel to [0, 1], as the tower's ``ToTensor`` would have given it:
   ``unit_c = clamp(x_c * scale_c + offset_c, 0, 1)`` (:class:`ChannelToUnit`, derived from the
   dataset's normalisation by the caller; a channel standardised per image gets the tower's own contrast,
   see :meth:`ChannelToUnit.standardised`);
2. to three channels: three stay as they are (RGB, channel by channel), one is repeated (grey), any
   other count becomes the mean of its channels' [0, 1] values, repeated (a declared grey, not learned);
3. the tower's ``Normalize``: ``(rgb_k - mean_k) / std_k``.

The numbers are non-persistent buffers: they follow the network to its device but are not in its state
dict. ``nnunet/architecture.py`` derives them from the plans (the configuration's normalisation schemes
and the dataset's intensity statistics) whenever the network is built, in training and at prediction,
as nnU-Net derives its own normalisation from the plans; so ``-pretrained_weights`` (nnU-Net's loader
transfers every state-dict entry of matching shape) cannot carry one dataset's mapping into another's
run. Checkpoints written when the numbers were in the state dict load after a check that they are the
numbers derived here. Pure PyTorch, built from plain arguments.
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch
from torch import nn

# open_clip's OPENAI_DATASET_MEAN / _STD: the default preprocess config, and OpenAI's CLIP's and BiomedCLIP's own
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ChannelToUnit:
    """One input channel -> [0, 1]: ``x * scale + offset``. ``scale`` None: the channel was standardised
    per image (nnU-Net's z-score): its per-image mean and std are gone, so it gets the contrast of the
    tower's training images (one unit of the input = the tower's mean preprocess std) around ``offset``,
    the channel's typical level in [0, 1]."""
    scale: Optional[float]
    offset: float

    @classmethod
    def standardised(cls, centre: float = 0.5) -> "ChannelToUnit":
        return cls(None, float(centre))

    @classmethod
    def window(cls, low: float, high: float, mean: float = 0.0, std: float = 1.0) -> "ChannelToUnit":
        """Values that are ``(raw - mean) / std`` of a raw intensity whose window ``low..high`` becomes [0, 1]
        (mean 0, std 1: the input is the raw intensity itself)."""
        width = max(float(high) - float(low), 1e-8)
        return cls(float(std) / width, (float(mean) - float(low)) / width)


def tower_statistics(clip_model: nn.Module) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """(mean, std) of the image tower's preprocess config, as open_clip records it on the model
    (``visual.preprocess_cfg``, or the legacy ``image_mean`` / ``image_std``); open_clip's default
    (OpenAI's) where the model records none."""
    visual = getattr(clip_model, "visual", clip_model)
    cfg = getattr(visual, "preprocess_cfg", None) or {}
    mean = cfg.get("mean", getattr(visual, "image_mean", None)) or OPENAI_MEAN
    std = cfg.get("std", getattr(visual, "image_std", None)) or OPENAI_STD
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if len(mean) != 3 or len(std) != 3:
        raise ValueError(f"the image tower's preprocess config has mean {mean} and std {std}; expected three each")
    return mean, std


class TowerInput(nn.Module):
    """Fixed map from the network's normalised input channels to the tower's input (see the module docstring)."""

    def __init__(self, channels: Sequence[ChannelToUnit], mean: Sequence[float] = OPENAI_MEAN,
                 std: Sequence[float] = OPENAI_STD):
        super().__init__()
        if not channels:
            raise ValueError("TowerInput needs at least one input channel")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"tower mean {tuple(mean)} / std {tuple(std)}: three values each, std > 0")
        contrast = sum(std) / 3
        scale = [contrast if c.scale is None else c.scale for c in channels]
        # not persistent: derived from the plans at every build (module docstring)
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("offset", torch.tensor([c.offset for c in channels],
                                                    dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    @property
    def in_channels(self) -> int:
        return self.scale.shape[1]

    def unit(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) normalised input -> the tower's RGB in [0, 1] (B, 3, H, W), before its Normalize."""
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{x.shape[1]} input channels, the tower input mapping was built for {self.in_channels}")
        unit = (x * self.scale.to(x.dtype) + self.offset.to(x.dtype)).clamp(0.0, 1.0)
        if unit.shape[1] == 3:
            return unit
        grey = unit if unit.shape[1] == 1 else unit.mean(dim=1, keepdim=True)
        return grey.expand(-1, 3, -1, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.unit(x) - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def extra_repr(self) -> str:
        return (f"channels={self.in_channels}, scale={self.scale.flatten().tolist()}, "
                f"offset={self.offset.flatten().tolist()}, mean={self.mean.flatten().tolist()}, "
                f"std={self.std.flatten().tolist()}")

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written when the mapping was in the state dict: the model was trained with the numbers
        # they hold, so those must be the numbers derived here (then the entries are dropped: not persistent)
        recorded = {name: state_dict.pop(prefix + name) for name in ("scale", "offset", "mean", "std")
                    if prefix + name in state_dict}
        differing = []
        for name, value in recorded.items():
            own = getattr(self, name)
            if value.shape != own.shape or not torch.allclose(value.to(own), own, rtol=1e-6, atol=1e-7):
                differing.append(f"{prefix}{name}: {value.flatten().tolist()} in the checkpoint, "
                                 f"{own.flatten().tolist()} here")
        if differing:
            raise RuntimeError(
                "This checkpoint's model read the CLIP tower's input with another mapping of the intensities "
                f"({'; '.join(differing)}) than the one derived here from the plans' normalisation and "
                "intensity statistics. Predict with the plans the model was trained with (the plans.json of its "
                "results folder).")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
