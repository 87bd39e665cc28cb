// Helpers of the stage-pipeline tests (pipeline/*.test.cpp): a staged tiny run in a fresh folder,
// the run's JSON and JSONL files, a recipe's first configuration error, a one-shot fault.
// Uses Catch2's macros: include it after <catch2/catch.hpp> (which comes last, after LibTorch).
#pragma once

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actors/controller.hpp"
#include "core/fault_point.hpp"
#include "tests/tiny_run.hpp"

namespace aha::testing {

// The tiny run of tests/tiny_run.hpp (its sections: the stages' defaults) with `stages_toml`
// after them, in a fresh folder <tmp>/aha-<name>-<pid>.
inline actors::run_config staged_run(const std::string& name, const std::string& stages_toml) {
  namespace fs = std::filesystem;
  const std::string dir = (fs::temp_directory_path() / ("aha-" + name + "-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  auto config = config::load_string<actors::run_config>(std::string(kTinyRunToml) + stages_toml, {"run.dir=" + dir},
                                                        "<" + name + ">");
  INFO((config.ok() ? std::string() : config.error().message));
  REQUIRE(config.ok());
  return *config;
}

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

inline std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

// Throws from a fault point once, on its (skip+1)-th hit.
inline void arm_once(const std::string& point, int skip) {
  auto fired = std::make_shared<std::atomic<bool>>(false);
  fault::arm(
      point,
      [fired, point] {
        if (!fired->exchange(true)) throw std::runtime_error("injected fault at " + point);
      },
      skip);
}

// The error a recipe (resolved, then validated) is refused with; "" when it is accepted.
inline std::string config_error(const std::string& stages_toml) {
  auto config = config::load_string<actors::run_config>(stages_toml, {}, "<recipe>");
  if (!config) return config.error().message;
  actors::resolve(*config);
  auto valid = actors::validate(*config);
  return valid ? std::string() : valid.error().message;
}

}  // namespace aha::testing
