"""TGC-Net in pure PyTorch (no nnU-Net import): frozen CLIP towers, SSE, DATE, VLCM and the decoder."""
from .backbones import BACKBONES, WEIGHTS_ENV, CLIPWeightsError, create_clip
from .clip_towers import (BackboneMismatchError, FrozenCLIP, KnowledgeMismatchError, split_into_chunks,
                          weights_fingerprint)
from .factory import create_tgc_net, create_towers
from .tgc_net import TOWER_RECORD_KEY, TGCNet
from .network_input import SegmentationAndMaps, TGCInput
from .text_features import EncodedText
from .tower_input import ChannelToUnit, TowerInput

__all__ = ["BACKBONES", "WEIGHTS_ENV", "CLIPWeightsError", "create_clip", "BackboneMismatchError", "FrozenCLIP",
           "KnowledgeMismatchError",
           "split_into_chunks", "weights_fingerprint", "create_tgc_net", "create_towers", "TGCNet", "EncodedText",
           "TOWER_RECORD_KEY", "ChannelToUnit", "TowerInput", "TGCInput", "SegmentationAndMaps"]
