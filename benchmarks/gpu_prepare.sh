#!/usr/bin/env bash
# Put the wheels that the lent GPU machine lacks into .gpu_wheels/ (ignored by
# git; or the folder given), for its Python 3.12: benchmarks/gpu_check.py's
# network phase builds padseg's PAD layer, which needs mmengine and mmcv's
# pure-Python part (mmcv-lite: no compiled ops). Everything else the check
# uses (torch, triton, torchvision, numpy, opencv, pyyaml, rich, matplotlib)
# is on that machine's image. Downloaded once into the cache, then copied.
#
#   bash benchmarks/gpu_prepare.sh [DEST]      (PADSEG_CACHE: ~/.cache/padseg)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$repo/.gpu_wheels}"
cache="${PADSEG_CACHE:-$HOME/.cache/padseg}/gpu_wheels"
python="${PYTHON:-python3}"
wheels=(mmengine==0.10.7 mmcv-lite==2.1.0 addict==2.4.0 yapf==0.43.0
        termcolor==3.3.0 platformdirs==4.5.1)
mkdir -p "$cache" "$dest"
for spec in "${wheels[@]}"; do
    name="${spec%%==*}"; version="${spec##*==}"
    pattern="${name//-/_}-${version}-*.whl"
    if ! compgen -G "$cache/$pattern" >/dev/null; then
        "$python" -m pip download -q --no-deps --only-binary=:all: \
            --python-version 3.12 -d "$cache" "$spec"
    fi
    cp "$cache"/$pattern "$dest/"
done
du -sh "$dest" | sed 's/^/[gpu_prepare] wheels: /' >&2
