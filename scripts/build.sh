#!/usr/bin/env bash
# Installs aha's Debian packages (scripts/install-deps.sh) and builds everything into build/:
# the `aha` executable, libraries, tests and fuzz targets. Ninja, -j2, ccache when installed.
# Usage: bash scripts/build.sh [extra cmake -D options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build build -j 2
