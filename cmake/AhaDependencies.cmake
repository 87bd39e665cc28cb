# Finds aha's dependencies (all from Debian; scripts/install-deps.sh installs them) and makes
# imported targets where a package has none (CAF 0.17, libseccomp, libsodium, GMP).

# STACK.md: LibTorch must be found before RocksDB (both bring a gflags target).
find_package(Torch REQUIRED)
find_package(RocksDB REQUIRED)
find_package(msgpack REQUIRED)  # -> msgpackc-cxx (header-only)
find_package(cppzmq REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(Threads REQUIRED)

function(aha_import_library target header library)
  find_path(${target}_INCLUDE_DIR ${header} REQUIRED)
  find_library(${target}_LIBRARY ${library} REQUIRED)
  add_library(${target} UNKNOWN IMPORTED)
  set_target_properties(${target} PROPERTIES
    IMPORTED_LOCATION ${${target}_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${${target}_INCLUDE_DIR})
endfunction()

aha_import_library(caf_core caf/all.hpp caf_core)
aha_import_library(caf_io caf/io/all.hpp caf_io)
set_target_properties(caf_io PROPERTIES INTERFACE_LINK_LIBRARIES "caf_core;Threads::Threads")
find_package(OpenSSL REQUIRED)                 # the cluster's TLS (certificates) under CAF's OpenSSL module
aha_import_library(caf_openssl caf/openssl/all.hpp caf_openssl)
set_target_properties(caf_openssl PROPERTIES INTERFACE_LINK_LIBRARIES "caf_io;OpenSSL::SSL;OpenSSL::Crypto")
aha_import_library(seccomp seccomp.h seccomp)
aha_import_library(sodium sodium.h sodium)   # cluster authentication (HMAC-SHA256, random nonces)
aha_import_library(gmp gmpxx.h gmp)
find_library(GMPXX_LIBRARY gmpxx REQUIRED)
set_target_properties(gmp PROPERTIES INTERFACE_LINK_LIBRARIES ${GMPXX_LIBRARY})

# One imported target for LibTorch so only the folders that need it link (and include) it.
add_library(aha_torch INTERFACE)
if(Torch_VERSION VERSION_GREATER_EQUAL 2)
  # PyTorch 2.x wheels' libtorch.so exports its own static copy of std::filesystem, whose
  # remove_all jumps to a null weak symbol (a SIGSEGV seen on the GPU machine). Searching
  # libstdc++ before libtorch.so binds every std::filesystem call to libstdc++'s.
  target_link_libraries(aha_torch INTERFACE "-Wl,--push-state,--no-as-needed" stdc++ "-Wl,--pop-state")
endif()
target_link_libraries(aha_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(aha_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})

# CUDA: on when nvcc is present unless set explicitly; no GPU is needed to compile kernels.
if(AHA_CUDA STREQUAL "AUTO")
  include(CheckLanguage)
  set(CMAKE_CUDA_ARCHITECTURES ${AHA_CUDA_ARCHITECTURES})
  # nvcc is usually not on PATH; point check_language at it through CUDACXX (setting
  # CMAKE_CUDA_COMPILER directly would skip the check that the compiler actually works).
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(ENV{CUDACXX} /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(AHA_CUDA ON)
  else()
    set(AHA_CUDA OFF)
  endif()
endif()
if(AHA_CUDA)
  set(CMAKE_CUDA_ARCHITECTURES ${AHA_CUDA_ARCHITECTURES})
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib /usr/local/cuda/lib64)
endif()
message(STATUS "aha: CUDA kernels ${AHA_CUDA} (architectures ${AHA_CUDA_ARCHITECTURES}), LibTorch ${Torch_VERSION}")

# ccache, when installed, makes rebuilds of the LibTorch translation units cheap.
find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()
