#!/usr/bin/env bash
# Create or reuse the virtual environment at .venv (repository root) with the tested
# OpenMMLab stack. The environment itself lives in a cache directory outside the
# repository, keyed by the hash of the pinned requirements, and .venv links to it, so
# a second clone sets up in seconds. mmcv 2.1.0 is built once from source (PyPI has no
# wheel for this torch) and its wheel is cached too.
#
#   PADSEG_CACHE   cache directory (default: ~/.cache/padseg)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${PADSEG_CACHE:-$HOME/.cache/padseg}"
python="${PYTHON:-python3}"
key="$(cat "$repo/tools/requirements/runtime.txt" "$repo/tools/requirements/tests.txt" \
       | sha256sum | cut -c1-16)"
env_dir="$cache/venv-$key"
wheels="$cache/wheels"
mkdir -p "$cache" "$wheels"

log() { printf '[setup_env] %s\n' "$*" >&2; }

build_mmcv_wheel() {
    # mmcv 2.1.0 hard-codes -std=c++17; torch 2.14 headers need C++20.
    local work
    work="$(mktemp -d)"
    log "building mmcv 2.1.0 with compiled CPU ops (about 11 minutes on 2 cores, once)"
    "$env_dir/bin/pip" download --no-deps --no-binary :all: --no-build-isolation -d "$work" mmcv==2.1.0 >&2
    tar -xzf "$work"/mmcv-2.1.0.tar.gz -C "$work"
    sed -i 's/-std=c++17/-std=c++20/g' "$work/mmcv-2.1.0/setup.py"
    (cd "$work/mmcv-2.1.0" && MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "$env_dir/bin/pip" wheel --no-build-isolation --no-deps -w "$work/out" . >&2)
    cp "$work"/out/mmcv-2.1.0-*.whl "$wheels/"
    rm -rf "$work"
}

# One set-up at a time per cache (parallel clones, CI beside a session).
exec 9>"$cache/.lock"
flock 9
if [ ! -f "$env_dir/.complete" ]; then
    # An interrupted earlier attempt leaves no .complete marker: start it over.
    rm -rf "$env_dir"
    log "creating $env_dir"
    "$python" -m venv "$env_dir"
    "$env_dir/bin/pip" install -q --upgrade pip 'setuptools>=77,<81' wheel
    "$env_dir/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
    ls "$wheels"/mmcv-2.1.0-*.whl >/dev/null 2>&1 || build_mmcv_wheel
    "$env_dir/bin/pip" install -q "$(ls "$wheels"/mmcv-2.1.0-*.whl | head -n1)"
    "$env_dir/bin/pip" install -q -r "$repo/tools/requirements/runtime.txt" -r "$repo/tools/requirements/tests.txt"
    "$env_dir/bin/python" -c "import mmcv.ops, mmseg.models, mmpretrain.models" >&2
    touch "$env_dir/.complete"
fi
flock -u 9

# .venv is this checkout's own small environment on top of the cached stack:
# its site-packages reads the stack's (a .pth file) and holds padseg itself as
# an editable path install of this checkout (another .pth), so
# `import padseg` works in .venv without PYTHONPATH and clones never
# overwrite each other. (A path install rather than pip's PEP 660 editable
# wheel: MMEngine resolves `padseg::` configs from the package's own folder,
# which it finds through the import system, not through a dist-info.)
venv="$repo/.venv"
if [ -L "$venv" ]; then
    rm "$venv"  # the link of earlier set-ups
fi
if [ ! -f "$venv/pyvenv.cfg" ]; then
    "$python" -m venv --without-pip "$venv"
fi
stack_site="$("$env_dir/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
own_site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
printf 'import site; site.addsitedir(%s)\n' "'$stack_site'" > "$own_site/_padseg_stack.pth"
printf '%s\n' "$repo" > "$own_site/_padseg_checkout.pth"
# The compiled PAD kernels (padseg/ops/compiled.py) are built on first use with
# ninja and the C++ compiler; build them now, once per source version (cached in
# ~/.cache/torch_extensions), so training and tests do not wait for it. Without a
# compiler padseg warns and runs the same PAD layers in plain PyTorch.
if ! command -v ninja >/dev/null && [ ! -x "$env_dir/bin/ninja" ]; then
    "$env_dir/bin/pip" install -q ninja
fi
(cd / && "$venv/bin/python" -c \
    "from padseg.ops import compiled; compiled.kernels()") >&2

log "environment ready: $venv (padseg from $repo, the stack from $env_dir)"
