"""The CNN parts of TGC-Net, built like the U-Net nnU-Net planned.

nnU-Net's plans name an architecture class (``PlainConvUNet`` or, with the residual-encoder presets
``nnUNetPlannerResEnc{M,L,XL}``, ``ResidualEncoderUNet``) and its operators: convolution,
normalisation, dropout, nonlinearity, bias, convs or residual blocks per stage. :class:`CNNConfig`
carries exactly these (as classes, no nnU-Net import) and builds SSE's CNN branch and the decoder
from dynamic-network-architectures' own ``PlainConvEncoder`` / ``ResidualEncoder`` / ``UNetDecoder``
building blocks, initialised as the planned class initialises itself. What nnU-Net planned is what
TGC-Net trains, at the reduced widths of ``width_factor``.
"""
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Optional, Sequence

from dynamic_network_architectures.building_blocks.plain_conv_encoder import PlainConvEncoder
from dynamic_network_architectures.building_blocks.residual import BasicBlockD
from dynamic_network_architectures.building_blocks.residual_encoders import ResidualEncoder
from dynamic_network_architectures.building_blocks.simple_conv_blocks import StackedConvBlocks
from dynamic_network_architectures.initialization.weight_init import InitWeights_He, init_last_bn_before_add_to_0
from torch import nn


@dataclass
class CNNConfig:
    """The plans' architecture, minus the stage lists. Defaults: nnU-Net 2.8.1's default 2D plans
    (PlainConvUNet, conv with bias, InstanceNorm, LeakyReLU)."""
    residual: bool = False  # ResidualEncoderUNet: residual encoder stages behind a stem, plain decoder
    conv_op: type = nn.Conv2d
    conv_bias: bool = True
    norm_op: Optional[type] = nn.InstanceNorm2d
    norm_op_kwargs: Optional[dict] = field(default_factory=lambda: {"eps": 1e-5, "affine": True})
    dropout_op: Optional[type] = None
    dropout_op_kwargs: Optional[dict] = None
    nonlin: Optional[type] = nn.LeakyReLU
    nonlin_kwargs: Optional[dict] = field(default_factory=lambda: {"inplace": True})
    nonlin_first: bool = False  # PlainConvUNet only
    block: type = BasicBlockD  # ResidualEncoderUNet only
    bottleneck_channels: Optional[Sequence[int]] = None
    stem_channels: Optional[int] = None

    def scaled(self, scale) -> "CNNConfig":
        """The same architecture with the per-stage widths the plans fix in absolute numbers (stem,
        bottleneck) mapped by ``scale`` (the function that maps the stage widths)."""
        return replace(self,
                       bottleneck_channels=None if self.bottleneck_channels is None else
                       scale(list(self.bottleneck_channels)),
                       stem_channels=None if self.stem_channels is None else scale([self.stem_channels])[0])

    def _ops(self) -> dict:
        return dict(conv_bias=self.conv_bias, norm_op=self.norm_op, norm_op_kwargs=self.norm_op_kwargs,
                    dropout_op=self.dropout_op, dropout_op_kwargs=self.dropout_op_kwargs, nonlin=self.nonlin,
                    nonlin_kwargs=self.nonlin_kwargs)

    def encoder(self, in_channels: int, features: Sequence[int], strides: Sequence, kernel_sizes: Sequence,
                blocks_per_stage: Sequence[int]) -> nn.Module:
        """The planned encoder (returns every stage's features); SSE runs its stages one by one."""
        n = len(features)
        if self.residual:
            enc = ResidualEncoder(in_channels, n, list(features), self.conv_op, list(kernel_sizes), list(strides),
                                  list(blocks_per_stage), block=self.block,
                                  bottleneck_channels=self.bottleneck_channels, return_skips=True,
                                  stem_channels=self.stem_channels, **self._ops())
        else:
            enc = PlainConvEncoder(in_channels, n, list(features), self.conv_op, list(kernel_sizes), list(strides),
                                   list(blocks_per_stage), return_skips=True, nonlin_first=self.nonlin_first,
                                   **self._ops())
        enc.apply(self.initialize)
        return enc

    def conv_stack(self, n: int, in_ch: int, out_ch: int, kernel, stride) -> StackedConvBlocks:
        """``n`` conv-norm-nonlin blocks with the planned operators."""
        stack = StackedConvBlocks(n, self.conv_op, in_ch, out_ch, kernel, stride, nonlin_first=self.nonlin_first,
                                  **self._ops())
        stack.apply(self.initialize)
        return stack

    def decoder_spec(self, features: Sequence[int], strides: Sequence, kernel_sizes: Sequence) -> SimpleNamespace:
        """What dynamic-network-architectures' UNetDecoder reads from its encoder. A plain namespace, not the
        encoder module itself: the decoder would otherwise register the encoder a second time (and TGC-Net's
        ViT-only ablation has no CNN encoder)."""
        return SimpleNamespace(output_channels=list(features), strides=[list(s) for s in strides],
                               kernel_sizes=list(kernel_sizes), conv_op=self.conv_op, **self._ops())

    def initialize(self, module: nn.Module) -> None:
        """As the planned class initialises itself (``PlainConvUNet.initialize`` /
        ``ResidualEncoderUNet.initialize``): He init of convolutions, residual branches start at zero."""
        InitWeights_He(1e-2)(module)
        if self.residual:
            init_last_bn_before_add_to_0(module)
