// report.html: inline SVG plots and the eval table (report/html_report.hpp).
#include "report/html_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

namespace aha::report {
namespace fs = std::filesystem;
namespace {

constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string number(double value, const char* format = "%.4g") {
  char text[40];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

// A curve of one metrics.jsonl key over the lines that have it.
series key_series(const metrics_log& log, const step_axis& axis, const std::string& key, const std::string& stage = "") {
  series s{key, {}};
  for (const auto& line : log.lines) {
    auto found = line.values.find(key);
    if (found == line.values.end() || (!stage.empty() && line.stage != stage)) continue;
    s.points.emplace_back(axis.x_of(line), found->second);
  }
  return s;
}

// Mean weight-version lag of a GRPO batch, from its "staleness/<lag>" shares.
series staleness_series(const metrics_log& log, const step_axis& axis) {
  series s{"mean staleness (staleness/*)", {}};
  for (const auto& line : log.lines) {
    double mean = 0;
    bool any = false;
    for (const auto& [key, share] : line.values) {
      if (key.rfind("staleness/", 0) != 0) continue;
      mean += std::atof(key.c_str() + 10) * share;
      any = true;
    }
    if (any) s.points.emplace_back(axis.x_of(line), mean);
  }
  return s;
}

// Rollouts per second of wall time: a step's "rollouts" over the time since the step before it
// in the same stage (a stage's first step has no interval: it would include an eval).
series throughput_series(const metrics_log& log, const step_axis& axis) {
  series s{"rollouts/s (rollouts / elapsed between steps)", {}};
  const metrics_line* previous = nullptr;
  for (const auto& line : log.lines) {
    auto rollouts = line.values.find("rollouts");
    if (rollouts == line.values.end()) continue;
    if (previous && previous->stage == line.stage && line.elapsed > previous->elapsed) {
      s.points.emplace_back(axis.x_of(line), rollouts->second / (line.elapsed - previous->elapsed));
    }
    previous = &line;
  }
  return s;
}

// Held-out evals of report.json at the steps they were taken: before training, at the end of SFT,
// at the end of GRPO.
std::vector<series> eval_series(const step_axis& axis, const nlohmann::json& report) {
  series pass{"held-out pass@1 (report.json)", {}}, majority{"held-out maj@k (report.json)", {}};
  if (!report.is_object() || !report.contains("eval") || !report["eval"].is_object()) return {pass, majority};
  auto stage_end = [&axis](const std::string& stage) -> std::optional<double> {
    for (std::size_t i = 0; i < axis.stages.size(); ++i) {
      if (axis.stages[i] == stage) return axis.ends[i];
    }
    return std::nullopt;
  };
  const std::pair<const char*, std::optional<double>> evals[] = {
      {"initial", 0.0}, {"after_sft", stage_end("sft")}, {"after_grpo", stage_end("grpo")}};
  for (const auto& [name, x] : evals) {
    const auto& e = report["eval"].value(name, nlohmann::json{});
    if (!x || !e.is_object()) continue;
    if (e.value("pass_at_1", nlohmann::json{}).is_number()) pass.points.emplace_back(*x, e["pass_at_1"].get<double>());
    if (e.value("maj_at_k", nlohmann::json{}).is_number()) majority.points.emplace_back(*x, e["maj_at_k"].get<double>());
  }
  return {pass, majority};
}

// Tick marks at 1, 2 or 5 times a power of ten.
std::vector<double> ticks(double low, double high) {
  double raw = (high - low) / 4;
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power * (raw / power < 1.5 ? 1 : raw / power < 3.5 ? 2 : raw / power < 7.5 ? 5 : 10);
  std::vector<double> out;
  for (double t = std::ceil(low / step) * step; t <= high + step * 1e-9; t += step) out.push_back(std::fabs(t) < step * 1e-9 ? 0 : t);
  return out;
}

std::pair<double, double> y_range(const plot& p) {
  if (p.y_fixed) return *p.y_fixed;
  double low = INFINITY, high = -INFINITY;
  for (const auto& s : p.lines) {
    for (const auto& [x, y] : s.points) low = std::min(low, y), high = std::max(high, y);
  }
  if (!(low <= high)) return {0, 1};
  if (high - low < 1e-12) {
    double pad = std::max(std::fabs(high) * 0.1, 0.5);
    return {low - pad, high + pad};
  }
  double pad = (high - low) * 0.06;
  return {low - pad, high + pad};
}

}  // namespace

double step_axis::x_of(const metrics_line& line) const {
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (stages[i] == line.stage) return starts[i] + static_cast<double>(line.step - first_step.at(line.stage)) + 1;
  }
  return 0;
}

step_axis make_axis(const metrics_log& log) {
  step_axis axis;
  axis.stages = log.stages;
  std::map<std::string, std::uint64_t> last;
  for (const auto& line : log.lines) {
    auto first = axis.first_step.find(line.stage);
    if (first == axis.first_step.end() || line.step < first->second) axis.first_step[line.stage] = line.step;
    last[line.stage] = std::max(last[line.stage], line.step);
  }
  double start = 0;
  for (const auto& stage : axis.stages) {
    axis.starts.push_back(start);
    start += static_cast<double>(last[stage] - axis.first_step[stage]) + 1;
    axis.ends.push_back(start);
  }
  return axis;
}

std::vector<plot> report_plots(const metrics_log& log, const step_axis& axis, const nlohmann::json& report) {
  auto evals = eval_series(axis, report);
  std::vector<plot> plots;
  plots.push_back({"reward", "Reward", "mean reward of each GRPO batch (reward_mean)", {key_series(log, axis, "reward_mean")}});
  plots.push_back({"accuracy", "Held-out accuracy", "eval after each stage (report.json); training-batch accuracy for comparison",
                   {evals[0], evals[1], key_series(log, axis, "accuracy")}, std::pair{-0.02, 1.02}});
  plots.push_back({"response_length", "Response length", "mean completion tokens per rollout (response_length)",
                   {key_series(log, axis, "response_length")}});
  plots.push_back({"entropy", "Entropy", "policy entropy over completion tokens (grpo/entropy; needs grpo.entropy = true)",
                   {key_series(log, axis, "grpo/entropy")}});
  plots.push_back({"kl", "KL", "KL to the reference policy (grpo/kl)", {key_series(log, axis, "grpo/kl")}});
  plots.push_back({"staleness", "Staleness", "weight versions between sampling and training, mean over the batch",
                   {staleness_series(log, axis)}});
  plots.push_back({"throughput", "Throughput", "rollouts consumed per second of wall time", {throughput_series(log, axis)}});
  plots.push_back({"loss", "Loss", "training loss of each stage", {key_series(log, axis, "sft/loss"), key_series(log, axis, "grpo/loss")}});
  return plots;
}

std::string svg_plot(const plot& p, const step_axis& axis, int width, int height) {
  const double left = 64, right = 12, top = 30, bottom = 34;
  const double w = width - left - right, h = height - top - bottom;
  const double x_end = std::max(1.0, axis.end());
  auto [y_low, y_high] = y_range(p);
  auto px = [&](double x) { return left + x / x_end * w; };
  auto py = [&](double y) { return top + (1 - (y - y_low) / (y_high - y_low)) * h; };
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" data-plot=\"" << p.id << "\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height << "\">\n";
  svg << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << w << "\" height=\"" << h
      << "\" fill=\"#fff\" stroke=\"#999\"/>\n";
  for (double t : ticks(y_low, y_high)) {
    svg << "<line x1=\"" << left << "\" x2=\"" << left + w << "\" y1=\"" << py(t) << "\" y2=\"" << py(t)
        << "\" stroke=\"#eee\"/><text x=\"" << left - 4 << "\" y=\"" << py(t) + 4 << "\" text-anchor=\"end\">" << number(t)
        << "</text>\n";
  }
  for (double t : ticks(0, x_end)) {
    svg << "<text x=\"" << px(t) << "\" y=\"" << top + h + 16 << "\" text-anchor=\"middle\">" << number(t, "%.0f") << "</text>\n";
  }
  svg << "<text x=\"" << left + w / 2 << "\" y=\"" << height - 4 << "\" text-anchor=\"middle\" fill=\"#555\">step</text>\n";
  for (std::size_t i = 0; i < axis.stages.size(); ++i) {  // each stage named; a dashed line where it begins
    double x = px(axis.starts[i]);
    if (i > 0) {
      svg << "<line class=\"boundary\" x1=\"" << x << "\" x2=\"" << x << "\" y1=\"" << top << "\" y2=\"" << top + h
          << "\" stroke=\"#555\" stroke-dasharray=\"5,4\"/>\n";
    }
    svg << "<text x=\"" << x + 4 << "\" y=\"" << top + 14 << "\" fill=\"#555\">" << escape(axis.stages[i]) << "</text>\n";
  }
  bool any = false;
  for (std::size_t i = 0; i < p.lines.size(); ++i) {
    const auto& s = p.lines[i];
    const char* color = kColors[i % (sizeof kColors / sizeof *kColors)];
    svg << "<g data-series=\"" << escape(s.name) << "\" data-points=\"" << s.points.size() << "\">";
    if (s.points.size() > 1) {
      svg << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"";
      for (const auto& [x, y] : s.points) svg << number(px(x), "%.1f") << "," << number(py(y), "%.1f") << " ";
      svg << "\"/>";
    }
    if (s.points.size() <= 40) {  // few points: each one visible
      for (const auto& [x, y] : s.points) {
        svg << "<circle cx=\"" << number(px(x), "%.1f") << "\" cy=\"" << number(py(y), "%.1f") << "\" r=\"3.5\" fill=\"" << color << "\"/>";
      }
    }
    svg << "</g>\n";
    if (!s.points.empty()) any = true;
  }
  double legend_x = left;
  for (std::size_t i = 0; i < p.lines.size(); ++i) {
    const char* color = kColors[i % (sizeof kColors / sizeof *kColors)];
    svg << "<rect x=\"" << legend_x << "\" y=\"" << 10 << "\" width=\"10\" height=\"10\" fill=\"" << color << "\"/><text x=\""
        << legend_x + 14 << "\" y=\"19\">" << escape(p.lines[i].name) << (p.lines[i].points.empty() ? " (no data)" : "")
        << "</text>\n";
    legend_x += 24 + 6.2 * static_cast<double>(p.lines[i].name.size() + (p.lines[i].points.empty() ? 10 : 0));
  }
  if (!any) {
    svg << "<text x=\"" << left + w / 2 << "\" y=\"" << top + h / 2 << "\" text-anchor=\"middle\" fill=\"#999\">no data in this run</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

namespace {

// One row of the eval table: a task's (or all prompts') scores of one eval.
void eval_row(std::ostringstream& out, const std::string& eval, const std::string& task, const nlohmann::json& s,
              const std::vector<std::string>& ks, const nlohmann::json& format_rate) {
  auto cell = [&out](const nlohmann::json& v) {
    out << "<td>" << (v.is_number() ? number(v.get<double>(), "%.3f") : std::string("")) << "</td>";
  };
  out << "<tr><td>" << escape(eval) << "</td><td>" << escape(task) << "</td><td>"
      << (s.value("prompts", nlohmann::json{}).is_number() ? std::to_string(s["prompts"].get<std::uint64_t>()) : "") << "</td>";
  cell(s.value("pass_at_1", nlohmann::json{}));
  const auto pass_at_k = s.value("pass_at_k", nlohmann::json::object());
  for (const auto& k : ks) cell(pass_at_k.value(k, nlohmann::json{}));
  cell(s.value("maj_at_k", nlohmann::json{}));
  cell(format_rate);
  out << "</tr>\n";
}

// report.json's evals as one table: a row per eval and task, and one for all prompts.
std::string eval_table_html(const nlohmann::json& report) {
  if (!report.is_object() || !report.contains("eval") || !report["eval"].is_object()) return "<p>No report.json yet: the run has not finished its evals.</p>\n";
  std::vector<std::string> ks;  // the pass@k' columns beyond pass@1
  std::string samples = "k";
  for (const auto& [name, e] : report["eval"].items()) {
    if (!e.is_object()) continue;
    if (e.contains("samples")) samples = std::to_string(e["samples"].get<std::uint64_t>());
    const auto pass_at_k = e.value("pass_at_k", nlohmann::json::object());  // named: items() must not outlive it
    for (const auto& [k, v] : pass_at_k.items()) {
      if (k != "1" && std::find(ks.begin(), ks.end(), k) == ks.end()) ks.push_back(k);
    }
  }
  std::sort(ks.begin(), ks.end(), [](const std::string& a, const std::string& b) { return std::stoul(a) < std::stoul(b); });
  std::ostringstream out;
  out << "<table class=\"eval\"><tr><th>eval</th><th>task</th><th>prompts</th><th>pass@1</th>";
  for (const auto& k : ks) out << "<th>pass@" << k << "</th>";
  out << "<th>maj@" << samples << "</th><th>format rate</th></tr>\n";
  for (const char* name : {"initial", "after_sft", "after_grpo"}) {
    const auto e = report["eval"].value(name, nlohmann::json{});
    if (!e.is_object()) continue;
    const auto by_task = e.value("by_task", nlohmann::json::object());
    const auto pass_at_1_by_task = e.value("pass_at_1_by_task", nlohmann::json::object());
    for (const auto& [task, s] : by_task.items()) eval_row(out, name, task, s, ks, {});
    if (!e.contains("by_task")) {  // a report.json from before per-task scores: pass@1 only
      for (const auto& [task, v] : pass_at_1_by_task.items()) {
        eval_row(out, name, task, {{"pass_at_1", v}}, ks, {});
      }
    }
    eval_row(out, name, "all", e, ks, e.value("format_rate", nlohmann::json{}));
  }
  out << "</table>\n";
  return out.str();
}

// A few of report.json's run-wide figures.
std::string facts_html(const nlohmann::json& report) {
  if (!report.is_object()) return "";
  std::ostringstream out;
  out << "<table class=\"facts\">";
  for (const char* key : {"sft_steps", "steps", "wall_seconds", "sft_seconds", "grpo_seconds", "rollouts_per_second",
                          "learner_idle_fraction", "dropped_stale", "resumed_from_step"}) {
    const auto v = report.value(key, nlohmann::json{});
    if (v.is_number()) out << "<tr><th>" << key << "</th><td>" << number(v.get<double>(), "%.6g") << "</td></tr>";
  }
  out << "</table>\n";
  return out.str();
}

}  // namespace

std::string html_page(const std::string& title, const metrics_log& log, const nlohmann::json& report) {
  const auto axis = make_axis(log);
  std::ostringstream page;
  page << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << escape(title) << "</title>\n<style>\n"
       << "body{font:14px sans-serif;margin:20px;color:#222} svg{font:11px sans-serif}\n"
       << ".plots{display:flex;flex-wrap:wrap;gap:12px} .plot{border:1px solid #ddd;padding:6px}\n"
       << ".plot h3{margin:2px 0;font-size:15px} .plot p{margin:2px 0 4px;color:#666;font-size:12px}\n"
       << "table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\n"
       << "</style></head><body>\n<h1>" << escape(title) << "</h1>\n";
  page << "<p>From metrics.jsonl (" << log.lines.size() << " lines; stages:";
  for (std::size_t i = 0; i < axis.stages.size(); ++i) {
    page << " " << escape(axis.stages[i]) << " x " << number(axis.ends[i] - axis.starts[i], "%.0f") << " steps";
  }
  page << ") and report.json. The x axis counts every stage's steps one after the other; dashed lines mark where a stage begins.</p>\n";
  for (const auto& note : log.notes) page << "<p>note: " << escape(note) << "</p>\n";
  page << "<h2>Held-out evaluation</h2>\n" << eval_table_html(report) << facts_html(report);
  page << "<h2>Over steps</h2>\n<div class=\"plots\">\n";
  for (const auto& p : report_plots(log, axis, report)) {
    page << "<div class=\"plot\"><h3>" << escape(p.title) << "</h3><p>" << escape(p.what) << "</p>\n" << svg_plot(p, axis) << "</div>\n";
  }
  page << "</div>\n</body></html>\n";
  return page.str();
}

result<html_summary> write_html_report(const std::string& run_dir) {
  const fs::path dir(run_dir);
  auto log = read_metrics((dir / "metrics.jsonl").string());
  if (!log) return log.error();
  html_summary summary;
  summary.notes = log->notes;
  auto report = read_json_file((dir / "report.json").string());
  nlohmann::json report_json;  // null when the run has not written it (still running, or stopped)
  if (report) {
    report_json = *report;
  } else if (report.error().code == errc::not_found) {
    summary.notes.push_back("no report.json in " + run_dir + ": eval table and held-out accuracy left empty");
  } else {
    return report.error();
  }
  summary.path = (dir / "report.html").string();
  const std::string partial = summary.path + ".tmp";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    const auto name = dir.filename().empty() ? dir.parent_path().filename() : dir.filename();  // "runs/x/" too
    try {
      out << html_page("aha run " + name.string(), *log, report_json);
    } catch (const nlohmann::json::exception& e) {  // a report.json of another shape (edited, or another program's)
      return make_error(errc::corrupt_data, (dir / "report.json").string() + ": unexpected content: " + e.what());
    }
    if (!out.flush()) return make_error(errc::io_error, "cannot write " + partial);
  }
  std::error_code ec;
  fs::rename(partial, summary.path, ec);
  if (ec) return make_error(errc::io_error, "cannot rename " + partial + " to report.html: " + ec.message());
  return summary;
}

}  // namespace aha::report
