#include "marrow/eval/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "marrow/core/error.hpp"

namespace marrow::eval {

double auroc(const std::vector<float>& score, const std::vector<uint8_t>& positive) {
  std::vector<size_t> order(score.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
  // Mann-Whitney U from average ranks.
  double rank_sum = 0;
  int64_t n_pos = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && score[order[j]] == score[order[i]]) ++j;
    double average_rank = (static_cast<double>(i) + static_cast<double>(j - 1)) / 2.0 + 1.0;
    for (size_t k = i; k < j; ++k)
      if (positive[order[k]]) rank_sum += average_rank, ++n_pos;
    i = j;
  }
  int64_t n_neg = static_cast<int64_t>(score.size()) - n_pos;
  if (n_pos == 0 || n_neg == 0) return NAN;
  return (rank_sum - static_cast<double>(n_pos) * (n_pos + 1) / 2.0) / (static_cast<double>(n_pos) * n_neg);
}

nlohmann::json classification_metrics(const std::vector<std::string>& classes, const std::vector<int>& truth,
                                      const std::vector<int>& predicted, const std::vector<float>& probabilities) {
  const size_t n = truth.size(), k = classes.size();
  if (predicted.size() != n || (!probabilities.empty() && probabilities.size() != n * k))
    fail("internal: metric inputs disagree in length");
  std::vector<std::vector<int64_t>> confusion(k, std::vector<int64_t>(k, 0));
  std::vector<int64_t> support(k, 0), predicted_count(k, 0), true_positive(k, 0);
  int64_t correct = 0;
  for (size_t i = 0; i < n; ++i) {
    ++predicted_count[predicted[i]];
    if (truth[i] < 0) continue;
    ++support[truth[i]];
    ++confusion[truth[i]][predicted[i]];
    if (truth[i] == predicted[i]) ++correct, ++true_positive[truth[i]];
  }
  nlohmann::json j;
  j["n"] = n;
  j["accuracy"] = n ? static_cast<double>(correct) / n : NAN;
  double recall_sum = 0, f1_sum = 0;
  int present = 0;
  nlohmann::json per_class = nlohmann::json::object(), fraction = nlohmann::json::object(),
                 confusion_json = nlohmann::json::object();
  for (size_t c = 0; c < k; ++c) {
    double precision = predicted_count[c] ? static_cast<double>(true_positive[c]) / predicted_count[c] : 0.0;
    double recall = support[c] ? static_cast<double>(true_positive[c]) / support[c] : 0.0;
    double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
    per_class[classes[c]] = {{"precision", precision}, {"recall", recall}, {"f1", f1}, {"support", support[c]}};
    fraction[classes[c]] = n ? static_cast<double>(predicted_count[c]) / n : 0.0;
    if (support[c] > 0) {
      recall_sum += recall;
      f1_sum += f1;
      ++present;
    }
    nlohmann::json row = nlohmann::json::object();
    for (size_t p = 0; p < k; ++p) row[classes[p]] = confusion[c][p];
    if (support[c] > 0) confusion_json[classes[c]] = row;
  }
  j["balanced_accuracy"] = present ? recall_sum / present : NAN;
  j["macro_f1"] = present ? f1_sum / present : NAN;
  j["per_class"] = per_class;
  j["predicted_fraction"] = fraction;
  j["confusion"] = confusion_json;
  if (k == 2 && !probabilities.empty()) {
    std::vector<float> score(n);
    std::vector<uint8_t> positive(n);
    for (size_t i = 0; i < n; ++i) {
      score[i] = probabilities[i * 2 + 1];
      positive[i] = truth[i] == 1;
    }
    double a = auroc(score, positive);
    j["auroc"] = std::isnan(a) ? nlohmann::json(nullptr) : nlohmann::json(a);
    j["auroc_positive_class"] = classes[1];
  }
  return j;
}

double mean_squared_error(const std::vector<double>& predicted, const std::vector<double>& truth) {
  double s = 0;
  for (size_t i = 0; i < predicted.size(); ++i) s += (predicted[i] - truth[i]) * (predicted[i] - truth[i]);
  return s / static_cast<double>(predicted.size());
}

double pearson_correlation(const std::vector<double>& predicted, const std::vector<double>& truth) {
  const double n = static_cast<double>(predicted.size());
  double mp = 0, mt = 0;
  for (size_t i = 0; i < predicted.size(); ++i) mp += predicted[i], mt += truth[i];
  mp /= n, mt /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < predicted.size(); ++i) {
    sxy += (predicted[i] - mp) * (truth[i] - mt), sxx += (predicted[i] - mp) * (predicted[i] - mp),
        syy += (truth[i] - mt) * (truth[i] - mt);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0.0;
}

}  // namespace marrow::eval
