#!/usr/bin/env bash
# README command 1, the main job: set up (or reuse) .venv, generate the embedded
# nested rings (train / val / test), train and test (tools/train.py,
# tools/test.py) the FCN at dilation 1, 2 and 4 and with PAD, each over 5
# seeds; choose the best fixed dilation on val; print on test the mIoU table,
# the IoU of small and large objects, whether the benchmark tells models
# apart, PAD - best fixed paired by seed with its 95 % interval, the dilation
# shares and a verdict, and write dilation-map images.
# Extra arguments go to tools/main_job.py (e.g. --work-dir, --seeds, --jobs).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/tools/setup_env.sh"
cd "$repo"
exec .venv/bin/python tools/main_job.py "$@"
