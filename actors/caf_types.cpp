// CAF glue: error conversion and the single registration of aha's message types.
#include "actors/caf_types.hpp"

#include "actors/cluster.hpp"
#include "actors/interfaces.hpp"
#include "actors/supervision/watchdog.hpp"
#include "cluster/generator_host.hpp"

namespace aha::actors {

caf::error to_caf_error(errc code, std::string message) {
  return caf::error(static_cast<std::uint8_t>(static_cast<int>(code) + 1), kErrorCategory,
                    caf::make_message(std::move(message)));
}

errc errc_of(const caf::error& failure) {
  if (!failure || failure.category() != kErrorCategory) return errc::internal;
  return static_cast<errc>(failure.code() - 1);
}

caf::error to_caf_error(const aha::error& failure) { return to_caf_error(failure.code, failure.message); }

std::string describe(const caf::error& failure) {
  if (!failure) return "no error";
  if (failure.category() != kErrorCategory) return caf::to_string(failure);
  std::string text = std::string("aha: ") + to_string(errc_of(failure));
  const auto& context = failure.context();
  if (context.match_elements<std::string>()) text += " (" + context.get_as<std::string>(0) + ")";
  return text;
}

void add_message_types(caf::actor_system_config& cfg) {
  // add_message_type<T> also registers std::vector<T>.
  cfg.add_message_type<protocol::prompt>("aha.prompt");
  cfg.add_message_type<protocol::rollout>("aha.rollout");
  cfg.add_message_type<protocol::reward_verdict>("aha.reward_verdict");
  cfg.add_message_type<protocol::scored_group>("aha.scored_group");
  cfg.add_message_type<protocol::learner_batch>("aha.learner_batch");
  cfg.add_message_type<protocol::weight_update_header>("aha.weight_update_header");
  cfg.add_message_type<protocol::node_registration>("aha.node_registration");
  cfg.add_message_type<protocol::sandbox_request>("aha.sandbox_request");
  cfg.add_message_type<protocol::sandbox_reply>("aha.sandbox_reply");
  cfg.add_message_type<protocol::reward_component>("aha.reward_component");
  cfg.add_message_type<fetch_request>("aha.fetch_request");
  cfg.add_message_type<replay_stats>("aha.replay_stats");
  cfg.add_message_type<prompt_source_stats>("aha.prompt_source_stats");
  cfg.add_message_type<grader_stats>("aha.grader_stats");
  cfg.add_message_type<cluster_stats>("aha.cluster_stats");
  cfg.add_message_type<metric_map>("aha.metric_map");
  cfg.add_message_type<progress_report>("aha.progress_report");
  cfg.add_message_type<stall>("aha.stall");
  cfg.add_message_type<std::vector<std::uint64_t>>("aha.u64_list");
  cluster::add_message_types(cfg);  // weight stream, generator hosts
  cfg.add_error_category(kErrorCategory, [](std::uint8_t code, caf::atom_value, const caf::message& context) {
    return describe(to_caf_error(static_cast<errc>(code - 1), context.match_elements<std::string>()
                                                               ? context.get_as<std::string>(0)
                                                               : std::string()));
  });
}

}  // namespace aha::actors
