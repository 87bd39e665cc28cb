#!/usr/bin/env bash
# Installs the Debian packages aha builds and tests with. Idempotent: packages already present
# are skipped, and `apt-get update` runs at most once per invocation (and only if something is missing).
# Usage: bash scripts/install-deps.sh        (root, Debian 12)
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libcaf-dev libcaf-doc                       # actors (CAF 0.17)
  libssl-dev                                  # cluster TLS (CAF's OpenSSL module; certificates)
  iproute2                                    # tests: network namespaces stand in for hosts
  libtorch-dev libopenblas0-openmp            # model (CPU LibTorch; OpenBLAS-openmp, not the reference BLAS)
  libgloo-dev                                 # cluster: the headers of the Gloo group LibTorch carries (data-parallel learner)
  libicu-dev                                  # model: BPE pre-tokenizer regex (\p{L}) and NFC
  libzmq3-dev cppzmq-dev libsodium-dev        # sandbox service (ZeroMQ + CURVE)
  libcpp-httplib-dev                          # sandbox HTTP service (SandboxFusion-compatible)
  curl                                        # tests: a real HTTP client for the HTTP service
  libmsgpack-cxx-dev                          # message schema
  librocksdb-dev                              # replay buffer
  libxxhash-dev                               # cluster: checksums of streamed weight blocks (XXH3)
  catch2                                      # tests
  libseccomp-dev                              # sandbox
  libtomlplusplus-dev nlohmann-json3-dev      # config files, JSON in/out
  libgmp-dev                                  # exact arithmetic in the math verifier
  clang libclang-rt-14-dev                    # libFuzzer targets
  bubblewrap                                  # the sandbox bench's baseline
  python3                                     # the sandbox's interpreter (/usr/bin/python3)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
