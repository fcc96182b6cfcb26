#include "marrow/report/cv_report.hpp"
#include "marrow/report/html.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "marrow/core/atomic_file.hpp"
#include "marrow/report/svg.hpp"

namespace marrow::report {

namespace {

struct MetricColumn {
  const char* key;
  const char* title;
};
const std::vector<MetricColumn> kTableMetrics = {
    {"auroc", "AUROC"}, {"average_precision", "average precision"}, {"balanced_accuracy", "balanced accuracy"}, {"macro_f1", "macro F1"}};
const std::vector<MetricColumn> kStripMetrics = {{"auroc", "AUROC"}, {"balanced_accuracy", "balanced accuracy"}};

std::string file_stem(const std::string& task) {
  std::string stem = task;
  std::replace(stem.begin(), stem.end(), '/', '_');
  return stem;
}

// Models in the folds' metrics, name order (the baselines pca and hvg_lr among them).
std::vector<std::string> models_of(const nlohmann::json& results) {
  std::vector<std::string> models;
  for (const auto& [model, _] : results["summary"].items()) models.push_back(model);
  return models;
}

std::string mean_sd(const nlohmann::json& summary, const std::string& model, const std::string& task, const std::string& metric) {
  if (!summary.contains(model) || !summary[model].contains(task) || !summary[model][task].contains(metric)) return "-";
  const nlohmann::json& s = summary[model][task][metric];
  if (s["sd"].is_null()) return fmt::format("{:.3f}", s["mean"].get<double>());
  return fmt::format("{:.3f} ± {:.3f}", s["mean"].get<double>(), s["sd"].get<double>());
}

std::string task_table(const nlohmann::json& results, const CvTask& task) {
  std::vector<std::string> columns = {"model"};
  for (const auto& m : kTableMetrics) columns.push_back(m.title);
  if (!task.positive.empty()) {
    columns.push_back("F1 " + task.positive);
    columns.push_back("called " + task.positive);
  }
  std::string out = fmt::format("| {} |\n|", fmt::join(columns, " | "));
  for (size_t i = 0; i < columns.size(); ++i) out += "---|";
  out += "\n";
  const nlohmann::json& summary = results["summary"];
  for (const auto& model : models_of(results)) {
    if (!summary[model].contains(task.name)) continue;  // a head this task does not train
    out += "| " + model + " |";
    for (const auto& m : kTableMetrics) out += " " + mean_sd(summary, model, task.name, m.key) + " |";
    if (!task.positive.empty())
      out += " " + mean_sd(summary, model, task.name, "f1") + " | " + mean_sd(summary, model, task.name, "call_rate") + " |";
    out += "\n";
  }
  return out;
}

// Per-fold values of one metric, a column per model.
void write_strip_chart(const nlohmann::json& results, const std::string& task, const MetricColumn& metric, const std::string& path) {
  const std::vector<std::string> models = models_of(results);
  std::vector<std::vector<double>> values(models.size());
  for (const auto& fold : results["folds"])
    for (size_t i = 0; i < models.size(); ++i) {
      const nlohmann::json& m = fold["metrics"];
      const bool has = m.contains(models[i]) && m[models[i]].contains(task) && m[models[i]][task].contains(metric.key) &&
                       m[models[i]][task][metric.key].is_number();
      values[i].push_back(has ? m[models[i]][task][metric.key].get<double>() : NAN);
    }
  write_file_atomic(path, strip_chart_svg(fmt::format("{}: {} per fold (bar: mean)", task, metric.title), metric.title, models, values));
}

// The ROC curve of each model, its true-positive rate averaged over the folds; false when no fold has one.
bool write_roc_chart(const nlohmann::json& results, const std::string& task, const std::string& path) {
  std::vector<Series> series;
  for (const auto& model : models_of(results)) {
    std::vector<double> sum;
    int n = 0;
    for (const auto& fold : results["folds"]) {
      if (!fold.contains("roc") || !fold["roc"].contains(model) || !fold["roc"][model].contains(task)) continue;
      const auto tpr = fold["roc"][model][task].get<std::vector<double>>();
      if (tpr.empty()) continue;
      if (sum.empty()) sum.assign(tpr.size(), 0.0);
      for (size_t g = 0; g < tpr.size() && g < sum.size(); ++g) sum[g] += tpr[g];
      ++n;
    }
    if (n == 0) continue;
    Series s{model, {}, {}};
    for (size_t g = 0; g < sum.size(); ++g) {
      s.x.push_back(static_cast<double>(g) / static_cast<double>(sum.size() - 1));
      s.y.push_back(sum[g] / n);
    }
    series.push_back(std::move(s));
  }
  if (series.empty()) return false;
  write_file_atomic(path, line_chart_svg(task + ": ROC, true-positive rate averaged over folds", "false-positive rate",
                                         "true-positive rate", series));
  return true;
}

std::string task_section(const nlohmann::json& results, const CvTask& task, const std::filesystem::path& dir) {
  std::string out = fmt::format("## {}\n\n{}\n", task.name, task_table(results, task));
  const std::string stem = file_stem(task.name);
  for (const auto& metric : kStripMetrics) {
    const std::string name = fmt::format("figures/{}_{}.svg", stem, metric.key);
    write_strip_chart(results, task.name, metric, (dir / name).string());
    out += fmt::format("![{} {} per fold]({}) ", task.name, metric.title, name);
  }
  const std::string roc = fmt::format("figures/{}_roc.svg", stem);
  if (write_roc_chart(results, task.name, (dir / roc).string())) out += fmt::format("![{} ROC curves]({})", task.name, roc);
  return out + "\n\n";
}

std::string difference_cell(const nlohmann::json& c) {
  auto number = [](const nlohmann::json& x) { return x.is_null() ? std::string("-") : fmt::format("{:+.3f}", x.get<double>()); };
  return fmt::format("{} [{}, {}] {}/{}", number(c["mean_difference"]), number(c["ci95"][0]), number(c["ci95"][1]),
                     c["wins"].get<int64_t>(), c["n"].get<int64_t>());
}

std::string comparisons_section(const nlohmann::json& results, const std::vector<CvTask>& tasks) {
  std::string out =
      "## Paired differences against the baselines\n\n"
      "Model minus baseline on the same test patients, mean over folds x seeds, [95% interval] "
      "(t with the Nadeau-Bengio correction for overlapping training sets), then folds won / folds.\n\n"
      "| task | model | baseline |";
  for (const auto& m : kTableMetrics) out += fmt::format(" {} |", m.title);
  out += "\n|---|---|---|";
  for (size_t i = 0; i < kTableMetrics.size(); ++i) out += "---|";
  out += "\n";
  const nlohmann::json& comparisons = results["comparisons"];
  for (const auto& task : tasks)
    for (const auto& model : models_of(results))
      for (const auto& baseline : results["protocol"]["baselines"]) {
        std::string row = fmt::format("| {} | {} | {} |", task.name, model, baseline.get<std::string>());
        bool any = false;
        for (const auto& metric : kTableMetrics) {
          auto it = std::find_if(comparisons.begin(), comparisons.end(), [&](const nlohmann::json& c) {
            return c["task"] == task.name && c["model"] == model && c["baseline"] == baseline && c["metric"] == metric.key;
          });
          row += " " + (it == comparisons.end() ? std::string("-") : difference_cell(*it)) + " |";
          any = any || it != comparisons.end();
        }
        if (any) out += row + "\n";
      }
  return out + "\n";
}

std::string folds_section(const nlohmann::json& results) {
  std::string out = "## Folds\n\n| seed | fold | test groups | validation groups |\n|---|---|---|---|\n";
  for (const auto& f : results["folds"])
    out += fmt::format("| {} | {} | {} | {} |\n", f["seed"].get<uint64_t>(), f["fold"].get<int64_t>(),
                       fmt::join(f["test_groups"].get<std::vector<std::string>>(), ", "),
                       fmt::join(f["validation_groups"].get<std::vector<std::string>>(), ", "));
  return out;
}

}  // namespace

std::string write_cv_report(const nlohmann::json& results, const std::vector<CvTask>& tasks, const std::string& dir) {
  const nlohmann::json& p = results["protocol"];
  std::filesystem::create_directories(std::filesystem::path(dir) / "figures");
  std::string md = fmt::format(
      "# marrow cv\n\nData: `{}`. {} folds of whole `{}` groups{}, seeds {}: each group is tested once per seed, and every "
      "fitted step (preprocessing, pretraining, classifier, decision threshold) is refitted on the fold's training groups, with "
      "validation groups drawn from them for early stopping and thresholds. Figures: mean ± standard deviation over the {} "
      "folds x seeds. Baselines: `pca` ({} scaled highly variable genes, {} principal components, linear head) and "
      "`hvg_lr` (the same genes, linear head), fitted on each fold's training cells.\n\n",
      results["data"].get<std::string>(), p["folds"].get<int64_t>(), p["group"].get<std::string>(),
      p["stratify"].get<std::string>().empty() ? "" : fmt::format(" (dealt within each `{}`)", p["stratify"].get<std::string>()),
      fmt::join(p["seeds"].get<std::vector<uint64_t>>(), ", "), results["folds"].size(), p["baseline_genes"].get<int64_t>(),
      p["baseline_components"].get<int64_t>());
  for (const auto& task : tasks) md += task_section(results, task, dir);
  md += comparisons_section(results, tasks);
  md += folds_section(results);
  const std::string path = (std::filesystem::path(dir) / "results.md").string();
  write_file_atomic(path, md);
  write_html_report(path, "marrow cv");
  return path;
}

}  // namespace marrow::report
