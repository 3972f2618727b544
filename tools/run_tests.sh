#!/usr/bin/env bash
# The README's test command: set up (or reuse) .venv, then run the whole suite.
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh tests/test_ops -x`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/tools/setup_env.sh"
cd "$repo"
# Two pytest workers with one thread each keep both cores busy: much of the
# suite is tools started as subprocesses (imports, runners), single-threaded.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
exec .venv/bin/python -m pytest -p no:cacheprovider -n "${PYTEST_WORKERS:-2}" \
    "${@:-tests}"
