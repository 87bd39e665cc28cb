#!/usr/bin/env bash
# Builds aha on the lent GPU machine (no package registry, no apt): unpacks the Debian packages
# that scripts/device-pack.sh downloaded (dpkg -x into a prefix, never into /) and builds against
# the LibTorch of the image's PyTorch (2.x, CUDA) with AHA_CUDA=ON for sm_90 (H100/H200).
# Writes PREFIX/env.sh: `source` it before running what was built (LD_LIBRARY_PATH, PATH).
# Usage: bash scripts/device-build.sh [DEBS_DIR] [-- cmake --build targets...]
#   DEBS_DIR  default: .gpu/debs beside this checkout's root (device-pack.sh's layout)
#   env: AHA_DEVICE_PREFIX (/tmp/aha-deps), AHA_DEVICE_BUILD (build-device), AHA_JOBS (nproc),
#        AHA_BUILD_TYPE (Release), AHA_TORCH_PREFIX (default: python3's torch.utils.cmake_prefix_path)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
debs=$(realpath "${1:-$src/.gpu/debs}")
shift || true
[[ ${1:-} == -- ]] && shift
targets=("$@")
prefix=${AHA_DEVICE_PREFIX:-/tmp/aha-deps}
build=${AHA_DEVICE_BUILD:-$src/build-device}
jobs=${AHA_JOBS:-$(nproc)}
arch=x86_64-linux-gnu
lib=$prefix/usr/lib/$arch

# 1. Unpack: the required packages into the prefix; a fallback library only where the image
#    lacks its soname.
if [[ ! -f $prefix/.unpacked ]]; then
  mkdir -p "$prefix/fallback" "$lib"
  for d in "$debs"/required/*.deb; do dpkg -x "$d" "$prefix"; done
  for d in "$debs"/fallback/*.deb; do dpkg -x "$d" "$prefix/fallback"; done
  for f in "$prefix"/fallback/{usr/,}lib/$arch/*.so.*; do
    [[ -e $f ]] || continue
    name=$(basename "$f")
    if ! ldconfig -p | grep -q "^[[:space:]]*$name "; then cp -a "$f" "$lib/" && echo "device-build: using Debian's $name"; fi
  done
  # A -dev package's libX.so link to a soname the image already has: point it at the image's file.
  for l in "$lib"/*.so; do
    if [[ -L $l && ! -e $l ]]; then
      sys=$(ldconfig -p | awk -v n="$(basename "$(readlink "$l")")" '$1 == n { print $NF; exit }')
      [[ -n $sys ]] && ln -sf "$sys" "$l"
    fi
  done
  touch "$prefix/.unpacked"
fi

# 2. CMake packages whose Debian config files point at /usr or pull in more -dev packages
#    (RocksDB: gflags/snappy/zlib/bz2/lz4/zstd configs; msgpack: Boost; cppzmq: pkg-config).
shims=$prefix/cmake-shims
mkdir -p "$shims"
cat >"$shims/RocksDBConfig.cmake" <<CM
add_library(RocksDB::rocksdb SHARED IMPORTED)
set_target_properties(RocksDB::rocksdb PROPERTIES IMPORTED_LOCATION "$lib/librocksdb.so"
  INTERFACE_INCLUDE_DIRECTORIES "$prefix/usr/include")
CM
cat >"$shims/cppzmqConfig.cmake" <<CM
add_library(cppzmq INTERFACE IMPORTED)
set_target_properties(cppzmq PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "$prefix/usr/include"
  INTERFACE_LINK_LIBRARIES "$lib/libzmq.so")
CM
cat >"$shims/msgpack-config.cmake" <<CM
add_library(msgpackc-cxx INTERFACE IMPORTED)
set_target_properties(msgpackc-cxx PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "$prefix/usr/include"
  INTERFACE_COMPILE_DEFINITIONS "MSGPACK_DEFAULT_API_VERSION=3;MSGPACK_NO_BOOST")
CM

# 3. The environment for building and running (GNU ld also resolves DT_NEEDED through LD_LIBRARY_PATH).
python=${AHA_PYTHON:-python3}
torch_prefix=${AHA_TORCH_PREFIX:-$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')}
cuda=${CUDA_HOME:-/usr/local/cuda}
cat >"$prefix/env.sh" <<ENV
export LD_LIBRARY_PATH="$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export PATH="$cuda/bin:\$PATH"
export TORCH_CUDA_ARCH_LIST=9.0
export CPATH="$prefix/usr/include/$arch\${CPATH:+:\$CPATH}"  # gmp.h lives in the multiarch folder
ENV
# shellcheck source=/dev/null
source "$prefix/env.sh"

# 4. Configure and build.
cmake -S "$src" -B "$build" -G Ninja -Wno-dev \
  -DCMAKE_BUILD_TYPE="${AHA_BUILD_TYPE:-Release}" \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr" \
  -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
  -DRocksDB_DIR="$shims" -Dcppzmq_DIR="$shims" -Dmsgpack_DIR="$shims" -DICU_ROOT="$prefix/usr" \
  -DAHA_CUDA=ON -DAHA_CUDA_ARCHITECTURES=90 -DTORCH_CUDA_ARCH_LIST=9.0 \
  -DCMAKE_CUDA_COMPILER="$cuda/bin/nvcc" -DAHA_FUZZ=OFF
cmake --build "$build" -j "$jobs" ${targets[@]:+--target "${targets[@]}"} -- -k 0
echo "device-build: built in $build; run with: source $prefix/env.sh"
