#!/usr/bin/env bash
# Fresh machine -> the demo: install, generate the text-decides dataset, plan, train, predict, evaluate, draw.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/python scripts/demo.py --out demo_output "$@"
