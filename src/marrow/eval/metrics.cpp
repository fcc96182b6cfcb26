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

double average_precision(const std::vector<float>& score, const std::vector<uint8_t>& positive) {
  std::vector<size_t> order(score.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
  const auto n_pos = static_cast<double>(std::count(positive.begin(), positive.end(), 1));
  if (n_pos == 0) return NAN;
  double ap = 0, true_positives = 0, last_recall = 0;
  for (size_t i = 0; i < order.size();) {  // one step per distinct score, highest first
    size_t j = i;
    while (j < order.size() && score[order[j]] == score[order[i]]) true_positives += positive[order[j++]];
    const double recall = true_positives / n_pos, precision = true_positives / static_cast<double>(j);
    ap += (recall - last_recall) * precision;
    last_recall = recall;
    i = j;
  }
  return ap;
}

std::vector<double> roc_at(const std::vector<float>& score, const std::vector<uint8_t>& positive, const std::vector<double>& fpr_grid) {
  const auto n_pos = static_cast<double>(std::count(positive.begin(), positive.end(), 1));
  const double n_neg = static_cast<double>(score.size()) - n_pos;
  if (n_pos == 0 || n_neg == 0) return {};
  std::vector<size_t> order(score.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
  std::vector<double> tpr(fpr_grid.size(), 0.0);
  double tp = 0, fp = 0;
  for (size_t i = 0; i < order.size();) {  // each distinct score is one point of the curve
    size_t j = i;
    while (j < order.size() && score[order[j]] == score[order[i]]) (positive[order[j]] ? tp : fp) += 1, ++j;
    for (size_t g = 0; g < fpr_grid.size(); ++g)
      if (fp / n_neg <= fpr_grid[g] + 1e-12) tpr[g] = std::max(tpr[g], tp / n_pos);
    i = j;
  }
  return tpr;
}

namespace {

// The rule's objective at one threshold, from the confusion counts.
double threshold_objective(ThresholdRule rule, double tp, double fp, double n_pos, double n_neg) {
  if (rule == ThresholdRule::F1) return tp > 0 ? 2 * tp / (tp + fp + n_pos) : 0.0;
  return 0.5 * (tp / n_pos + (n_neg - fp) / n_neg);
}

}  // namespace

double choose_threshold(const std::vector<float>& score, const std::vector<uint8_t>& positive, ThresholdRule rule) {
  const auto n_pos = static_cast<double>(std::count(positive.begin(), positive.end(), 1));
  const double n_neg = static_cast<double>(score.size()) - n_pos;
  if (rule == ThresholdRule::None || n_pos == 0 || n_neg == 0) return 0.5;
  std::vector<size_t> order(score.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
  // Walk thresholds from above the highest score down; cells at or above the threshold are called positive.
  double best_threshold = std::nextafter(static_cast<double>(score[order.front()]), 2.0);
  double best = threshold_objective(rule, 0, 0, n_pos, n_neg), tp = 0, fp = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && score[order[j]] == score[order[i]]) (positive[order[j]] ? tp : fp) += 1, ++j;
    const double below = j < order.size() ? score[order[j]] : -1.0;
    const double threshold = 0.5 * (score[order[i]] + std::max(below, 0.0));
    const double value = threshold_objective(rule, tp, fp, n_pos, n_neg);
    if (value > best + 1e-12 || (std::abs(value - best) <= 1e-12 && std::abs(threshold - 0.5) < std::abs(best_threshold - 0.5)))
      best = value, best_threshold = threshold;
    i = j;
  }
  return best_threshold;
}

namespace {

nlohmann::json number_or_null(double x) { return std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x); }

// One class against the rest: AUROC and average precision of its probability.
std::pair<double, double> one_vs_rest(const std::vector<int>& truth, const std::vector<float>& probabilities, size_t k, size_t c) {
  std::vector<float> score(truth.size());
  std::vector<uint8_t> positive(truth.size());
  for (size_t i = 0; i < truth.size(); ++i) {
    score[i] = probabilities[i * k + c];
    positive[i] = truth[i] == static_cast<int>(c);
  }
  return {auroc(score, positive), average_precision(score, positive)};
}

// The second class's ROC curve at false-positive rates 0, 0.05, ..., 1.
nlohmann::json roc_curve(const std::vector<int>& truth, const std::vector<float>& probabilities) {
  std::vector<float> score(truth.size());
  std::vector<uint8_t> positive(truth.size());
  for (size_t i = 0; i < truth.size(); ++i) score[i] = probabilities[2 * i + 1], positive[i] = truth[i] == 1;
  std::vector<double> grid;
  for (int g = 0; g <= 20; ++g) grid.push_back(g / 20.0);
  return {{"fpr", grid}, {"tpr", roc_at(score, positive, grid)}};
}

// "auroc" and "average_precision": of the second class for two classes, else the macro mean over
// classes whose one-vs-rest AUROC is defined.
void add_ranking_metrics(nlohmann::json& j, const std::vector<std::string>& classes, const std::vector<int>& truth,
                         const std::vector<float>& probabilities) {
  const size_t k = classes.size();
  if (k == 2) {
    auto [a, ap] = one_vs_rest(truth, probabilities, 2, 1);
    const bool ranked = !std::isnan(a);  // both classes among the cells
    j["auroc"] = number_or_null(a);
    j["average_precision"] = ranked ? number_or_null(ap) : nlohmann::json(nullptr);
    j["auroc_positive_class"] = classes[1];
    for (size_t c = 0; c < 2; ++c)
      j["per_class"][classes[c]]["average_precision"] = ranked ? number_or_null(one_vs_rest(truth, probabilities, 2, c).second)
                                                                : nlohmann::json(nullptr);
    if (!std::isnan(a)) j["roc"] = roc_curve(truth, probabilities);
    return;
  }
  double auroc_sum = 0, ap_sum = 0;
  int defined = 0;
  for (size_t c = 0; c < k; ++c) {
    auto [a, ap] = one_vs_rest(truth, probabilities, k, c);
    if (std::isnan(a)) continue;
    auroc_sum += a, ap_sum += ap, ++defined;
  }
  j["auroc"] = defined ? nlohmann::json(auroc_sum / defined) : nlohmann::json(nullptr);
  j["average_precision"] = defined ? nlohmann::json(ap_sum / defined) : nlohmann::json(nullptr);
  j["auroc_averaging"] = "macro one-vs-rest";
}

}  // namespace

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
  if (!probabilities.empty()) add_ranking_metrics(j, classes, truth, probabilities);
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
