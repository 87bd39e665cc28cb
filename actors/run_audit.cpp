// The split audit (actors/run_audit.hpp).
#include "actors/run_audit.hpp"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "actors/replay_store.hpp"
#include "actors/tasks/split.hpp"

namespace aha::actors {

void write_sft_example(std::ostream& out, std::uint64_t step, const protocol::prompt& prompt) {
  out << nlohmann::json{{"step", step}, {"task", prompt.task}, {"prompt", prompt.text}, {"gold", prompt.gold}}
             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
      << "\n";
}

result<trained_problems> read_trained_problems(const std::string& sft_file, const std::string& replay_dir) {
  trained_problems out;
  if (std::filesystem::exists(sft_file)) {
    std::ifstream in(sft_file);
    std::string line;
    for (std::uint64_t number = 1; std::getline(in, line); ++number) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.contains("task") || !j.contains("prompt")) {
        return make_error(errc::corrupt_data, sft_file + ":" + std::to_string(number) + ": not an SFT example line");
      }
      out.keys.insert(tasks::problem_key(j["task"].get<std::string>(), j["prompt"].get<std::string>()));
      ++out.sft_examples;
    }
  }
  if (!std::filesystem::exists(replay_dir)) return out;
  replay_store_options options;
  options.dir = replay_dir;
  options.read_only = true;
  auto store = replay_store::open(options);
  if (!store) return store.error();
  for (const auto& [id, entry] : (*store)->entries()) {
    if (!entry.consumed) continue;
    auto group = (*store)->get(id);
    if (!group) return group.error();
    out.keys.insert(tasks::problem_key(group->source));
    ++out.grpo_groups;
  }
  return out;
}

std::uint64_t count_overlap(const std::vector<protocol::prompt>& held_out, const trained_problems& trained) {
  std::uint64_t overlap = 0;
  for (const auto& p : held_out) overlap += trained.keys.count(tasks::problem_key(p));
  return overlap;
}

}  // namespace aha::actors
