"""What one call of TGCNet takes and gives, as single objects.

Training frameworks call a segmentation network with one argument and hand its one result to the
loss: nnU-Net's ``train_step`` and ``validation_step`` run ``output = network(data)`` and
``loss(output, target)``. :class:`TGCInput` carries everything TGC-Net reads in that one argument:
the images, the reports' frozen encoding and every pixel's position in its whole image. So the
report reaches the network as an argument of the call itself, in training as at prediction, and a
framework's step runs unchanged. :class:`SegmentationAndMaps` is the one result when the caller
also wants the maps the alignment loss supervises.
"""
from dataclasses import dataclass
from typing import List, NamedTuple, Optional, Union

import torch

from .text_features import EncodedText


@dataclass(frozen=True)
class TGCInput:
    image: torch.Tensor                        # (B, C, H, W)
    text: EncodedText                          # one report per image, or one for all
    coordinates: Optional[torch.Tensor] = None  # (B, 2, H, W) normalised (row, column) in the whole image
    return_similarity: bool = False             # also return the maps the alignment loss supervises

    def to(self, device, non_blocking: bool = False) -> "TGCInput":
        """Moved to ``device`` (the name and arguments of ``Tensor.to``, which frameworks call on a batch)."""
        coordinates = None if self.coordinates is None else self.coordinates.to(device, non_blocking=non_blocking)
        return TGCInput(self.image.to(device, non_blocking=non_blocking), self.text.to(device), coordinates,
                        self.return_similarity)


class SegmentationAndMaps(NamedTuple):
    """The logits (a list over deep-supervision scales, or one tensor), the maps the alignment loss
    supervises (VLCM's similarity maps, then the place map) and, for a network with the image route, that
    route's logits for every sample (supervised beside the segmentation; None without the route)."""
    segmentation: Union[torch.Tensor, List[torch.Tensor]]
    similarity_maps: List[torch.Tensor]
    image_only: Union[torch.Tensor, List[torch.Tensor], None] = None
