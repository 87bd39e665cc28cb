// metrics actor: JSONL lines and the progress display.
#include "actors/metrics.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "report/run_files.hpp"
#include "report/tensorboard.hpp"

namespace aha::actors {
namespace {

using clock_type = std::chrono::steady_clock;

struct metrics_state {
  metrics_config config;
  std::shared_ptr<std::ofstream> out;
  metric_map gauges;
  clock_type::time_point started = clock_type::now();
  clock_type::time_point last_print{};
  bool tty = false;
  bool line_open = false;  // a progress line without newline is on the terminal
  std::uint64_t lines = 0;  // JSONL lines written (progress, for the watchdog)
  std::shared_ptr<report::stage_writers> tensorboard;  // the live event files; null when off or failed
  static inline const char* name = "metrics";
};

using self_ptr = metrics_actor::stateful_pointer<metrics_state>;

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool has_suffix(const std::string& name, const std::string& suffix) {
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void show_progress(metrics_state& st, std::uint64_t step, const metric_map& values) {
  if (!st.config.progress) return;
  auto now = clock_type::now();
  double elapsed = std::chrono::duration<double>(now - st.started).count();
  auto line = progress_line(step, values, st.config.progress_keys, elapsed);
  if (st.tty) {
    std::fprintf(stderr, "\r\033[K%s", line.c_str());  // rewrite in place
    st.line_open = true;
  } else if (now - st.last_print >= st.config.log_interval) {
    std::fprintf(stderr, "%s\n", line.c_str());
    st.last_print = now;
  }
  std::fflush(stderr);
}

}  // namespace

std::string progress_line(std::uint64_t step, const metric_map& values, const std::vector<std::string>& keys,
                          double elapsed_seconds) {
  std::ostringstream line;
  line << "step " << step;
  auto show = [&](const std::string& name, double value) {
    auto slash = name.rfind('/');
    line << "  " << (slash == std::string::npos ? name : name.substr(slash + 1)) << " ";
    char text[32];
    std::snprintf(text, sizeof text, std::fabs(value) >= 1000 ? "%.0f" : "%.4f", value);
    line << text;
  };
  std::size_t shown = 0;
  for (const auto& [name, value] : values) {
    bool wanted = keys.empty() ? shown < 5 : false;
    for (const auto& key : keys) wanted = wanted || has_suffix(name, key);
    if (!wanted) continue;
    show(name, value);
    ++shown;
  }
  line << "  (" << static_cast<long long>(elapsed_seconds) << "s)";
  return line.str();
}

result<metrics_actor> spawn_metrics(caf::actor_system& sys, const metrics_config& config, const std::string& jsonl_path,
                                    threading mode) {
  std::error_code ec;
  auto folder = std::filesystem::path(jsonl_path).parent_path();
  if (!folder.empty()) std::filesystem::create_directories(folder, ec);
  auto out = std::make_shared<std::ofstream>(jsonl_path, std::ios::app);
  if (!*out) return make_error(errc::io_error, "metrics: cannot open " + jsonl_path + " for appending");
  auto behavior = [config, out, folder](self_ptr self) -> metrics_actor::behavior_type {
    auto& st = self->state;
    st.config = config;
    st.out = out;
    st.tty = ::isatty(STDERR_FILENO) == 1;
    if (config.tensorboard) st.tensorboard = std::make_shared<report::stage_writers>((folder / "tb").string());
    self->attach_functor([tty = st.tty, progress = config.progress] {
      if (tty && progress) std::fprintf(stderr, "\n");  // leave the last progress line visible
    });
    return {
        [self](record_atom, std::uint64_t step, const metric_map& values) {
          auto& st = self->state;
          nlohmann::json line = {{"step", step}, {"time", unix_seconds()},
                                 {"elapsed", std::chrono::duration<double>(clock_type::now() - st.started).count()}};
          for (const auto& [name, value] : st.gauges) line[name] = value;
          for (const auto& [name, value] : values) line[name] = value;  // NaN and inf become null
          *st.out << line.dump() << "\n";
          ++st.lines;
          st.out->flush();  // readable live (tail -f) and after a crash
          if (st.tensorboard) {
            if (auto written = st.tensorboard->write(report::to_metrics_line(line)); !written) {
              // A view, not the record: metrics.jsonl stands, and `aha report` can redo tb/ from it.
              std::fprintf(stderr, "metrics: TensorBoard files stopped: %s\n", written.error().message.c_str());
              st.tensorboard.reset();
            }
          }
          show_progress(st, step, values);
        },
        [self](gauge_atom, const metric_map& values) {
          for (const auto& [name, value] : values) self->state.gauges[name] = value;
        },
        [self](caf::flush_atom) {
          self->state.out->flush();
          return caf::ok_atom::value;
        },
        [self](progress_atom) -> progress_list { return {{"metrics", "lines", 0, self->state.lines, ""}}; },
    };
  };
  if (mode == threading::detached) return metrics_actor{sys.spawn<caf::detached>(behavior)};
  return metrics_actor{sys.spawn(behavior)};
}

}  // namespace aha::actors
