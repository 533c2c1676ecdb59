"""The plans -> what TGC-Net is built from: the stage lists and :class:`~nnunet_tgc.model.cnn.CNNConfig` of the
plans' architecture, and the mapping of the normalised input channels to the frozen ViT's input statistics.

nnU-Net's planners write ``network_class_name``, ``arch_kwargs`` and ``_kw_requires_import`` (the
keys whose values are dotted class names) into every configuration; nnU-Net builds its own network
from them with ``pydoc.locate`` (``get_network_from_plans``). TGC-Net reads the same entries, so the
default plans (``PlainConvUNet``) and the residual-encoder presets (``nnUNetPlannerResEnc{M,L,XL}``,
``ResidualEncoderUNet``) train with the encoder blocks and operators nnU-Net chose.

``tower_input_from_plans`` reads the configuration's ``normalization_schemes`` and the dataset
fingerprint's ``foreground_intensity_properties_per_channel`` and says, per channel, how nnU-Net's
normalised values map to [0, 1] (``model/tower_input.py`` then applies the tower's own mean and std):

* ``CTNormalization`` (clip to the foreground's 0.5..99.5 percentiles, minus the foreground mean, over its
  std) is undone exactly (up to the clipping), and the channel's min..max range becomes [0, 1]: an 8-bit
  windowed slice then looks to the ViT as its own ``ToTensor`` would show it;
* ``ZScoreNormalization`` works per image: the image's own mean and std are gone and the plans do not
  hold them (the fingerprint's statistics are of the foreground, i.e. the labelled structures). Zero
  becomes the foreground mean's place in the channel's min..max range, and one standard deviation the
  tower's own contrast (the mean of its preprocess std);
* ``RescaleTo01Normalization`` and ``RGBTo01Normalization`` are already [0, 1];
* ``NoNormalization`` (raw values): the channel's min..max range becomes [0, 1];
* any other (custom) scheme is treated as a per-image z-score, with a warning.
"""
import warnings
import pydoc
from typing import List, Tuple

from dynamic_network_architectures.architectures.unet import PlainConvUNet, ResidualEncoderUNet

from ..model.cnn import CNNConfig
from ..model.tower_input import ChannelToUnit

# per architecture: the plans' key of convs (or residual blocks) per encoder stage, and the keys that
# become CNNConfig fields unchanged
_STAGE_KEYS = ("n_stages", "features_per_stage", "kernel_sizes", "strides", "n_conv_per_stage_decoder")
_OPERATOR_KEYS = ("conv_op", "conv_bias", "norm_op", "norm_op_kwargs", "dropout_op", "dropout_op_kwargs", "nonlin",
                  "nonlin_kwargs")
_ARCHITECTURES = {
    PlainConvUNet: ("n_conv_per_stage", ("nonlin_first",)),
    ResidualEncoderUNet: ("n_blocks_per_stage", ("block", "bottleneck_channels", "stem_channels")),
}
# nnU-Net's own switch, set by the trainer (enable_deep_supervision), not an architecture choice
_IGNORED_KEYS = ("deep_supervision",)


class UnsupportedArchitectureError(ValueError):
    """The plans describe a network TGC-Net cannot mirror."""


def _architecture_class(name: str, where: str):
    cls = pydoc.locate(name)
    if cls is None:  # nnU-Net also accepts a bare class name that moved inside dynamic_network_architectures
        cls = {c.__name__: c for c in _ARCHITECTURES}.get(name.split(".")[-1])
    for known in _ARCHITECTURES:
        if isinstance(cls, type) and issubclass(cls, known):
            return known
    raise UnsupportedArchitectureError(
        f"{where}: network_class_name {name!r} is not an architecture TGC-Net can build its CNN branch and "
        f"decoder from (supported: {', '.join(c.__name__ for c in _ARCHITECTURES)}). Plan the dataset with "
        f"nnU-Net's default planner or one of nnUNetPlannerResEncM/L/XL.")


def tgc_architecture_from_plans(configuration_manager, where: str = "the plans") -> Tuple[dict, CNNConfig]:
    """-> (keyword arguments of ``create_tgc_net`` for the stages, the operators as a CNNConfig)."""
    arch_class = _architecture_class(configuration_manager.network_arch_class_name, where)
    blocks_key, extra_keys = _ARCHITECTURES[arch_class]
    kwargs = dict(configuration_manager.network_arch_init_kwargs)
    for key in configuration_manager.network_arch_init_kwargs_req_import:
        if kwargs.get(key) is not None:
            located = pydoc.locate(kwargs[key])
            if located is None:
                raise UnsupportedArchitectureError(f"{where}: {key} = {kwargs[key]!r} cannot be imported.")
            kwargs[key] = located
    unknown = set(kwargs) - set(_STAGE_KEYS) - set(_OPERATOR_KEYS) - set(extra_keys) - set(_IGNORED_KEYS) \
        - {blocks_key}
    if unknown:
        # an option TGC-Net would silently ignore means it would not train what nnU-Net planned
        raise UnsupportedArchitectureError(
            f"{where}: the {arch_class.__name__} options {sorted(unknown)} are not supported by TGC-Net's "
            f"CNN branch; remove them from the plans or build the network in a trainer subclass.")
    missing = [k for k in (*_STAGE_KEYS, blocks_key) if k not in kwargs]
    if missing:
        raise UnsupportedArchitectureError(f"{where}: {arch_class.__name__} plans without {missing}.")
    n = kwargs["n_stages"]
    stages = dict(features_per_stage=_per_stage(kwargs["features_per_stage"], n),
                  strides=_per_stage(kwargs["strides"], n), kernel_sizes=_per_stage(kwargs["kernel_sizes"], n),
                  n_conv_per_stage=_per_stage(kwargs[blocks_key], n),
                  n_conv_per_stage_decoder=_per_stage(kwargs["n_conv_per_stage_decoder"], n - 1))
    cnn = CNNConfig(residual=arch_class is ResidualEncoderUNet,
                    **{k: kwargs[k] for k in (*_OPERATOR_KEYS, *extra_keys) if k in kwargs})
    return stages, cnn


def _per_stage(value, n: int) -> list:
    """dynamic-network-architectures accepts one value for all stages; TGC-Net takes one per stage."""
    return [value] * n if isinstance(value, int) else list(value)


def tower_input_from_plans(plans_manager, configuration_manager, num_input_channels: int,
                           where: str = "the plans") -> List[ChannelToUnit]:
    """Per input channel, how nnU-Net's normalised values map to [0, 1] for the frozen ViT (module docstring).
    Plans without normalisation entries (written by hand) get nnU-Net's default, a z-score, without statistics."""
    try:
        schemes = list(configuration_manager.normalization_schemes)
    except (KeyError, AttributeError):
        schemes = ["ZScoreNormalization"] * num_input_channels
    if len(schemes) != num_input_channels:
        raise ValueError(f"{where}: {len(schemes)} normalization_schemes for {num_input_channels} input channels")
    try:
        properties = plans_manager.foreground_intensity_properties_per_channel or {}
    except (KeyError, AttributeError):
        properties = {}
    return [channel_to_unit(scheme, properties.get(str(c), properties.get(c)), f"{where}, channel {c}")
            for c, scheme in enumerate(schemes)]


def channel_to_unit(scheme: str, properties, where: str = "channel") -> ChannelToUnit:
    """One channel: nnU-Net's normalisation class name + its foreground intensity properties -> ChannelToUnit."""
    name = scheme.rsplit(".", 1)[-1]
    if name in ("RescaleTo01Normalization", "RGBTo01Normalization"):
        return ChannelToUnit(1.0, 0.0)
    needed = {"CTNormalization": ("mean", "std", "min", "max"),
              "NoNormalization": ("min", "max")}.get(name, ("mean", "min", "max"))
    if not properties or any(not _finite(properties.get(k)) for k in needed):
        if name in ("CTNormalization", "NoNormalization"):
            raise ValueError(f"{where}: {name} needs the foreground intensity properties {list(needed)} in the "
                             f"plans (got {properties}); re-run nnUNetv2_plan_and_preprocess.")
        return ChannelToUnit.standardised(0.5)  # a z-score without statistics: the middle of the range
    p = {k: float(v) for k, v in properties.items() if _finite(v)}
    if name == "CTNormalization":
        return ChannelToUnit.window(p["min"], p["max"], p["mean"], max(p["std"], 1e-8))
    if name == "NoNormalization":
        return ChannelToUnit.window(p["min"], p["max"])
    if name != "ZScoreNormalization":
        warnings.warn(f"{where}: unknown normalisation {scheme!r}; the frozen ViT reads it as a per-image z-score.",
                      stacklevel=2)
    width = p["max"] - p["min"]
    centre = (p["mean"] - p["min"]) / width if width > 0 else 0.5
    return ChannelToUnit.standardised(min(1.0, max(0.0, centre)))


def _finite(value) -> bool:
    try:
        return value is not None and float(value) == float(value) and abs(float(value)) != float("inf")
    except (TypeError, ValueError):
        return False
