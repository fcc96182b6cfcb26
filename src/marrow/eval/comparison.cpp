#include "marrow/eval/comparison.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

namespace marrow::eval {

double t_quantile_975(int64_t df) {
  static constexpr std::array<double, 30> kTable = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                                    2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                                    2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (df < 1) return NAN;
  if (df <= 30) return kTable[static_cast<size_t>(df - 1)];
  // Cornish-Fisher expansion about the normal quantile: within 1e-3 of the exact value for df > 30.
  const double z = 1.959964, d = static_cast<double>(df);
  return z + (z * z * z + z) / (4 * d) + (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * d * d);
}

PairedDifference paired_difference(const std::vector<double>& model, const std::vector<double>& baseline, double test_train_ratio) {
  std::vector<double> d;
  PairedDifference r;
  for (size_t i = 0; i < model.size() && i < baseline.size(); ++i) {
    if (!std::isfinite(model[i]) || !std::isfinite(baseline[i])) continue;
    d.push_back(model[i] - baseline[i]);
    if (model[i] > baseline[i]) ++r.wins;
  }
  r.n = static_cast<int64_t>(d.size());
  if (d.empty()) {
    r.mean_difference = r.ci95_low = r.ci95_high = NAN;
    return r;
  }
  double sum = 0;
  for (double x : d) sum += x;
  r.mean_difference = sum / static_cast<double>(d.size());
  if (d.size() < 2) {
    r.ci95_low = r.ci95_high = NAN;
    return r;
  }
  double ss = 0;
  for (double x : d) ss += (x - r.mean_difference) * (x - r.mean_difference);
  const double variance = ss / static_cast<double>(d.size() - 1);
  const double half = t_quantile_975(r.n - 1) * std::sqrt((1.0 / static_cast<double>(r.n) + test_train_ratio) * variance);
  r.ci95_low = r.mean_difference - half;
  r.ci95_high = r.mean_difference + half;
  return r;
}

namespace {

// A metric of one model and task in each fold (NaN where absent or null).
std::vector<double> per_fold(const nlohmann::json& folds, const std::string& model, const std::string& task, const std::string& metric) {
  std::vector<double> values;
  for (const auto& fold : folds) {
    const nlohmann::json* m = &fold["metrics"];
    for (const std::string* key : {&model, &task, &metric}) {
      if (!m->is_object() || !m->contains(*key)) {
        m = nullptr;
        break;
      }
      m = &(*m)[*key];
    }
    values.push_back(m && m->is_number() ? m->get<double>() : NAN);
  }
  return values;
}

nlohmann::json number_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

// Models, tasks and metrics named in any fold, in name order.
struct Names {
  std::set<std::string> models, tasks, metrics;
};
Names names_in(const nlohmann::json& folds) {
  Names n;
  for (const auto& fold : folds)
    for (const auto& [model, tasks] : fold["metrics"].items()) {
      n.models.insert(model);
      for (const auto& [task, metrics] : tasks.items()) {
        n.tasks.insert(task);
        for (const auto& [metric, _] : metrics.items()) n.metrics.insert(metric);
      }
    }
  return n;
}

}  // namespace

nlohmann::json summarise_folds(const nlohmann::json& folds) {
  const Names n = names_in(folds);
  nlohmann::json out = nlohmann::json::object();
  for (const auto& model : n.models)
    for (const auto& task : n.tasks)
      for (const auto& metric : n.metrics) {
        std::vector<double> v;
        for (double x : per_fold(folds, model, task, metric))
          if (std::isfinite(x)) v.push_back(x);
        if (v.empty()) continue;
        double mean = 0, ss = 0;
        for (double x : v) mean += x;
        mean /= static_cast<double>(v.size());
        for (double x : v) ss += (x - mean) * (x - mean);
        const double sd = v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : NAN;
        out[model][task][metric] = {{"mean", mean}, {"sd", number_or_null(sd)}, {"n", v.size()}};
      }
  return out;
}

nlohmann::json compare_to_baselines(const nlohmann::json& folds, const std::vector<std::string>& baselines,
                                    const std::vector<std::string>& metrics, double test_train_ratio) {
  const Names n = names_in(folds);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& model : n.models) {
    if (std::find(baselines.begin(), baselines.end(), model) != baselines.end()) continue;
    for (const auto& baseline : baselines)
      for (const auto& task : n.tasks)
        for (const auto& metric : metrics) {
          PairedDifference d = paired_difference(per_fold(folds, model, task, metric), per_fold(folds, baseline, task, metric),
                                                 test_train_ratio);
          if (d.n == 0) continue;
          out.push_back({{"model", model},
                         {"baseline", baseline},
                         {"task", task},
                         {"metric", metric},
                         {"mean_difference", number_or_null(d.mean_difference)},
                         {"ci95", {number_or_null(d.ci95_low), number_or_null(d.ci95_high)}},
                         {"wins", d.wins},
                         {"n", d.n}});
        }
  }
  return out;
}

}  // namespace marrow::eval
