#!/usr/bin/env bash
# The OneDL stack (the maintained fork of OpenMMLab: onedl-mmcv, onedl-mmengine,
# onedl-mmsegmentation, onedl-mmpretrain; numpy 2) in .venv-onedl, as
# tools/setup_env.sh does for the pinned OpenMMLab stack: the environment lives
# in the cache, keyed by tools/requirements/onedl.txt, and onedl-mmcv is built
# once from its source (with compiled CPU ops; about 12 minutes on 2 cores).
#
#   bash tools/setup_env_onedl.sh            then
#   .venv-onedl/bin/python -m pytest -n 2 tests      (docs/install.md)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${PADSEG_CACHE:-$HOME/.cache/padseg}"
python="${PYTHON:-python3}"
req="$repo/tools/requirements/onedl.txt"
key="$(cat "$req" "$repo/tools/requirements/tests.txt" | sha256sum | cut -c1-16)"
env_dir="$cache/onedl-$key"
wheels="$cache/wheels"
mkdir -p "$cache" "$wheels"
log() { printf '[setup_env_onedl] %s\n' "$*" >&2; }

build_mmcv_wheel() {
    # onedl-mmcv's setup.py asks for C++17; torch 2.14's headers need C++20.
    local work version
    version="$(grep -E '^onedl-mmcv==' "$req" | cut -d= -f3)"
    work="$(mktemp -d)"
    log "building onedl-mmcv $version with compiled CPU ops (once)"
    "$env_dir/bin/pip" download --no-deps --no-binary :all: -d "$work" \
        "onedl-mmcv==$version" >&2
    tar -xzf "$work"/onedl_mmcv-"$version".tar.gz -C "$work"
    sed -i 's/-std=c++17/-std=c++20/g; s/-std=c++14/-std=c++20/g' \
        "$work/onedl_mmcv-$version/setup.py"
    (cd "$work/onedl_mmcv-$version" && MMCV_WITH_OPS=1 \
        MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "$env_dir/bin/pip" wheel --no-build-isolation --no-deps -w "$work/out" . >&2)
    cp "$work"/out/onedl_mmcv-*.whl "$wheels/"
    rm -rf "$work"
}

exec 9>"$cache/.lock-onedl"
flock 9
if [ ! -f "$env_dir/.complete" ]; then
    rm -rf "$env_dir"
    log "creating $env_dir"
    "$python" -m venv "$env_dir"
    "$env_dir/bin/pip" install -q --upgrade pip 'setuptools>=77,<81' wheel
    "$env_dir/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
    ls "$wheels"/onedl_mmcv-2.3.6-*.whl >/dev/null 2>&1 || build_mmcv_wheel
    "$env_dir/bin/pip" install -q "$(ls "$wheels"/onedl_mmcv-2.3.6-*.whl | head -n1)"
    "$env_dir/bin/pip" install -q -r "$req" -r "$repo/tools/requirements/tests.txt"
    "$env_dir/bin/python" -c "import mmcv.ops, mmseg.models, mmpretrain.models" >&2
    touch "$env_dir/.complete"
fi
flock -u 9

venv="$repo/.venv-onedl"
if [ ! -f "$venv/pyvenv.cfg" ]; then
    "$python" -m venv --without-pip "$venv"
fi
stack_site="$("$env_dir/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
own_site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
printf 'import site; site.addsitedir(%s)\n' "'$stack_site'" > "$own_site/_padseg_stack.pth"
printf '%s\n' "$repo" > "$own_site/_padseg_checkout.pth"
log "environment ready: $venv (the OneDL stack from $env_dir)"
