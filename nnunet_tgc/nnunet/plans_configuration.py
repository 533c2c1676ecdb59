"""``nnunet-tgc add-configuration``: a configuration with another patch size, added to a dataset's plans.

nnU-Net plans one patch per configuration; a dataset whose images are larger than the patch is
trained on random patches and predicted with sliding windows. To train with a patch other than
the planned one, this command writes a new configuration into ``$nnUNet_preprocessed/DATASET/PLANS.json``
that ``inherits_from`` the source configuration (same preprocessed data, spacing, normalisation,
batch size) and holds the new ``patch_size`` with a network topology derived for it as nnU-Net's
experiment planner derives it: ``get_pool_and_conv_props(spacing, patch, UNet_featuremap_min_edge_length,
999999)`` for the strides and kernels, ``UNet_base_num_features * 2**stage`` capped at the planner's
``UNet_max_features_2d`` (``_3d``) for the features, the planner's blocks per encoder and decoder stage.
The network class, its operators and ``_kw_requires_import`` stay those of the source configuration.

Then: ``nnUNetv2_train DATASET 2d_p224 FOLD -tr nnUNetTrainerTGC``.
"""
import argparse
import copy
import json
import os
from pathlib import Path

from ..atomic import write_json_atomically

# which key holds the encoder's blocks per stage, per architecture (PlainConvUNet / ResidualEncoderUNet)
_ENCODER_BLOCK_KEYS = ("n_conv_per_stage", "n_blocks_per_stage")


class PlansConfigurationError(ValueError):
    """The plans file or the requested configuration cannot be used; the message says what to do."""


def default_configuration_name(source: str, patch_size) -> str:
    """``2d_p224`` for a square 224 patch from ``2d``; ``2d_p224x192`` otherwise."""
    patch = [int(p) for p in patch_size]
    tag = str(patch[0]) if len(set(patch)) == 1 else "x".join(map(str, patch))
    return f"{source}_p{tag}"


def planner_for(plans: dict, plans_file: Path, dataset_name: str):
    """The experiment planner that wrote ``plans`` (its class is named in ``experiment_planner_used``),
    instantiated as nnU-Net does, so that its ``UNet_*`` attributes are read rather than copied."""
    import nnunetv2
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner
    from nnunetv2.utilities.find_class_by_name import recursive_find_python_class

    name = plans.get("experiment_planner_used") or "ExperimentPlanner"
    cls = recursive_find_python_class(os.path.join(nnunetv2.__path__[0], "experiment_planning"), name,
                                      "nnunetv2.experiment_planning")
    if cls is None:  # a custom planner outside nnunetv2: derive with nnU-Net's default rules, and say so
        print(f"{plans_file}: experiment planner {name!r} is not part of nnunetv2; the new configuration's "
              f"network follows nnU-Net's default ExperimentPlanner rules")
        cls = ExperimentPlanner
    try:
        return cls(dataset_name, plans_name=plans.get("plans_name", plans_file.stem))
    except (OSError, RuntimeError, KeyError) as err:
        raise PlansConfigurationError(
            f"{plans_file}: cannot set up nnU-Net's {cls.__name__} for {dataset_name} ({err}); the raw dataset "
            f"($nnUNet_raw/{dataset_name}/dataset.json) and its fingerprint must be where "
            f"nnUNetv2_plan_and_preprocess left them") from err


def derive_configuration(source: dict, patch_size, planner, plans_file: Path, source_name: str) -> dict:
    """The new configuration's entries (to be stored with ``inherits_from``): ``patch_size`` and ``architecture``."""
    from nnunetv2.experiment_planning.experiment_planners.network_topology import get_pool_and_conv_props

    spacing = source.get("spacing")
    arch = source.get("architecture")
    if spacing is None or not isinstance(arch, dict) or "arch_kwargs" not in arch:
        raise PlansConfigurationError(
            f"{plans_file}: configuration {source_name!r} has no spacing or architecture (resolve its "
            f"inherits_from, or plan the dataset again with nnUNetv2_plan_and_preprocess)")
    dim = len(spacing)
    patch = [int(p) for p in patch_size]
    if len(patch) != dim:
        raise PlansConfigurationError(
            f"{plans_file}: configuration {source_name!r} is {dim}d: give --patch-size {dim} numbers, not {len(patch)}")
    min_edge = int(planner.UNet_featuremap_min_edge_length)
    if any(p < 2 * min_edge for p in patch):
        raise PlansConfigurationError(
            f"{plans_file}: patch {patch} is smaller than the network's minimum: every edge must be at least "
            f"{2 * min_edge} (one downsampling to the planner's smallest feature map of {min_edge}); "
            f"give a larger --patch-size")
    _, strides, kernels, derived_patch, _ = get_pool_and_conv_props(spacing, patch, min_edge, 999999)
    n_stages = len(strides)
    max_features = planner.UNet_max_features_2d if dim == 2 else planner.UNet_max_features_3d
    new_arch = copy.deepcopy(arch)
    kwargs = new_arch["arch_kwargs"]
    kwargs.update({
        "n_stages": n_stages,
        "features_per_stage": [min(max_features, planner.UNet_base_num_features * 2 ** i) for i in range(n_stages)],
        "kernel_sizes": [list(map(int, k)) for k in kernels],
        "strides": [list(map(int, s)) for s in strides],
        "n_conv_per_stage_decoder": list(planner.UNet_blocks_per_stage_decoder[:n_stages - 1]),
    })
    block_keys = [k for k in _ENCODER_BLOCK_KEYS if k in kwargs] or ["n_conv_per_stage"]
    for key in block_keys:
        kwargs[key] = list(planner.UNet_blocks_per_stage_encoder[:n_stages])
    return {"patch_size": [int(p) for p in derived_patch], "architecture": new_arch}


def add_configuration(dataset, source: str, patch_size, name: str = None, plans_identifier: str = "nnUNetPlans",
                      overwrite: bool = False, preprocessed: Path = None) -> dict:
    """Add the configuration to ``preprocessed/DATASET/PLANS.json``; returns ``{name, patch_size, plans_file,
    architecture}``. ``preprocessed`` defaults to ``$nnUNet_preprocessed``."""
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

    if preprocessed is None:
        from nnunetv2.paths import nnUNet_preprocessed
        if not nnUNet_preprocessed:
            raise PlansConfigurationError("nnUNet_preprocessed is not set (eval \"$(nnunet-tgc env)\" or export it)")
        preprocessed = Path(nnUNet_preprocessed)
    try:
        dataset_name = maybe_convert_to_dataset_name(dataset)
    except RuntimeError as err:
        raise PlansConfigurationError(f"dataset {dataset!r}: {err}") from err
    plans_file = Path(preprocessed) / dataset_name / f"{plans_identifier}.json"
    if not plans_file.is_file():
        raise PlansConfigurationError(f"{plans_file} not found: run nnUNetv2_plan_and_preprocess -d {dataset} first "
                                      f"(or give --plans-identifier of an existing plans file)")
    try:
        plans = json.loads(plans_file.read_text())
        configurations = plans["configurations"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise PlansConfigurationError(f"{plans_file} is not an nnU-Net plans file ({err!r}); plan the dataset "
                                      f"again with nnUNetv2_plan_and_preprocess") from err
    if source not in configurations:
        raise PlansConfigurationError(f"{plans_file} has no configuration {source!r} (it has "
                                      f"{', '.join(configurations) or 'none'}); give one of them with --from")
    name = name or default_configuration_name(source, patch_size)
    if name in configurations and not overwrite:
        raise PlansConfigurationError(f"{plans_file} already has a configuration {name!r}; pass --overwrite to "
                                      f"replace it or --name to choose another name")
    if name == source:
        raise PlansConfigurationError(f"{plans_file}: the new configuration cannot replace its source {source!r}; "
                                      f"choose another --name")
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
    resolved = PlansManager(plans)._internal_resolve_configuration_inheritance(source)
    planner = planner_for(plans, plans_file, dataset_name)
    derived = derive_configuration(resolved, patch_size, planner, plans_file, source)
    configurations[name] = {"inherits_from": source, **derived}
    write_json_atomically(plans, plans_file, indent=4, sort_keys=False)
    return {"name": name, "plans_file": str(plans_file), **derived}


def _run(args) -> int:
    try:
        done = add_configuration(args.dataset, args.source, args.patch_size, args.name, args.plans_identifier,
                                 args.overwrite)
    except PlansConfigurationError as err:
        raise SystemExit(f"error: {err}")
    kwargs = done["architecture"]["arch_kwargs"]
    note = "" if list(done["patch_size"]) == list(args.patch_size) else \
        f" (the requested {list(args.patch_size)} rounded to the network's divisibility)"
    print(f"added configuration {done['name']!r} to {done['plans_file']}: inherits from {args.source!r}, patch "
          f"{done['patch_size']}{note}, {kwargs['n_stages']} stages, features {kwargs['features_per_stage']}, "
          f"strides {kwargs['strides']}")
    print(f"train it with: nnUNetv2_train {args.dataset} {done['name']} FOLD -tr nnUNetTrainerTGC")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "add-configuration",
        help="add a configuration with another patch size to a dataset's plans (inherits the source's data)",
        description=__doc__.splitlines()[0] + " Images larger than the patch are then predicted with "
                                               "sliding windows.")
    p.add_argument("dataset", help="dataset id or name (DatasetXXX_Name)")
    p.add_argument("--from", dest="source", default="2d", help="source configuration (default 2d)")
    p.add_argument("--patch-size", type=int, nargs="+", required=True, metavar="N",
                   help="the new patch, one number per spatial axis (2 for a 2d configuration)")
    p.add_argument("--name", default=None,
                   help="name of the new configuration (default SOURCE_pN, e.g. 2d_p224, or SOURCE_pHxW)")
    p.add_argument("--plans-identifier", default="nnUNetPlans", help="plans file name without .json (default "
                                                                      "nnUNetPlans)")
    p.add_argument("--overwrite", action="store_true", help="replace a configuration of that name")
    p.set_defaults(func=_run)
    return p
