"""TGCNet: SSE + DATE + VLCM + decoder on frozen CLIP towers.

``forward(image, text)`` takes the image batch and the frozen encoding of each sample's report
(:class:`EncodedText`, computed once per distinct text outside the forward pass). A text batch of
one is broadcast over the image batch (the sliding-window tiles of one case share its report).

The report reaches the pixels along two paths. VLCM's text-position map ("where does the report
point?", from the report alone) is evaluated at every stage's resolution and added to that stage's
skip through a 1x1 embedding, so the decoder reads it as it would read an extra input channel.
VLCM's finest similarity map ("where does the report apply in this image?") gates the decoder's
features, and a 1x1 convolution (zero at initialisation) adds it to every output's logits as a
coarse prior. ``forward(..., return_similarity=True)`` also returns the similarity maps and the
text-position map, which the trainer supervises with the ground truth (``alignment_loss.py``).
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .clip_towers import FrozenCLIP
from .cnn import CNNConfig
from .date import DATE
from .decoder import TGCDecoder
from .sse import SSE
from .text_features import EncodedText
from .tower_input import ChannelToUnit, TowerInput
from .vlcm import VLCM, TextFiLM

VLCM_STRIDES = (16, 32)


def _position_embedding(channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(1, channels, 1)
    nn.init.normal_(conv.weight, std=0.1)
    nn.init.zeros_(conv.bias)
    return conv


class TGCNet(nn.Module):
    def __init__(self, towers: FrozenCLIP, in_channels: int, num_classes: int, features: Sequence[int],
                 strides: Sequence, kernel_sizes: Sequence, n_conv_per_stage: Sequence[int],
                 n_conv_per_stage_decoder: Sequence[int], deep_supervision: bool = True,
                 use_cnn_branch: bool = True, use_knowledge: bool = True, use_vlcm: bool = True,
                 attention_dim: int = 256, heads: int = 8, use_position_prior: bool = True,
                 prior_init: float = 0.0, learn_no_report: bool = False, cnn: Optional[CNNConfig] = None,
                 position_input: bool = True, tower_input: Optional[Sequence[ChannelToUnit]] = None):
        """``cnn``: the plans' architecture (class and operators) for SSE's CNN branch and the decoder;
        default nnU-Net's PlainConvUNet operators. ``position_input``: the text-position map (as a
        probability) is also an extra input channel of SSE's CNN branch. ``tower_input``: how each input
        channel maps to [0, 1] for the frozen ViT (``tower_input.py``; nnU-Net's side derives it from the
        plans); default: every channel standardised per image (nnU-Net's z-score) around 0.5."""
        super().__init__()
        if len(strides[0]) != 2:
            raise ValueError(f"TGC-Net is a 2D network (a CLIP ViT reads 2D images); got {len(strides[0])}D "
                             f"strides. Train the '2d' configuration of nnU-Net.")
        self.towers = towers
        d = towers.joint_dim
        inner = min(attention_dim, d)
        heads = max(1, min(heads, inner // 16))
        # the ViT reads RGB with its own preprocess statistics: a fixed map from nnU-Net's normalised
        # channels (grey repeated, RGB per channel, other counts as their mean grey; nothing learned)
        if tower_input is None:
            tower_input = [ChannelToUnit.standardised()] * in_channels
        if len(tower_input) != in_channels:
            raise ValueError(f"tower_input describes {len(tower_input)} channels, the network has {in_channels}")
        self.tower_input = TowerInput(tower_input, towers.image_mean, towers.image_std)
        # the CNN branch reads where the report points from its first layer on, as nnU-Net reads a
        # second input channel (documentation/architecture.md, "Making the report count")
        self.position_input = bool(position_input and use_vlcm and use_position_prior and use_cnn_branch)
        self.sse = SSE(in_channels + int(self.position_input), features, strides, kernel_sizes, n_conv_per_stage,
                       towers.vision_width, len(towers.taps), use_cnn_branch, cnn=cnn)
        self.date = DATE(d, inner, heads, adapter_dim=max(16, d // 4), use_knowledge=use_knowledge,
                         learn_no_report=learn_no_report)
        self.vlcm_stages = self._calibrated_stages()
        if use_vlcm:
            self.vlcm = VLCM([features[i] for i in self.vlcm_stages], d, inner, heads,
                             use_position_prior=use_position_prior)
            # the text-position map enters every skip through a small 1x1 embedding (not zero: the
            # decoder should read it from the first step, as it would read an input channel)
            self.text_position_embeds = nn.ModuleList(_position_embedding(f) for f in features) \
                if use_position_prior else None
            self.text_film = None
            # the report's map as a prior on every foreground class's logits, with weight prior_init
            # at the start (0: training starts image-only; 1: the supervised map counts from step one)
            self.prior_head = nn.Conv2d(1, num_classes, 1)
            nn.init.zeros_(self.prior_head.bias)
            with torch.no_grad():
                self.prior_head.weight.zero_()
                self.prior_head.weight[1:] = prior_init
        else:
            self.vlcm = None
            self.prior_head = None
            self.text_position_embeds = None
            self.text_film = TextFiLM(features[-1], d)
        self.decoder = TGCDecoder(features, strides, kernel_sizes, n_conv_per_stage_decoder, num_classes,
                                  deep_supervision, cnn=cnn)

    def _calibrated_stages(self) -> List[int]:
        strides = [max(s) for s in self.sse.axis_strides]
        chosen = [i for i, s in enumerate(strides) if s in VLCM_STRIDES]
        return chosen or list(range(max(0, len(strides) - 2), len(strides)))

    def _to_rgb(self, image: torch.Tensor) -> torch.Tensor:
        """The image as the frozen tower expects it (RGB with its preprocess statistics, ``tower_input.py``)."""
        return self.tower_input(image)

    def forward(self, image: torch.Tensor, text: EncodedText, return_similarity: bool = False):
        if text.batch_size != image.shape[0]:
            if text.batch_size != 1:
                raise ValueError(f"{text.batch_size} reports for {image.shape[0]} images")
            text = text.repeat(image.shape[0])
        taps, dense = self.towers.encode_image(self._to_rgb(image))
        tokens, mask = self.date(text)
        report = None
        if self.text_position_prior is not None:
            report = self.text_position_prior.report_features(tokens[:, 0], text.knowledge, text.knowledge_mask)
        cnn_input, position_maps = image, {}
        if self.position_input:
            full = position_maps[tuple(image.shape[2:])] = self.vlcm.position_prior(report, image.shape[2:])
            cnn_input = torch.cat([image, torch.sigmoid(full).to(image.dtype)], dim=1)
        skips = self.sse(cnn_input, taps)
        similarity, sims = None, []
        if self.vlcm is not None:
            if report is not None:
                sims.append(self._inject_text_position(skips, report, position_maps))
            refined, vlcm_sims = self.vlcm([skips[i] for i in self.vlcm_stages], dense, tokens, mask, report)
            for i, r in zip(self.vlcm_stages, refined):
                skips[i] = r
            similarity = vlcm_sims[0]
            sims = vlcm_sims + sims
        else:
            skips[-1] = self.text_film(skips[-1], tokens[:, 0])
        out = self.decoder(skips, similarity)
        if similarity is not None:
            out = [self._add_prior(o, similarity) for o in out] if isinstance(out, list) \
                else self._add_prior(out, similarity)
        return (out, sims) if return_similarity else out

    @property
    def text_position_prior(self):
        """VLCM's text-position map (None in the variants without it)."""
        return None if self.vlcm is None else self.vlcm.position_prior

    def position_features(self, text: EncodedText) -> torch.Tensor:
        """The reports' input to the text-position map (B, 2D): DATE's report token and mean knowledge
        entry, as ``forward`` computes them (used to fit the map before training, ``position_fit.py``)."""
        if self.text_position_prior is None:
            raise ValueError("this network has no text-position map (use_vlcm / use_position_prior off)")
        tokens, _ = self.date(text)
        return self.text_position_prior.report_features(tokens[:, 0], text.knowledge, text.knowledge_mask)

    def _inject_text_position(self, skips: List[torch.Tensor], report: torch.Tensor,
                              computed: Dict[tuple, torch.Tensor]) -> torch.Tensor:
        """Add the report's position map, evaluated at every skip's resolution, to that skip (a learned
        1x1 embedding per stage): the decoder reads where the report points at every scale, as a network
        reads an extra input channel. Returns the map at the first calibrated scale, for its loss."""
        supervised = None
        for i, embed in enumerate(self.text_position_embeds):
            size = tuple(skips[i].shape[2:])
            # the full-resolution map of the input channel serves the stride-1 skip too
            where = computed[size] if size in computed else self.vlcm.position_prior(report, size)
            skips[i] = skips[i] + embed(where.to(skips[i].dtype))
            if i == self.vlcm_stages[0]:
                supervised = where
        return supervised

    def _add_prior(self, logits: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
        prior = F.interpolate(similarity, size=logits.shape[2:], mode="bilinear", align_corners=False)
        return logits + self.prior_head(prior.to(logits.dtype))

    def parameter_counts(self) -> Dict[str, int]:
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        fixed = sum(p.numel() for p in self.parameters() if not p.requires_grad)
        frozen = self.towers.num_frozen_parameters() + fixed
        return {"total": trainable + frozen, "trainable": trainable, "frozen": frozen}

    def module_parameter_counts(self) -> Dict[str, int]:
        """Trainable parameters per paper module (for the parameter-efficiency report)."""
        named = {"SSE (CNN branch + tap fusion)": self.sse, "DATE": self.date, "VLCM": self.vlcm,
                 "text FiLM (no-VLCM ablation)": self.text_film,
                 "text prior head": self.prior_head, "text position embeddings": self.text_position_embeds,
                 "decoder": self.decoder}
        return {k: sum(p.numel() for p in m.parameters() if p.requires_grad)
                for k, m in named.items() if m is not None}
