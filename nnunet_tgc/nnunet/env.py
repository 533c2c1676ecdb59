"""``nnunet-tgc env``: the environment variables nnU-Net needs to find the TGC trainers.

nnU-Net looks up ``-tr nnUNetTrainerTGC`` in its own package and then in the folders listed in
``nnUNet_extTrainer``; it imports every module there by its bare name. So the plugin ships a
folder (``ext_trainers/``) holding one uniquely named module that re-exports the trainers, and
this command prints the lines that add that folder to the variable::

    eval "$(nnunet-tgc env)"                     # bash / zsh
    nnunet-tgc env --shell fish | source         # fish
    nnunet-tgc env --shell powershell | Invoke-Expression

It is also the one place that reads the plugin's own variables (``model_settings``): the model package
takes them as arguments, and the trainer reads them here once, when it builds the network.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Mapping

DATA_VARS = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")
CLIP_WEIGHTS_VAR = "nnUNet_TGC_clip_weights"
SHELLS = ("bash", "fish", "powershell")
_TRUE = ("1", "true", "yes")


def model_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The frozen towers' settings from the environment: the keyword arguments ``weights``, ``tower_dtype`` and
    ``allow_knowledge_mismatch`` of ``create_tgc_net`` / ``create_towers`` (nnunet_tgc.model.factory).

    * ``nnUNet_TGC_clip_weights``: unset or blank -> None (the backbone's default weights), else its value
      (a path or ``random``);
    * ``nnUNet_TGC_tower_dtype``: float16 (default), bfloat16 or float32, any case; anything else is a ValueError
      naming the variable;
    * ``nnUNet_TGC_allow_knowledge_mismatch``: 1 / true / yes (any case) -> True.
    """
    # here, not at the top: ``nnunet-tgc env`` needs no torch
    from ..model.clip_towers import DEFAULT_TOWER_DTYPE, KNOWLEDGE_OVERRIDE_ENV, TOWER_DTYPE_ENV, TOWER_DTYPES
    environ = os.environ if environ is None else environ
    dtype = environ.get(TOWER_DTYPE_ENV, DEFAULT_TOWER_DTYPE).strip().lower()
    if dtype not in TOWER_DTYPES:
        raise ValueError(f"{TOWER_DTYPE_ENV}={dtype!r}: use one of {sorted(TOWER_DTYPES)}")
    return {"weights": environ.get(CLIP_WEIGHTS_VAR, "").strip() or None, "tower_dtype": dtype,
            "allow_knowledge_mismatch": environ.get(KNOWLEDGE_OVERRIDE_ENV, "").strip().lower() in _TRUE}


def ext_trainer_dir() -> Path:
    """The folder to put on ``nnUNet_extTrainer`` (holds only ``nnunet_tgc_trainers.py``)."""
    return Path(__file__).resolve().parent / "ext_trainers"


def _append_path(existing: str | None, folder: str) -> str:
    """``existing`` + ``folder`` joined with os.pathsep; unchanged if already listed."""
    parts = [p for p in (existing or "").split(os.pathsep) if p.strip()]
    norm = {os.path.normcase(os.path.abspath(p)) for p in parts}
    if os.path.normcase(os.path.abspath(folder)) not in norm:
        parts.append(folder)
    return os.pathsep.join(parts)


def env_assignments(root=None, environ: Mapping[str, str] | None = None, ext_dir=None) -> dict[str, str]:
    """Variable -> value to export. Data folders keep their current value unless ``root`` is
    given (then ``root/nnUNet_raw`` etc.); unset ones without ``root`` are left out."""
    environ = os.environ if environ is None else environ
    out = {"nnUNet_extTrainer": _append_path(environ.get("nnUNet_extTrainer"), str(ext_dir or ext_trainer_dir()))}
    for var in DATA_VARS:
        if root is not None:
            out[var] = str(Path(root).resolve() / var)
        elif environ.get(var):
            out[var] = environ[var]
    return out


def _quote(value: str, shell: str) -> str:
    if shell == "bash":
        return shlex.quote(value)
    if shell == "fish":  # inside fish single quotes only \ and ' are special
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "'" + value.replace("'", "''") + "'"  # powershell: '' is a literal quote


def export_line(var: str, value: str, shell: str) -> str:
    if shell == "bash":
        return f"export {var}={_quote(value, shell)}"
    if shell == "fish":
        return f"set -gx {var} {_quote(value, shell)}"
    if shell == "powershell":
        return f"$env:{var} = {_quote(value, shell)}"
    raise ValueError(f"unknown shell {shell!r}; choose one of {', '.join(SHELLS)}")


def env_lines(shell: str = "bash", root=None, environ: Mapping[str, str] | None = None, ext_dir=None) -> list[str]:
    environ = os.environ if environ is None else environ
    values = env_assignments(root, environ, ext_dir)
    lines = [export_line(var, value, shell) for var, value in values.items()]
    for var in DATA_VARS:
        if root is not None and environ.get(var) and environ[var] != values[var]:
            lines.append(f"# {var} was {environ[var]!r}; --root replaces it")
    for var in DATA_VARS:
        if var not in values:
            lines.append(f"# {var} is not set: rerun with --root DIR or set it yourself (nnU-Net needs it)")
    if root is not None:
        lines.append("# create the folders if they do not exist yet: " + " ".join(values[v] for v in DATA_VARS))
    current = environ.get(CLIP_WEIGHTS_VAR)
    lines.append(
        f"# {CLIP_WEIGHTS_VAR} (optional{', now ' + repr(current) if current else ''}): unset = open_clip "
        f"downloads the default CLIP weights; a path = local checkpoint file; 'random' = random init (tests only)"
    )
    return lines


def _run(args) -> int:
    print("\n".join(env_lines(args.shell, args.root)))
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "env",
        help="print the environment variables nnU-Net needs to find the TGC trainers",
        description='Print export lines; use as: eval "$(nnunet-tgc env)"',
    )
    p.add_argument("--shell", choices=SHELLS, default="bash", help="syntax of the printed lines (default: bash)")
    p.add_argument("--root", default=None, metavar="DIR",
                   help="set nnUNet_raw/nnUNet_preprocessed/nnUNet_results to DIR/nnUNet_raw etc. "
                        "(without it, their current values are kept)")
    p.set_defaults(func=_run)
    return p


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="nnunet-tgc")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["env", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":  # python -m nnunet_tgc.nnunet.env [--shell ...]
    sys.exit(main())
