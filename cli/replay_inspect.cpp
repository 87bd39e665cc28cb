// `aha replay inspect DIR [--json] [--groups N | --all]`: what a replay buffer (RocksDB) holds —
// counts, bytes, the learner step, groups per weight version, and the first N groups (every group
// with --all) summarised: prompt text, gold, rewards, advantages, weight version, consumption.
// With --json the prompt text is whole, so a run's training prompts can be audited from outside.
// Opens the store read-only, so it works beside a running job.
#include <iostream>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "actors/replay_store.hpp"
#include "cli/command.hpp"

namespace {

constexpr const char* kName = "replay inspect";

nlohmann::json summarise(const aha::protocol::scored_group& g, const aha::actors::replay_entry& e) {
  return {{"group_id", g.group_id},     {"prompt_id", g.source.id},
          {"task", g.source.task},      {"prompt", g.source.text}, {"gold", g.source.gold},
          {"group_size", g.rollouts.size()}, {"rewards", g.rewards},
          {"advantages", g.advantages}, {"min_weight_version", g.min_weight_version},
          {"consumed", e.consumed},     {"consumed_step", e.consumed_step}};
}

nlohmann::json report(const aha::actors::replay_store& store, std::size_t show) {
  std::map<std::uint64_t, std::uint64_t> per_version;
  std::uint64_t consumed = 0;
  for (const auto& [id, e] : store.entries()) {
    ++per_version[e.weight_version];
    consumed += e.consumed ? 1 : 0;
  }
  nlohmann::json versions = nlohmann::json::object();
  for (auto [v, n] : per_version) versions[std::to_string(v)] = n;
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& [id, e] : store.entries()) {
    if (groups.size() >= show) break;
    auto g = store.get(id);
    groups.push_back(g ? summarise(*g, e) : nlohmann::json{{"group_id", id}, {"error", g.error().message}});
  }
  return {{"dir", store.options().dir},           {"stored_groups", store.entries().size()},
          {"consumed_groups", consumed},          {"unconsumed_groups", store.entries().size() - consumed},
          {"stored_bytes", store.stored_bytes()}, {"learner_step", store.learner_step()},
          {"groups_per_weight_version", versions}, {"groups", groups}};
}

std::string shortened(const std::string& text) { return text.size() > 60 ? text.substr(0, 57) + "..." : text; }

void print_text(const nlohmann::json& r) {
  std::cout << "replay store " << r["dir"].get<std::string>() << "\n"
            << "  groups: " << r["stored_groups"] << " stored, " << r["consumed_groups"] << " consumed, "
            << r["unconsumed_groups"] << " unconsumed (" << r["stored_bytes"] << " bytes)\n"
            << "  learner step: " << r["learner_step"] << "\n  groups per weight version:";
  for (auto& [v, n] : r["groups_per_weight_version"].items()) std::cout << " v" << v << "=" << n;
  std::cout << "\n";
  for (const auto& g : r["groups"]) {
    if (g.contains("error")) {
      std::cout << "  #" << g["group_id"] << " unreadable: " << g["error"].get<std::string>() << "\n";
      continue;
    }
    std::cout << "  #" << g["group_id"] << " prompt " << g["prompt_id"] << " [" << g["task"].get<std::string>()
              << "] v" << g["min_weight_version"] << (g["consumed"].get<bool>() ? " consumed" : "") << " G="
              << g["group_size"] << " rewards=" << g["rewards"].dump() << " \"" << shortened(g["prompt"].get<std::string>())
              << "\"\n";
  }
}

int replay_inspect(aha::cli::arguments& args) {
  bool json = args.flag("--json");
  auto shown = args.option("--groups");
  bool all = args.flag("--all");
  if (auto unknown = args.unknown_options(); !unknown.empty()) return aha::cli::usage_error(kName, unknown);
  auto words = args.positionals();
  if (words.size() != 1) return aha::cli::usage_error(kName, "usage: aha replay inspect DIR [--json] [--groups N | --all]");
  if (all && shown) return aha::cli::usage_error(kName, "--groups and --all exclude each other");
  std::size_t show = 5;
  try {
    if (shown) show = std::stoul(*shown);
    if (all) show = std::numeric_limits<std::size_t>::max();
  } catch (...) {
    return aha::cli::usage_error(kName, "--groups wants a count, got '" + *shown + "'");
  }
  aha::actors::replay_store_options options;
  options.dir = words[0];
  options.read_only = true;
  auto store = aha::actors::replay_store::open(options);
  if (!store) {
    std::cerr << "aha " << kName << ": " << store.error().message << "\n";
    return 1;
  }
  auto r = report(**store, show);
  if (json) {
    std::cout << r.dump() << "\n";
  } else {
    print_text(r);
  }
  return 0;
}

}  // namespace

AHA_COMMAND("replay inspect", "show what a replay buffer folder holds (counts, versions, a few groups or --all; --json)",
            replay_inspect);
