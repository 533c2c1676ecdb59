"""TGCNet: SSE + DATE + VLCM + decoder on frozen CLIP towers.

``forward(image, text)`` takes the image batch and the frozen encoding of each sample's report
(:class:`EncodedText`, computed once per distinct text outside the forward pass). A text batch of
one is broadcast over the image batch (the sliding-window tiles of one case share its report).

The report reaches the pixels along two paths. The place map (``place_map.py``: "where do the
report's places lie?", from the places it states and each pixel's coordinates in the whole image)
is an extra input channel of SSE's CNN branch, is added to every skip through a 1x1 embedding and
to VLCM's similarity maps, and (``place_evidence``, the default) its log-odds over those of a report
that places nothing are added to the output's logits as evidence (``place_map.PlaceEvidence``), so
that what the places rule out does not depend on the words. VLCM's finest similarity map ("where
does the report apply in this image?") gates the decoder's features, and a 1x1 convolution (zero at
initialisation) adds it to every output's logits. ``forward(..., return_similarity=True)`` also
returns the similarity maps and the place map, which the trainer supervises with the ground truth
(``alignment_loss.py``). A framework that calls ``network(data)`` passes all inputs as one
:class:`TGCInput` (``network_input.py``).

With the image route (``image_route``, the default) a report that places nothing and rules nothing out
("Pulmonary infection.", or no report) does not enter the network at all: such a case is segmented by the
same encoder and decoder fed the place map of no place (where lesions lie in general) and no text, a route
training supervises on every sample beside the text route. A report the network cannot place then leaves an
image-only segmenter by construction, instead of a text path that has to learn what a placeless sentence
means.

State-dict keys follow nnU-Net's ``-pretrained_weights`` rules (``nnunetv2.run.load_pretrained_weights``,
which transfers every entry but those whose key contains ``.seg_layers.`` and requires the others to
match in name and shape): every layer whose shape depends on the number of classes is named
``seg_layers`` (``decoder.seg_layers``, ``similarity_to_logits.seg_layers``), the towers' record is
``towers.seg_layers._extra_state`` (``clip_towers.py``: it describes this run's towers), and the fixed
input mapping (``tower_input``) is not in the state dict at all (it is derived from the plans at every
build). Checkpoints written under the earlier names load (each module renames its own keys).
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from .clip_towers import RECORD_MODULE, FrozenCLIP
from .cnn import CNNConfig
from .network_input import SegmentationAndMaps, TGCInput
from .date import DATE
from .decoder import TGCDecoder
from .sse import SSE
from .text_features import EncodedText
from .tower_input import ChannelToUnit, TowerInput
from .place_map import (PLACE_CELLS, PLACE_EXTRA, PLACE_VECTOR_SIZE, PlaceEvidence, PlaceMap, image_grid,
                        place_logits_at, says_nothing_of_places)
from .vlcm import VLCM, TextFiLM

VLCM_STRIDES = (16, 32)
# the state-dict entry with the frozen towers' record (clip_towers.py)
TOWER_RECORD_KEY = f"towers.{RECORD_MODULE}._extra_state"


def _place_embedding(channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(1, channels, 1)
    nn.init.normal_(conv.weight, std=0.1)
    nn.init.zeros_(conv.bias)
    return conv


class SimilarityToLogits(nn.Module):
    """VLCM's finest similarity map -> an offset to every class's logits: a 1x1 convolution, zero at
    initialisation (training starts from the image and lets the map in as far as it helps). Its output
    count is the number of classes, so the convolution has nnU-Net's name for class-specific output layers,
    ``seg_layers``, which ``-pretrained_weights`` leaves to the new run (module docstring)."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.seg_layers = nn.Conv2d(1, num_classes, 1)
        nn.init.zeros_(self.seg_layers.weight)
        nn.init.zeros_(self.seg_layers.bias)

    def forward(self, similarity: torch.Tensor) -> torch.Tensor:
        return self.seg_layers(similarity)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written when this was a bare Conv2d hold 'similarity_to_logits.weight' / '.bias'
        for name in ("weight", "bias"):
            if prefix + name in state_dict:
                state_dict[prefix + "seg_layers." + name] = state_dict.pop(prefix + name)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _per_sample(take: torch.Tensor, where_true, where_false):
    """Per sample of the batch, ``where_true`` where ``take`` (B,) holds, else ``where_false`` (logits, or
    lists of them over the deep-supervision scales)."""
    if isinstance(where_true, list):
        return [_per_sample(take, t, f) for t, f in zip(where_true, where_false)]
    return torch.where(take.view(-1, *[1] * (where_true.dim() - 1)), where_true, where_false)


def _each_output(out, change):
    """``change`` applied to the logits, or to each of them over the deep-supervision scales."""
    return [change(o) for o in out] if isinstance(out, list) else change(out)


def _no_places(image: torch.Tensor) -> torch.Tensor:
    """The place vector of a report that places nothing and rules nothing out, one per image: every cell
    possible, "places nothing"."""
    return image.new_ones(image.shape[0], PLACE_VECTOR_SIZE)


def _scatter_rows(batch_size: int, parts):
    """One batch from ``(rows, logits)`` parts that together cover ``batch_size`` samples (logits, or lists of
    them over the deep-supervision scales)."""
    first = parts[0][1]
    if isinstance(first, list):
        return [_scatter_rows(batch_size, [(rows, out[i]) for rows, out in parts]) for i in range(len(first))]
    out = first.new_empty(batch_size, *first.shape[1:])
    for rows, logits in parts:
        out[rows] = logits
    return out


class TGCNet(nn.Module):
    def __init__(self, towers: FrozenCLIP, in_channels: int, num_classes: int, features: Sequence[int],
                 strides: Sequence, kernel_sizes: Sequence, n_conv_per_stage: Sequence[int],
                 n_conv_per_stage_decoder: Sequence[int], deep_supervision: bool = True,
                 use_cnn_branch: bool = True, use_knowledge: bool = True, use_vlcm: bool = True,
                 attention_dim: int = 256, heads: int = 8, use_place_map: bool = True,
                 learn_no_report: bool = False, cnn: Optional[CNNConfig] = None,
                 place_input: bool = True, tower_input: Optional[Sequence[ChannelToUnit]] = None,
                 places_only_in_map: bool = False, use_vit_taps: bool = True, image_route: bool = True,
                 image_route_stages: int = 0, place_evidence: bool = True, route_mix: float = 0.0):
        """``cnn``: the plans' architecture (class and operators) for SSE's CNN branch and the decoder;
        default nnU-Net's PlainConvUNet operators. ``use_place_map``: the report's place map (``place_map.py``)
        enters VLCM's similarity maps and every skip; ``place_input``: it is also (as a probability) an
        extra input channel of SSE's CNN branch. ``tower_input``: how each input
        channel maps to [0, 1] for the frozen ViT (``tower_input.py``; nnU-Net's side derives it from the
        plans); default: every channel standardised per image (nnU-Net's z-score) around 0.5.
        ``places_only_in_map``: the report's places reach the pixels only through the place map, which reads
        them; DATE and VLCM get the report's text features with its place terms taken out
        (``text/cache.py`` encodes it so), so that no sentence's location can be recalled from its features.
        ``use_vit_taps=False``: SSE adds no ViT taps to the CNN stages (the ViT still feeds VLCM).
        ``image_route``: a report that places nothing and rules no place out is segmented by the image route (the
        same encoder and decoder without the report: the place map of no place, no DATE, no VLCM), which training
        supervises on every sample beside the text route (needs the place map, which says whether a report places
        anything). ``image_route_stages``: how many of the decoder's finest stages the image route has of its own,
        besides its own heads (0: the routes share the whole decoder; ``decoder.py``). ``place_evidence``: the text
        route's logits also get the report's places as evidence (``place_map.PlaceEvidence``: the place map's
        log-odds over those of a report that places nothing, weighted per class), so that what the places rule
        out does not depend on the words (needs the place map). ``route_mix`` w in (0, 1): a placed report's
        logits are (1 - w) x the text route's + w x the image route's with the same place evidence, a part that
        reads the report's places and none of its words (needs the image route and the place evidence; 0: the
        text route alone)."""
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
        # where the report's places lie, from the places it states (text/places.py) and the pixels'
        # coordinates in the whole image
        self.place_map = PlaceMap(PLACE_CELLS, PLACE_EXTRA) if use_place_map else None
        # the CNN branch reads where the report points from its first layer on, as nnU-Net reads a
        # second input channel
        self.place_input = bool(place_input and use_place_map and use_cnn_branch)
        self.places_only_in_map = bool(places_only_in_map and use_place_map)
        if image_route and not use_place_map:
            raise ValueError("the image route needs the place map: it reads whether a report places anything "
                             "from the report's places (use_place_map=True)")
        self.image_route = bool(image_route)
        if place_evidence and not use_place_map:
            raise ValueError("place_evidence adds the report's place map to the logits: it needs the place map "
                             "(use_place_map=True)")
        self.place_evidence = PlaceEvidence(num_classes) if place_evidence else None
        if route_mix and not (0.0 < route_mix < 1.0 and self.image_route and self.place_evidence is not None):
            raise ValueError(f"route_mix={route_mix}: the share of the image route with the report's place evidence "
                             "in a placed report's logits must lie in (0, 1), and needs image_route=True and "
                             "place_evidence=True")
        self.route_mix = float(route_mix)
        if image_route_stages and not self.image_route:
            raise ValueError("image_route_stages gives the image route decoder stages of its own: it needs the "
                             "image route (image_route=True)")
        self.sse = SSE(in_channels + int(self.place_input), features, strides, kernel_sizes, n_conv_per_stage,
                       towers.vision_width, len(towers.taps), use_cnn_branch, cnn=cnn, use_vit_taps=use_vit_taps)
        self.date = DATE(d, inner, heads, adapter_dim=max(16, d // 4), use_knowledge=use_knowledge,
                         learn_no_report=learn_no_report)
        self.vlcm_stages = self._calibrated_stages()
        if use_vlcm:
            self.vlcm = VLCM([features[i] for i in self.vlcm_stages], d, inner, heads)
            self.text_film = None
            # VLCM's finest similarity map added to every class's logits, zero at the start
            self.similarity_to_logits = SimilarityToLogits(num_classes)
        else:
            self.vlcm = None
            self.similarity_to_logits = None
            self.text_film = TextFiLM(features[-1], d)
        # the place map enters every skip through a small 1x1 embedding (not zero: the decoder should
        # read it from the first step, as it would read an input channel)
        self.place_embeds = nn.ModuleList(_place_embedding(f) for f in features) if use_place_map else None
        # the decoder's text gates read VLCM's similarity map: without VLCM there are none (every parameter
        # the network creates takes part in every training step, as DistributedDataParallel requires)
        self.decoder = TGCDecoder(features, strides, kernel_sizes, n_conv_per_stage_decoder, num_classes,
                                  deep_supervision, cnn=cnn, text_gates=use_vlcm,
                                  image_route_stages=image_route_stages)

    def _calibrated_stages(self) -> List[int]:
        strides = [max(s) for s in self.sse.axis_strides]
        chosen = [i for i, s in enumerate(strides) if s in VLCM_STRIDES]
        return chosen or list(range(max(0, len(strides) - 2), len(strides)))

    def _to_rgb(self, image: torch.Tensor) -> torch.Tensor:
        """The image as the frozen tower expects it (RGB with its preprocess statistics, ``tower_input.py``)."""
        return self.tower_input(image)

    def forward(self, image: Union[torch.Tensor, TGCInput], text: Optional[EncodedText] = None,
                coordinates: Optional[torch.Tensor] = None, return_similarity: bool = False):
        """image (B, C, H, W); text: the reports' frozen encoding (a batch of one is shared by all images);
        coordinates (B, 2, H, W): every pixel's normalised (row, column) in the whole image it comes from
        (default: the input is the whole image). With ``return_similarity`` the result is a
        :class:`SegmentationAndMaps` (the logits and the maps the alignment loss supervises).

        Or one :class:`TGCInput` that carries all of them: how a framework that calls ``network(data)``
        (nnU-Net's training and validation steps) passes the reports."""
        if isinstance(image, TGCInput):
            if text is not None or coordinates is not None or return_similarity:
                raise TypeError("TGCNet(TGCInput) takes no further arguments: the TGCInput carries them")
            image, text, coordinates, return_similarity = image.image, image.text, image.coordinates, \
                image.return_similarity
        if text is None:
            raise TypeError("TGC-Net segments an image with its report: call it with the reports' encoding "
                            "(network(image, text, coordinates) or network(TGCInput(...)))")
        if text.batch_size != image.shape[0]:
            if text.batch_size != 1:
                raise ValueError(f"{text.batch_size} reports for {image.shape[0]} images")
            text = text.repeat(image.shape[0])
        if coordinates is None:
            coordinates = image_grid(image.shape[0], *image.shape[2:], device=image.device)
        taps, dense = self.towers.encode_image(self._to_rgb(image))
        if not self.image_route:
            out, sims = self._read_report(image, taps, dense, text, coordinates)
            return SegmentationAndMaps(out, sims) if return_similarity else out
        placeless = says_nothing_of_places(text.places)
        if return_similarity:  # training: both routes, the image route supervised on every sample
            out, sims = self._read_report(image, taps, dense, text, coordinates)
            image_only = self._segment_image(image, taps, coordinates)
            out = self._mix_routes(out, image_only, text.places, image, coordinates)
            return SegmentationAndMaps(_per_sample(placeless, image_only, out), sims, image_only)
        if bool(placeless.all()):
            return self._segment_image(image, taps, coordinates)
        if not bool(placeless.any()):
            return self._text_route(image, taps, dense, text, coordinates)
        return self._route_each(image, taps, dense, text, coordinates, placeless)

    def _text_route(self, image, taps, dense, text: EncodedText, coordinates):
        """The logits of samples whose report places something (inference)."""
        read, _ = self._read_report(image, taps, dense, text, coordinates)
        if not self.route_mix:
            return read
        return self._mix_routes(read, self._segment_image(image, taps, coordinates), text.places, image, coordinates)

    def _mix_routes(self, read, image_only, places: torch.Tensor, image, coordinates):
        """With ``route_mix`` w: (1 - w) x the text route's logits + w x the image route's with the report's
        place evidence. Why: the second term reads the report's places and no words, so a rewording that the
        reader reads alike moves only the first; what the places rule out stays ruled out in both."""
        if not self.route_mix:
            return read
        evidence_at = self._evidence_reader(self._place_reader(places, coordinates), image, coordinates)
        w = self.route_mix

        def mix(r, i):
            return (1 - w) * r + w * self.place_evidence(i, evidence_at(i.shape[2:]))
        return [mix(r, i) for r, i in zip(read, image_only)] if isinstance(read, list) else mix(read, image_only)

    def _route_each(self, image, taps, dense, text: EncodedText, coordinates, placeless):
        """A batch mixing both kinds of report (nnU-Net's validation batches): each sample through its own route
        only, so that no route is computed for samples that discard it."""
        to_image, to_text = placeless.nonzero().flatten(), (~placeless).nonzero().flatten()

        def pick(t, rows):
            return [pick(x, rows) for x in t] if isinstance(t, list) else t.index_select(0, rows)
        image_only = self._segment_image(pick(image, to_image), pick(taps, to_image), pick(coordinates, to_image))
        read = self._text_route(pick(image, to_text), pick(taps, to_text), pick(dense, to_text),
                                text._map(lambda t: pick(t, to_text)), pick(coordinates, to_text))
        return _scatter_rows(image.shape[0], [(to_image, image_only), (to_text, read)])

    def _encode(self, image: torch.Tensor, taps, place_at) -> List[torch.Tensor]:
        """SSE's skips, with the place map (``place_at(size)``, log-odds) as an input channel and in every skip."""
        cnn_input = image
        if self.place_input:
            cnn_input = torch.cat([image, torch.sigmoid(place_at(image.shape[2:])).to(image.dtype)], dim=1)
        skips = self.sse(cnn_input, taps)
        if self.place_map is not None:
            for i, embed in enumerate(self.place_embeds):
                skips[i] = skips[i] + embed(place_at(skips[i].shape[2:]).to(skips[i].dtype))
        return skips

    def _read_report(self, image, taps, dense, text: EncodedText, coordinates):
        """The text route: the report's place map, DATE's tokens and VLCM -> (logits, the supervised maps)."""
        tokens, mask = self.date(text)
        place_at = self._place_reader(text.places, coordinates)
        skips = self._encode(image, taps, place_at)
        similarity, sims = None, []
        if self.vlcm is not None:
            feats = [skips[i] for i in self.vlcm_stages]
            place_logits = [place_at(f.shape[2:]) for f in feats] if self.place_map is not None else None
            refined, sims = self.vlcm(feats, dense, tokens, mask, coordinates, place_logits)
            for i, r in zip(self.vlcm_stages, refined):
                skips[i] = r
            similarity = sims[0]
        else:
            skips[-1] = self.text_film(skips[-1], tokens[:, 0])
        if self.place_map is not None:  # the place map is supervised on its own too, at the finest VLCM scale
            sims = sims + [place_at(skips[self.vlcm_stages[0]].shape[2:])]
        out = self.decoder(skips, similarity)
        if similarity is not None:
            out = _each_output(out, lambda o: self._add_similarity(o, similarity))
        if self.place_evidence is not None:
            evidence_at = self._evidence_reader(place_at, image, coordinates)  # the place map computed above
            out = _each_output(out, lambda o: self.place_evidence(o, evidence_at(o.shape[2:])))
        return out, sims

    def _segment_image(self, image, taps, coordinates):
        """The image route: the same encoder and decoder without the report (with the decoder's own finest stages
        and heads where it has them). The place map is that of a report placing nothing (where lesions lie in
        general, the same for every case); no DATE, no VLCM."""
        return self.decoder(self._encode(image, taps, self._place_reader(_no_places(image), coordinates)),
                            image_route=True)

    def _evidence_reader(self, place_at, image: torch.Tensor, coordinates: torch.Tensor):
        """``evidence_at(size)``: the log-odds of ``place_at`` (a ``_place_reader``) minus those of a report that
        places nothing."""
        nothing_at = self._place_reader(_no_places(image), coordinates)
        return lambda size: place_at(size) - nothing_at(size)

    def _place_reader(self, places: Optional[torch.Tensor], coordinates: torch.Tensor):
        """``place_at(size)``: the place map of ``places`` at one resolution, each computed once per route."""
        cache = {}

        def place_at(size):
            return place_logits_at(self.place_map, places, coordinates, cache, size)
        return place_at

    def _add_similarity(self, logits: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
        similarity = F.interpolate(similarity, size=logits.shape[2:], mode="bilinear", align_corners=False)
        return logits + self.similarity_to_logits(similarity.to(logits.dtype))

    def parameter_counts(self) -> Dict[str, int]:
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        fixed = sum(p.numel() for p in self.parameters() if not p.requires_grad)
        frozen = self.towers.num_frozen_parameters() + fixed
        return {"total": trainable + frozen, "trainable": trainable, "frozen": frozen}

    def module_parameter_counts(self) -> Dict[str, int]:
        """Trainable parameters per paper module (for the parameter-efficiency report)."""
        named = {"SSE (CNN branch + tap fusion)": self.sse, "DATE": self.date, "VLCM": self.vlcm,
                 "text FiLM (no-VLCM ablation)": self.text_film,
                 "similarity to logits": self.similarity_to_logits, "place map": self.place_map,
                 "place evidence": self.place_evidence,
                 "place embeddings": self.place_embeds,
                 "decoder": self.decoder}
        return {k: sum(p.numel() for p in m.parameters() if p.requires_grad)
                for k, m in named.items() if m is not None}
