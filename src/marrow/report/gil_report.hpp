#pragma once
// The report of a gene-incremental run (`marrow gil run`, `marrow gil report`): from the raw MSE and
// probe matrices of results.json it derives every metric of gil/metrics.hpp per run (forgetting,
// backward and forward transfer, probe changes), their means and 95% intervals over seeds per
// strategy, the results.md tables and the forgetting-across-stages figure. Torch-free.
#include <nlohmann/json.hpp>
#include <string>

namespace marrow::report {

// Adds the derived metrics to each run and a "summary" per strategy (in the order of
// settings.strategies; runs of other strategies are dropped). `source` names the results in the
// one-line error raised when they are not gil results.
nlohmann::json gil_summary(nlohmann::json results, const std::string& source);

// The tables of a summarised results.json, in the paper's form.
std::string gil_results_markdown(const nlohmann::json& results);

// Writes DIR/results.json, DIR/results.md and DIR/forgetting.svg of summarised results.
void write_gil_report(const nlohmann::json& results, const std::string& dir);

}  // namespace marrow::report
