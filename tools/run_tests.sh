#!/usr/bin/env bash
# The README's test command: set up (or reuse) .venv, then run the whole suite.
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh tests/test_ops -x`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/tools/setup_env.sh"
cd "$repo"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
exec .venv/bin/python -m pytest -p no:cacheprovider "${@:-tests}"
