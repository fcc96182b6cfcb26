#include "marrow/report/gil_report.hpp"
#include "marrow/report/html.hpp"

#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/json_util.hpp"
#include "marrow/gil/metrics.hpp"
#include "marrow/gil/options.hpp"
#include "marrow/report/svg.hpp"

namespace marrow::report {

namespace {

using gil::Matrix;
using gil::matrix_json;
using gil::number;
using gil::numbers_json;
using gil::Strategy;

// What the derivation reads of results.json besides the runs.
struct Shape {
  std::vector<int> introduced;        // per gene set: the stage that introduced it
  std::vector<int> task_stage;        // per probe task: its stage
  std::vector<std::string> stages;    // stage names
  std::vector<Strategy> strategies;   // settings order
};

Shape read_shape(const nlohmann::json& results, const std::string& source) {
  Shape shape;
  try {
    for (const auto& set : results.at("gene_sets")) shape.introduced.push_back(set.at("introduced").get<int>());
    for (const auto& t : results.at("tasks")) shape.task_stage.push_back(t.at("stage").get<int>());
    for (const auto& st : results.at("plan").at("stages")) shape.stages.push_back(st.at("name").get<std::string>());
    for (const auto& run : results.at("runs")) parse_enum<Strategy>(run.at("strategy").get<std::string>());
    for (const auto& name : results.at("settings").at("strategies")) shape.strategies.push_back(parse_enum<Strategy>(name.get<std::string>()));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not gil results ({})", source, e.what());
  } catch (const Error& e) {
    fail("{}: not gil results ({})", source, e.what());
  }
  return shape;
}

// One run's metrics (gil/metrics.hpp) from its MSE matrix and its seed's scratch reference.
void derive_run(nlohmann::json& run, Strategy strategy, const Shape& shape, const nlohmann::json& scratch_mse) {
  Matrix mse = gil::matrix_of(run["mse"]), probe_accuracy = gil::matrix_of(run["probe_accuracy"]);
  std::vector<double> scratch;
  std::string seed_key = std::to_string(run["seed"].get<uint64_t>());
  if (scratch_mse.contains(seed_key))
    for (const auto& v : scratch_mse[seed_key]) scratch.push_back(number(v));
  if (strategy == Strategy::Joint) {  // one row: the model after all stages at once
    run["final_mse"] = numbers_json(mse.back());
    double total = 0;
    for (double v : mse.back()) total += v;
    run["mean_final_mse"] = total / static_cast<double>(mse.back().size());
    return;
  }
  gil::ForgettingSummary f = gil::summarise(mse, shape.introduced, scratch);
  run["forgetting"] = numbers_json(f.forgetting);
  run["average_forgetting"] = f.average_forgetting;
  run["backward_transfer"] = f.backward_transfer;
  run["forward_transfer"] = numbers_json(f.forward_transfer);
  run["average_forward_transfer"] = std::isfinite(f.average_forward_transfer) ? nlohmann::json(f.average_forward_transfer) : nlohmann::json(nullptr);
  run["final_mse"] = numbers_json(f.final_mse);
  run["mean_final_mse"] = f.mean_final_mse;
  run["forgetting_by_stage"] = numbers_json(f.forgetting_by_stage);
  std::vector<double> change;
  for (size_t t = 0; t < shape.task_stage.size(); ++t) change.push_back(probe_accuracy.back()[t] - probe_accuracy[shape.task_stage[t]][t]);
  run["probe_change"] = numbers_json(change);
}

// Mean and 95% interval of values over seeds.
nlohmann::json ci_json(const std::vector<double>& values) {
  gil::MeanCi c = gil::mean_ci(values);
  return nlohmann::json{{"mean", std::isfinite(c.mean) ? nlohmann::json(c.mean) : nlohmann::json(nullptr)},
                        {"ci95", std::isfinite(c.half_width) ? nlohmann::json(c.half_width) : nlohmann::json(nullptr)},
                        {"n", c.n}};
}

// Per run: element `index` of the array `key` (NaN where a run lacks the key; no index: the value itself).
std::vector<double> over_seeds(const std::vector<nlohmann::json>& rs, const std::string& key, std::optional<size_t> index = std::nullopt) {
  std::vector<double> v;
  for (const auto& r : rs) v.push_back(!r.contains(key) ? NAN : index ? number(r[key][*index]) : number(r[key]));
  return v;
}

Matrix mean_matrix(const std::vector<nlohmann::json>& rs, const std::string& key) {
  Matrix m = Matrix(rs[0][key].size(), std::vector<double>(rs[0][key].empty() ? 0 : rs[0][key][0].size(), NAN));
  for (size_t i = 0; i < m.size(); ++i)
    for (size_t j = 0; j < m[i].size(); ++j) {
      std::vector<double> v;
      for (const auto& r : rs) v.push_back(number(r[key][i][j]));
      m[i][j] = gil::mean_ci(v).mean;
    }
  return m;
}

// Per index below n: ci_json of element i of `key` over the runs.
nlohmann::json cis_over_seeds(const std::vector<nlohmann::json>& rs, const std::string& key, size_t n) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < n; ++i) out.push_back(ci_json(over_seeds(rs, key, i)));
  return out;
}

// A strategy's means and intervals over its runs (one per seed).
nlohmann::json strategy_summary(const std::vector<nlohmann::json>& rs, Strategy strategy, const Shape& shape) {
  nlohmann::json sj = {{"mse", matrix_json(mean_matrix(rs, "mse"))},
                       {"probe_accuracy", matrix_json(mean_matrix(rs, "probe_accuracy"))},
                       {"mean_final_mse", ci_json(over_seeds(rs, "mean_final_mse"))},
                       {"seconds", gil::mean_ci(over_seeds(rs, "seconds")).mean}};
  for (const char* key : {"average_forgetting", "backward_transfer", "average_forward_transfer"}) sj[key] = ci_json(over_seeds(rs, key));
  sj["forgetting"] = cis_over_seeds(rs, "forgetting", shape.introduced.size());
  sj["final_mse"] = cis_over_seeds(rs, "final_mse", shape.introduced.size());
  sj["probe_change"] = cis_over_seeds(rs, "probe_change", shape.task_stage.size());
  std::vector<double> by_stage(shape.stages.size(), NAN);
  if (strategy != Strategy::Joint)
    for (size_t i = 0; i < by_stage.size(); ++i) by_stage[i] = gil::mean_ci(over_seeds(rs, "forgetting_by_stage", i)).mean;
  sj["forgetting_by_stage"] = numbers_json(by_stage);
  return sj;
}

}  // namespace

nlohmann::json gil_summary(nlohmann::json results, const std::string& source) {
  const Shape shape = read_shape(results, source);
  std::map<Strategy, std::vector<nlohmann::json>> by_strategy;
  for (auto& run : results["runs"]) {
    const Strategy strategy = parse_enum<Strategy>(run["strategy"].get<std::string>());
    derive_run(run, strategy, shape, results["scratch_mse"]);
    by_strategy[strategy].push_back(run);
  }
  std::vector<Strategy> strategies;
  for (Strategy s : shape.strategies)
    if (by_strategy.count(s)) strategies.push_back(s);
  nlohmann::json summary = nlohmann::json::object();
  for (Strategy s : strategies) summary[enum_name(s)] = strategy_summary(by_strategy[s], s, shape);
  const char* finetune = enum_name(Strategy::Finetune);
  if (summary.contains(finetune)) {
    double base = number(summary[finetune]["average_forgetting"]["mean"]);
    for (auto& [name, sj] : summary.items())
      if (name != enum_name(Strategy::Joint) && base > 0) sj["forgetting_reduction_vs_finetune"] = 1.0 - number(sj["average_forgetting"]["mean"]) / base;
  }
  results["summary"] = summary;
  results["runs"] = nlohmann::json::array();
  for (Strategy s : strategies)
    for (const auto& r : by_strategy[s]) results["runs"].push_back(r);
  return results;
}

namespace {

std::string fmt_number(double v, int digits = 3) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, digits) : "—"; }

std::string fmt_ci(const nlohmann::json& c, int digits) {
  gil::MeanCi ci{number(c["mean"]), number(c["ci95"]), c["n"].get<int>()};
  if (ci.n == 0) return "—";
  if (!std::isfinite(ci.half_width)) return fmt_number(ci.mean, digits);
  return fmt::format("{:.{}f} ± {:.{}f}", ci.mean, digits, ci.half_width, digits);
}

// The opening paragraph and the table of one row per strategy.
std::string summary_table(const nlohmann::json& results) {
  const auto& stages = results["plan"]["stages"];
  std::string md = fmt::format(
      "Plan `{}`: {} stages; masked-expression MSE on held-out cells (lower is better), {} seed(s). "
      "Forgetting of a gene set = its MSE after the last stage minus its MSE right after the stage that introduced it; "
      "averages are over every gene set introduced before the last stage (the base stage's set is the base genes); "
      "± is a 95% t interval over seeds.\n\n",
      results["plan"]["spec"].get<std::string>(), stages.size(), results["settings"]["seeds"].get<int>());
  md += "| method | average forgetting | reduction vs finetune | backward transfer | forward transfer | mean final MSE | seconds per run |\n";
  md += "|---|---|---|---|---|---|---|\n";
  for (const auto& name_json : results["settings"]["strategies"]) {
    const std::string name = name_json.get<std::string>();
    const bool joint = parse_enum<Strategy>(name) == Strategy::Joint;
    const auto& s = results["summary"][name];
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {:.0f} |\n", name, joint ? "—" : fmt_ci(s["average_forgetting"], 4),
                      s.contains("forgetting_reduction_vs_finetune") ? fmt::format("{:.0f}%", 100 * number(s["forgetting_reduction_vs_finetune"]))
                                                                      : "—",
                      joint ? "—" : fmt_ci(s["backward_transfer"], 4), fmt_ci(s["average_forward_transfer"], 4), fmt_ci(s["mean_final_mse"], 4),
                      number(s["seconds"]));
  }
  return md;
}

// A table of one summary matrix (stage x column) per strategy, with a closing row per strategy
// (closing_cell(strategy summary, column)); joint has one stage and no closing row.
std::string stage_table(const nlohmann::json& results, const std::string& title, const nlohmann::json& columns, const char* key, int digits,
                        const std::string& closing, const std::function<std::string(const nlohmann::json&, size_t)>& closing_cell) {
  const auto& stages = results["plan"]["stages"];
  std::string md = "\n## " + title + "\n\n| method | after stage |";
  for (const auto& c : columns) md += fmt::format(" {} |", c["name"].get<std::string>());
  md += "\n|---|---|";
  for (size_t j = 0; j < columns.size(); ++j) md += "---|";
  md += "\n";
  for (const auto& name_json : results["settings"]["strategies"]) {
    const std::string name = name_json.get<std::string>();
    const auto& s = results["summary"][name];
    for (size_t i = 0; i < stages.size(); ++i) {
      bool any = false;
      std::string row = fmt::format("| {} | {} |", name, stages[i]["name"].get<std::string>());
      for (size_t j = 0; j < columns.size(); ++j) {
        double v = number(s[key][i][j]);
        any |= std::isfinite(v);
        row += fmt::format(" {} |", fmt_number(v, digits));
      }
      if (any) md += row + "\n";
    }
    if (parse_enum<Strategy>(name) == Strategy::Joint) continue;
    md += fmt::format("| {} | {} |", name, closing);
    for (size_t j = 0; j < columns.size(); ++j) md += fmt::format(" {} |", closing_cell(s, j));
    md += "\n";
  }
  return md;
}

// Average forgetting after each stage, one line per strategy but joint.
std::string forgetting_figure(const nlohmann::json& results) {
  std::vector<report::Series> series;
  const size_t n_stages = results["plan"]["stages"].size();
  for (const auto& name_json : results["settings"]["strategies"]) {
    const std::string name = name_json.get<std::string>();
    if (!results["summary"].contains(name) || parse_enum<Strategy>(name) == Strategy::Joint) continue;
    report::Series line{name, {}, {}};
    for (size_t i = 0; i < n_stages; ++i) line.x.push_back(static_cast<double>(i)), line.y.push_back(number(results["summary"][name]["forgetting_by_stage"][i]));
    series.push_back(line);
  }
  return report::line_chart_svg("Forgetting across stages", "after stage", "MSE increase on earlier gene sets", series);
}

}  // namespace

std::string gil_results_markdown(const nlohmann::json& results) {
  std::string md = "# Gene-incremental learning results\n\n" + summary_table(results);
  md += stage_table(results, "MSE on each gene set after each stage (mean over seeds)", results["gene_sets"], "mse", 4, "forgetting",
                    [](const nlohmann::json& s, size_t j) { return fmt_ci(s["forgetting"][j], 4); });
  if (!results["tasks"].empty())
    md += stage_table(results, "Linear probe accuracy on frozen cell embeddings (held-out cells, mean over seeds)", results["tasks"], "probe_accuracy", 3,
                      "change since its stage", [](const nlohmann::json& s, size_t t) { return fmt_number(number(s["probe_change"][t]["mean"])); });
  md += "\n![Forgetting across stages](forgetting.svg)\n";
  return md;
}

void write_gil_report(const nlohmann::json& results, const std::string& dir) {
  write_json_file(dir + "/results.json", results);
  write_file_atomic(dir + "/forgetting.svg", forgetting_figure(results));
  write_file_atomic(dir + "/results.md", gil_results_markdown(results));
  write_html_report(dir + "/results.md", "marrow gil run");
}

}  // namespace marrow::report
