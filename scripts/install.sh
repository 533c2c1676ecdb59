#!/usr/bin/env bash
# Create .venv and install nnunet_tgc with its test extra.
# torch and torchvision are installed first as a matching pair (override with TORCH_SPEC), otherwise pip
# may pick a torchvision that does not import beside the installed torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip setuptools wheel
# shellcheck disable=SC2086
.venv/bin/python -m pip install --quiet $TORCH_SPEC
.venv/bin/python -m pip install --quiet -e '.[test]'
echo "installed nnunet_tgc into $(pwd)/.venv"
