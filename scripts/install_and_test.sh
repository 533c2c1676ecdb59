#!/usr/bin/env bash
# Fresh machine -> the test suite (CPU; about 10 minutes on 2 idle cores, install included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export HF_HUB_OFFLINE=1
# two workers (pytest-xdist): nnU-Net's commands spend much of their time waiting for their worker
# processes, so a second test process fills the cores; the groups and their order are in tests/conftest.py
.venv/bin/python -m pytest -q -n 2 --dist loadgroup tests "$@"
