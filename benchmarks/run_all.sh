#!/usr/bin/env bash
# Every figure of the PAD cost targets in one run: the one-layer table
# (benchmarks/pad_layer.py), then the whole PAD-ResNet-101 + DeepLabV3+
# (benchmarks/pad_resnet101_deeplabv3plus.py). Arguments go to both, so only
# the timing options they share: --repeats N, --threads N, --clock {wall,cpu}.
#
#   bash benchmarks/run_all.sh [--repeats 7]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
.venv/bin/python benchmarks/pad_layer.py "$@"
echo
.venv/bin/python benchmarks/pad_resnet101_deeplabv3plus.py "$@"
