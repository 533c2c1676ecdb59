"""``nnunet-tgc``: the plugin's command line (env, check, places, convert, evaluate, ablate, add-configuration).

Each sub-command lives next to the code it drives and registers itself through an
``add_parser(subparsers)`` function; this module only assembles them.
"""
import argparse
import importlib
import sys

# module path of every sub-command; each module defines add_parser(subparsers) which sets func=...
SUBCOMMAND_MODULES = [
    "nnunet_tgc.nnunet.env",          # nnunet-tgc env
    "nnunet_tgc.text.check",          # nnunet-tgc check DATASET
    "nnunet_tgc.text.places_command",  # nnunet-tgc places REPORTS_JSON
    "nnunet_tgc.convert.cli",         # nnunet-tgc convert {qata,mosmed,generic}
    "nnunet_tgc.evaluation.cli",      # nnunet-tgc evaluate PRED GT
    "nnunet_tgc.evaluation.ablate",   # nnunet-tgc ablate MODEL_FOLDER -i IMAGES -l LABELS -f F
    "nnunet_tgc.nnunet.plans_configuration",  # nnunet-tgc add-configuration DATASET --patch-size H W
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnunet-tgc", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
