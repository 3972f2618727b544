#!/usr/bin/env bash
# README command 1, the main job: set up (or reuse) .venv, generate the embedded
# rings dataset, train and test (tools/train.py, tools/test.py) the regular
# FCN, the same network with the best fixed dilation and the PAD one, each
# over 3 seeds; print mIoU as mean +- spread, whether the benchmark tells the
# fixed dilations apart, the dilation shares, the size correlation and a
# verdict, and write dilation-map images.
# Extra arguments go to tools/main_job.py (e.g. --work-dir, --seeds, --jobs).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/tools/setup_env.sh"
cd "$repo"
exec .venv/bin/python tools/main_job.py "$@"
