#!/usr/bin/env bash
# CTest report.tensorboard_reader: a tiny run's tb/ read back by TensorBoard's own reader
# (scripts/check_tensorboard.py). TensorBoard comes from the system Python when it has it, else is
# pip-installed here, once, into BUILD_DIR/report-venv (nothing else installs it). Without
# network or pip the test says AHA-SKIPPED (CTest: Skipped), never Passed.
# Usage: scripts/test_tensorboard_reader.sh AHA_BINARY BUILD_DIR
set -euo pipefail
aha=$1 build=$2
here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3
if ! "$python" -c 'import tensorboard' 2>/dev/null; then
  venv=$build/report-venv
  if ! "$venv/bin/python" -c 'import tensorboard' 2>/dev/null; then
    if ! { "$python" -m venv "$venv" && "$venv/bin/pip" install -q tensorboard; } > "$build/report-venv.log" 2>&1; then
      echo "AHA-SKIPPED: python tensorboard is missing and pip could not install it (see $build/report-venv.log)"
      exit 0
    fi
  fi
  python=$venv/bin/python
fi
dir=$build/report-tests/tensorboard-run
bash "$here/report_test_run.sh" "$aha" "$dir"
"$python" "$here/check_tensorboard.py" "$dir"
