#!/usr/bin/env bash
# README command 1, the main job: set up (or reuse) .venv, generate the embedded
# digits dataset, train a regular and a PAD DeepLabV3+ on it, test both with
# tools/test.py, print their mIoU side by side and write dilation-map images.
# Extra arguments go to tools/main_job.py (e.g. --work-dir, --max-iters).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/tools/setup_env.sh"
cd "$repo"
exec .venv/bin/python tools/main_job.py "$@"
