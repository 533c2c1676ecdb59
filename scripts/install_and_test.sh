#!/usr/bin/env bash
# Fresh machine -> the test suite (CPU; about 10-15 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export HF_HUB_OFFLINE=1
.venv/bin/python -m pytest -q tests "$@"
