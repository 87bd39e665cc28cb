// A node's generator host (cluster/generator_host.hpp).
#include "cluster/generator_host.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include <unistd.h>

#include "actors/checkpoint.hpp"
#include "model/model_config.hpp"

namespace aha::cluster {
namespace {

namespace fs = std::filesystem;

// The policy a replica is built as: its architecture and tokenizer, its weights from the stream.
struct replica_model {
  std::string config_json;
  std::uint64_t block_bytes = 0;
  model::model_config config;
  std::shared_ptr<const model::tokenizer> tokenizer;
  std::unique_ptr<weight_assembler> weights;
};

// Builds the architecture and the tokenizer of an image: the tokenizer files go to a private
// temporary folder that the usual loader reads, and are removed again.
result<replica_model> build(const model_image& image, const stream_options& options) {
  auto config = model::parse_model_config(image.config_json);
  if (!config) return config.error();
  if (image.file_names.size() != image.file_texts.size()) return make_error(errc::invalid_argument, "model image: one text per file");
  char folder[] = "/tmp/aha-replica-XXXXXX";
  if (!::mkdtemp(folder)) return make_error(errc::io_error, "cannot make a temporary folder for the tokenizer");
  struct cleanup {
    const char* dir;
    ~cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } remove_later{folder};
  for (std::size_t i = 0; i < image.file_names.size(); ++i) {
    const auto& name = image.file_names[i];
    if (name.empty() || name.find('/') != std::string::npos || name[0] == '.') {
      return make_error(errc::invalid_argument, "model image: bad file name '" + name + "'");
    }
    std::ofstream out(fs::path(folder) / name, std::ios::binary);
    out << image.file_texts[i];
    if (!out) return make_error(errc::io_error, "cannot write the tokenizer file " + name);
  }
  auto tokenizer = actors::load_tokenizer(folder);
  if (!tokenizer) return tokenizer.error();
  replica_model out;
  out.config_json = image.config_json;
  out.block_bytes = options.block_bytes;
  out.config = *config;
  out.tokenizer = *tokenizer;
  model::transformer like(*config);
  actors::weights_snapshot shape;
  for (const auto& item : like->named_parameters(true)) shape.parameters.emplace_back(item.key(), item.value());
  out.weights = std::make_unique<weight_assembler>(shape, options);
  return out;
}

struct host_state {
  host_setup setup;
  std::optional<replica_model> model;
  std::optional<generator_order> order;                       // the stage being served
  std::optional<caf::typed_response_promise<std::vector<caf::actor>>> starting;  // answered at the first version
  std::vector<actors::generator_actor> generators;
  bool resyncing = false;  // a chunk was refused: drop chunks until a full version starts
  host_stats stats;
  // The host's end (the node leaves or rejoins) is its generators' end too.
  ~host_state() {
    for (auto& g : generators) caf::anon_send_exit(g, caf::exit_reason::user_shutdown);
  }
  static inline const char* name = "generator_host";
};

using self_ptr = generator_host_actor::stateful_pointer<host_state>;

void log_line(self_ptr self, const std::string& line) {
  if (self->state.setup.log) *self->state.setup.log << "aha node: " << line << std::endl;
}

void stop_generators(self_ptr self) {
  for (auto& g : self->state.generators) self->send(g, actors::stop_atom::value);
  self->state.generators.clear();
}

// The first complete version of a stage: one replica per generator, then the stage's answer.
void start_generators(self_ptr self, const actors::weights_ptr& weights) {
  auto& st = self->state;
  auto settings = config::load_string<actors::generator_config>(st.order->generator_toml, {}, "the stage's [generator]");
  if (!settings) {
    st.starting->deliver(actors::to_caf_error(settings.error()));
    st.starting.reset();
    return;
  }
  std::vector<caf::actor> handles;
  for (std::uint32_t i = 0; i < st.setup.generators; ++i) {
    actors::generator_setup g;
    g.name = st.setup.node + "/generator/" + std::to_string(i);
    g.replica = model::transformer(st.model->config);
    actors::load_snapshot(g.replica, *weights);
    g.tokenizer = st.model->tokenizer;
    g.config = *settings;
    g.config.count = 1;
    g.peers = {caf::actor_cast<actors::prompt_source_actor>(st.order->prompts),
               caf::actor_cast<actors::grader_actor>(st.order->grader),
               caf::actor_cast<actors::rollout_gate_actor>(st.order->gate),
               caf::actor_cast<actors::metrics_actor>(st.order->metrics)};
    g.max_staleness = st.order->max_staleness;
    g.weight_version = weights->version;
    g.seed = st.order->seed + i;
    g.where = st.setup.where;
    auto handle = actors::spawn_generator(self->system(), std::move(g));
    self->monitor(handle);
    st.generators.push_back(handle);
    handles.push_back(caf::actor_cast<caf::actor>(handle));
  }
  st.stats.generators = st.generators.size();
  log_line(self, "stage '" + st.order->stage + "': " + std::to_string(handles.size()) +
                     " generator(s) sampling with weight version " + std::to_string(weights->version));
  st.starting->deliver(std::move(handles));
  st.starting.reset();
}

void on_chunk(self_ptr self, const weight_chunk& chunk) {
  auto& st = self->state;
  if (!st.model || !st.order) return;  // between stages: nothing to build
  if (st.resyncing) {
    if (chunk.index != 0 || chunk.delta) return;  // the rest of a refused version
    st.resyncing = false;
  }
  if (auto applied = st.model->weights->apply(chunk); !applied) {
    ++st.stats.refused_chunks;
    log_line(self, applied.error().message);
    st.resyncing = true;
    self->send(caf::actor_cast<weight_streamer_actor>(st.order->streamer), wsync_atom::value,
               caf::actor_cast<caf::actor>(self));
    return;
  }
  if (chunk.index + 1 != chunk.count) return;
  auto weights = st.model->weights->snapshot();  // one copy per version, shared by the generators
  ++st.stats.versions;
  st.stats.last_version = weights->version;
  self->send(caf::actor_cast<weight_streamer_actor>(st.order->streamer), wack_atom::value, weights->version);
  if (st.starting) {
    start_generators(self, weights);
    return;
  }
  for (auto& g : st.generators) self->send(g, actors::weights_atom::value, weights);
}

generator_host_actor::behavior_type host(self_ptr self, host_setup setup) {
  self->state.setup = std::move(setup);
  self->set_down_handler([self](caf::down_msg& down) {
    auto& st = self->state;
    if (st.order && down.source == st.order->streamer.address()) {
      // The stage is over (or the controller gone): its generators stop with it.
      log_line(self, "stage '" + st.order->stage + "' ended; stopping its generators");
      stop_generators(self);
      st.order.reset();
      if (st.starting) st.starting->deliver(actors::to_caf_error(errc::unavailable, "the stage ended before its weights came"));
      st.starting.reset();
      st.stats.generators = 0;
      return;
    }
    auto& gens = st.generators;
    gens.erase(std::remove_if(gens.begin(), gens.end(), [&](const auto& g) { return g.address() == down.source; }), gens.end());
    st.stats.generators = gens.size();
  });
  return {
      [self](start_atom, generator_order& order) -> caf::result<std::vector<caf::actor>> {
        auto& st = self->state;
        if (!order.streamer || !order.prompts || !order.grader || !order.gate) {
          return actors::to_caf_error(errc::invalid_argument, "a generator order needs the stage's streamer, prompts, grader and gate");
        }
        stop_generators(self);  // a new stage replaces the last one's
        if (st.starting) st.starting->deliver(actors::to_caf_error(errc::unavailable, "replaced by a newer order"));
        if (!st.model || st.model->config_json != order.model.config_json || st.model->block_bytes != order.block_bytes) {
          stream_options options;
          options.block_bytes = order.block_bytes;
          auto built = build(order.model, options);
          if (!built) return actors::to_caf_error(built.error());
          st.model = std::move(*built);
        }
        st.order = std::move(order);
        st.resyncing = false;
        self->monitor(st.order->streamer);
        self->send(caf::actor_cast<weight_streamer_actor>(st.order->streamer), wsync_atom::value,
                   caf::actor_cast<caf::actor>(self));
        st.starting = self->make_response_promise<std::vector<caf::actor>>();
        return *st.starting;
      },
      [self](wchunk_atom, const weight_chunk& chunk) { on_chunk(self, chunk); },
      [self](actors::stats_atom) { return self->state.stats; },
  };
}

}  // namespace

result<model_image> image_of(const model::transformer& policy, const model::tokenizer& tokenizer,
                             const std::string& model_path) {
  auto files = actors::tokenizer_files(tokenizer, model_path);
  if (!files) return files.error();
  model_image out;
  out.config_json = model::to_config_json(policy->config());
  for (auto& [name, text] : *files) {
    out.file_names.push_back(name);
    out.file_texts.push_back(std::move(text));
  }
  return out;
}

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<weight_chunk>("aha.weight_chunk");
  cfg.add_message_type<weight_link_stats>("aha.weight_link_stats");
  cfg.add_message_type<model_image>("aha.model_image");
  cfg.add_message_type<generator_order>("aha.generator_order");
  cfg.add_message_type<host_stats>("aha.host_stats");
  cfg.add_message_type<std::vector<std::uint32_t>>("aha.u32_list");
}

generator_host_actor spawn_generator_host(caf::actor_system& sys, host_setup setup) {
  return sys.spawn(host, std::move(setup));
}

}  // namespace aha::cluster
