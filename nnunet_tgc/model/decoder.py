"""nnU-Net's U-Net decoder over the SSE skips, with deep supervision and text gates.

The decoder *is* dynamic-network-architectures' ``UNetDecoder`` (the class nnU-Net's PlainConvUNet
and ResidualEncoderUNet use), built with the plans' operators and convs per stage at the reduced
widths; its modules keep their names (``transpconvs``, ``stages``, ``seg_layers``), so nnU-Net's
``-pretrained_weights`` loader finds and skips the segmentation heads as it does for its own networks.

With ``deep_supervision`` on, forward returns one logit map per decoder stage, highest resolution
first (what nnU-Net's DeepSupervisionWrapper and ``_get_deep_supervision_scales`` expect); off, only
the full-resolution logits. nnU-Net toggles it through ``network.decoder.deep_supervision``.
Each stage's features are gated by VLCM's similarity map: ``f + g * f * sigmoid(sim)`` with a gate
``g`` per stage that starts at zero. A network without VLCM (the no-VLCM ablation) has no similarity map
and builds its decoder without gates (``text_gates=False``): every parameter takes part in every step,
which DistributedDataParallel requires (``nnunet/ddp.py``).

With ``image_route_stages`` = k > 0 the image route (``tgc_net.py``: a report that places nothing is
segmented without it) shares only the coarser stages: it has its own copy of the k finest stages (their
transposed convolutions and convolutions) and its own segmentation head at every scale
(``image_route.seg_layers``, a name ``-pretrained_weights`` leaves to the new run). The two routes then
disagree where they must (the text route keeps a one-sided report to its side, the image route segments
lesions on both) in layers of their own rather than in shared ones. The copies start as the shared
layers' initial weights and cost little: the finest stages are the narrowest.
"""
import copy
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from dynamic_network_architectures.building_blocks.unet_decoder import UNetDecoder
from torch import nn

from .cnn import CNNConfig


class TGCDecoder(UNetDecoder):
    def __init__(self, features: Sequence[int], strides: Sequence, kernel_sizes: Sequence,
                 n_conv_per_stage: Sequence[int], num_classes: int, deep_supervision: bool,
                 cnn: Optional[CNNConfig] = None, text_gates: bool = True, image_route_stages: int = 0):
        """``text_gates``: the gates that let VLCM's similarity map into the stages (False: a decoder
        that is never given a similarity map). ``image_route_stages``: how many of the finest stages the
        image route has of its own (0: it shares every layer; module docstring)."""
        cnn = cnn or CNNConfig()
        super().__init__(cnn.decoder_spec(features, strides, kernel_sizes), num_classes, list(n_conv_per_stage),
                         deep_supervision, nonlin_first=cnn.nonlin_first)
        self.apply(cnn.initialize)
        self.text_gates = nn.Parameter(torch.zeros(len(features) - 1)) if text_gates else None
        if not 0 <= image_route_stages <= len(self.stages):
            raise ValueError(f"image_route_stages must be 0 to {len(self.stages)} (the decoder's stages), "
                             f"got {image_route_stages}")
        self.image_route = _RouteLayers(self, image_route_stages) if image_route_stages else None

    def forward(self, skips: List[torch.Tensor], similarity: Optional[torch.Tensor] = None,
                image_route: bool = False):
        """``image_route``: decode with the image route's own finest stages and heads, where it has them."""
        if similarity is not None and self.text_gates is None:
            raise ValueError("this decoder was built without text gates (text_gates=False) and takes no "
                             "similarity map")
        x = skips[-1]
        outputs = []
        for s, (up, stage, head) in enumerate(self._layers(image_route)):
            x = stage(torch.cat([up(x), skips[-(s + 2)]], dim=1))
            if similarity is not None:
                gate = torch.sigmoid(F.interpolate(similarity, size=x.shape[2:], mode="bilinear",
                                                   align_corners=False))
                x = x + self.text_gates[s] * x * gate  # text_gates[s] is 0-dim: no float32 promotion
            if self.deep_supervision or s == len(self.stages) - 1:
                outputs.append(head(x))
        return outputs[::-1] if self.deep_supervision else outputs[-1]

    def _layers(self, image_route: bool):
        """(transposed conv, stage, head) per stage, coarsest first, of the route asked for."""
        shared = list(zip(self.transpconvs, self.stages, self.seg_layers))
        if not image_route or self.image_route is None:
            return shared
        own = self.image_route
        first_own = len(shared) - len(own.stages)
        ups = [*self.transpconvs[:first_own], *own.transpconvs]
        stages = [*self.stages[:first_own], *own.stages]
        return list(zip(ups, stages, own.seg_layers))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        if self.text_gates is None:
            # no-VLCM checkpoints of earlier versions hold gates that never received a gradient (still
            # their initial zeros, a no-op): dropped, so those checkpoints predict and serve as
            # -pretrained_weights; continuing such a run with --c fails (its optimizer state has one more tensor)
            state_dict.pop(prefix + "text_gates", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class _RouteLayers(nn.Module):
    """The image route's own layers: copies of the decoder's ``k`` finest stages and of every head."""

    def __init__(self, decoder: UNetDecoder, k: int):
        super().__init__()
        self.transpconvs = copy.deepcopy(decoder.transpconvs[-k:])
        self.stages = copy.deepcopy(decoder.stages[-k:])
        self.seg_layers = copy.deepcopy(decoder.seg_layers)
