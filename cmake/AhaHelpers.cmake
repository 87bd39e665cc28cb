# The few CMake helpers every folder uses. Conventions they encode:
#   foo.cpp        -> part of the folder's library          (aha_add_library)
#   foo.test.cpp   -> a Catch2 unit test of that library     (aha_add_unit_tests)
#   foo.fuzz.cpp   -> a libFuzzer target, built with clang++ (aha_add_fuzzer)
find_package(Catch2 REQUIRED)
include(Catch)

# Catch2 v2's main(), compiled once and shared by every test executable.
if(NOT TARGET aha_catch_main)
  file(WRITE ${CMAKE_BINARY_DIR}/aha_catch_main.cpp
       "#define CATCH_CONFIG_MAIN\n#include <catch2/catch.hpp>\n")
  add_library(aha_catch_main STATIC ${CMAKE_BINARY_DIR}/aha_catch_main.cpp)
  target_link_libraries(aha_catch_main PUBLIC Catch2::Catch2)
endif()

# aha_add_library(NAME DEPS <public deps...> [PRIVATE_DEPS ...])
# Compiles every .cpp under the current folder that is not a test or a fuzz target.
function(aha_add_library name)
  cmake_parse_arguments(A "" "" "DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  list(FILTER sources EXCLUDE REGEX "\\.(test|fuzz|bench)\\.cpp$")
  if(sources)
    add_library(${name} STATIC ${sources})
    set(scope PUBLIC)
  else()
    add_library(${name} INTERFACE)
    set(scope INTERFACE)
  endif()
  # Includes are rooted at the repository: #include "rewards/math_verifier.hpp".
  target_include_directories(${name} ${scope} ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} ${scope} ${A_DEPS})
  if(A_PRIVATE_DEPS)
    target_link_libraries(${name} PRIVATE ${A_PRIVATE_DEPS})
  endif()
  if(AHA_FAULT_POINTS)
    target_compile_definitions(${name} ${scope} AHA_FAULT_POINTS=1)
  endif()
  if(scope STREQUAL PUBLIC)
    target_compile_options(${name} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  endif()
endfunction()

# aha_add_unit_tests(LIBRARY [LABELS ...] [DEPS ...] [TIMEOUT seconds])
# One test executable per folder from its *.test.cpp files; each TEST_CASE becomes a CTest test
# named "<folder>.<case>". TIMEOUT is a hang guard, not a performance assertion. A case that
# prints "AHA-SKIPPED: <reason>" (AHA_SKIP, core/test_skip.hpp) is reported as Skipped, not Passed.
function(aha_add_unit_tests library)
  cmake_parse_arguments(A "" "TIMEOUT" "LABELS;DEPS" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.test.cpp)
  if(NOT sources)
    return()
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  get_filename_component(folder ${CMAKE_CURRENT_SOURCE_DIR} NAME)
  set(exe ${folder}_tests)
  add_executable(${exe} ${sources})
  target_link_libraries(${exe} PRIVATE ${library} aha_catch_main ${A_DEPS})
  target_compile_definitions(${exe} PRIVATE
    AHA_SOURCE_DIR="${PROJECT_SOURCE_DIR}" AHA_SHARED_DATA_DIR="${PROJECT_SOURCE_DIR}/../shared/data")
  # Catch.cmake and its discovery script each expand PROPERTIES unquoted: a ';' of the label list
  # must survive both (hence eight backslashes), or it splits the list and shifts every later
  # name/value pair (only the first label stood, and TIMEOUT was lost that way).
  string(REPLACE ";" "\\\\\\\\;" labels "${folder};${A_LABELS}")
  # CTest runs each case by its name as a Catch filter, and cuts names at ';': a case whose name
  # has one would match nothing and "pass" without running. `-w NoTests` makes a filter that runs
  # no test fail instead, so such a name cannot hide a test.
  catch_discover_tests(${exe} TEST_PREFIX "${folder}."
    EXTRA_ARGS -w NoTests
    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}
    PROPERTIES LABELS "${labels}" TIMEOUT ${A_TIMEOUT} SKIP_REGULAR_EXPRESSION "AHA-SKIPPED:")
endfunction()

# aha_add_fuzzer(NAME SOURCES <files...> [INCLUDES dirs...] [LIBS -l...] [SECONDS n])
# Builds a libFuzzer binary with clang++ (the main build may use g++) and registers a bounded
# fuzzing run as a CTest test labelled "fuzz". Findings are written to the build folder.
function(aha_add_fuzzer name)
  cmake_parse_arguments(A "" "SECONDS" "SOURCES;INCLUDES;LIBS" ${ARGN})
  if(NOT AHA_FUZZ)
    return()
  endif()
  find_program(AHA_CLANGXX NAMES clang++ clang++-14)
  if(NOT AHA_CLANGXX)
    message(WARNING "aha: clang++ not found; fuzz target ${name} is not built")
    return()
  endif()
  if(NOT A_SECONDS)
    set(A_SECONDS 30)
  endif()
  set(binary ${CMAKE_CURRENT_BINARY_DIR}/${name})
  set(include_flags -I${PROJECT_SOURCE_DIR})
  foreach(dir ${A_INCLUDES})
    list(APPEND include_flags -I${dir})
  endforeach()
  add_custom_command(OUTPUT ${binary}
    COMMAND ${AHA_CLANGXX} -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined
            -fno-sanitize-recover=undefined ${include_flags} ${A_SOURCES} ${A_LIBS} -o ${binary}
    DEPENDS ${A_SOURCES}
    IMPLICIT_DEPENDS CXX ${A_SOURCES}
    COMMENT "Building fuzz target ${name} with clang++"
    VERBATIM)
  add_custom_target(${name}_build ALL DEPENDS ${binary})
  set(corpus ${CMAKE_CURRENT_BINARY_DIR}/${name}_corpus)
  file(MAKE_DIRECTORY ${corpus})
  add_test(NAME fuzz.${name}
    COMMAND ${binary} -max_total_time=${A_SECONDS} -rss_limit_mb=2048 -timeout=10
            -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/${name}- ${corpus})
  set_tests_properties(fuzz.${name} PROPERTIES LABELS "fuzz" TIMEOUT 600)
endfunction()
