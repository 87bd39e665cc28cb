#!/usr/bin/env bash
# Packs what scripts/device-build.sh needs on the GPU machine, which reaches no package registry:
#   DIR/debs/*.deb  the Debian 12 packages of aha's build dependencies (apt-get download, ~33 MiB;
#                   the device tool carries at most 64 MiB per call)
#   DIR/src/        with --src: a copy of this checkout's sources (tracked and untracked-not-ignored
#                   files), for when the device tool sends another checkout than the one edited
# DIR defaults to .gpu in the repository root (ignored by .gitignore); name it in the device
# call's carry. Runs here (Debian 12, root), never on the device.
# Usage: bash scripts/device-pack.sh [--src] [DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
with_src=0
if [[ ${1:-} == --src ]]; then with_src=1; shift; fi
dir=$(realpath -m "${1:-$root/.gpu}")

# Headers, CMake files and libraries aha links (cmake/AhaDependencies.cmake), unpacked into the prefix.
required=(
  libcaf-dev libcaf-core0.17 libcaf-io0.17          # CAF 0.17
  librocksdb-dev librocksdb7.8 libgflags2.2 libsnappy1v5
  libzmq3-dev libzmq5 cppzmq-dev libsodium-dev libsodium23 libpgm-5.3-0 libnorm1
  libmsgpack-cxx-dev libtomlplusplus-dev libtomlplusplus3 nlohmann-json3-dev catch2
  libseccomp-dev libicu-dev libicu72 libgmp-dev libgmpxx4ldbl
)
# Run-time libraries most images already have: device-build.sh uses one only when the machine
# lacks its soname (Debian's copy would otherwise shadow the image's newer one).
fallback=(
  libseccomp2 libgmp10 libzstd1 liblz4-1 libbz2-1.0 libbsd0 libmd0
  libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1
)

mkdir -p "$dir/debs/required" "$dir/debs/fallback"
fetch() {  # fetch SUBDIR PACKAGES... (skips packages already there)
  local sub=$1; shift
  local missing=()
  for p in "$@"; do compgen -G "$dir/debs/$sub/${p}_*.deb" >/dev/null || missing+=("$p"); done
  if ((${#missing[@]})); then
    apt-get download "${missing[@]}" 2>/dev/null || { apt-get update -qq && apt-get download "${missing[@]}"; }
    mv ./*.deb "$dir/debs/$sub/"
  fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && fetch required "${required[@]}" && fetch fallback "${fallback[@]}")

if ((with_src)); then
  rm -rf "$dir/src" && mkdir -p "$dir/src"
  (cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - --ignore-failed-read) |
    tar -xf - -C "$dir/src"
fi
du -sh "$dir"/* | sed 's/^/device-pack: /'
