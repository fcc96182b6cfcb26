#pragma once
// Classification metrics in the JSON form every marrow report and later tooling reads:
// {"n", "accuracy", "balanced_accuracy", "macro_f1", "per_class": {C: {"precision", "recall", "f1",
//  "support"}}, "predicted_fraction": {C: x}, "confusion": {true: {predicted: n}}, "auroc",
//  "average_precision", "roc" (two classes: {"fpr", "tpr"} on a grid of 21 false-positive rates)}. AUROC and average precision are threshold-free: of the second class's
// probability for two classes (the `auroc_positive_class`), macro one-vs-rest over the classes present
// (with cells of other classes beside them) for more. Two classes: each class's average precision is
// also in per_class; AUROC and average precision are null where the cells hold one class only.
// Classes are the classifier's (training) classes, so a class absent from the evaluated cells still
// appears in predicted_fraction; balanced accuracy and macro F1 average over classes present in the
// truth.
#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "marrow/core/enum_names.hpp"

namespace marrow::eval {

// truth[i] is a class index or -1 (a label the classifier never saw: counted in n, always wrong);
// probabilities is n x classes, row-major, or empty (hard predictions only: no AUROC).
nlohmann::json classification_metrics(const std::vector<std::string>& classes, const std::vector<int>& truth,
                                      const std::vector<int>& predicted, const std::vector<float>& probabilities);

// Area under the ROC curve of `score` for positives (ties count one half); NaN without positives or
// negatives.
double auroc(const std::vector<float>& score, const std::vector<uint8_t>& positive);
// Average precision (scikit-learn's step-wise area under the precision-recall curve, tied scores
// taken together); NaN without positives.
double average_precision(const std::vector<float>& score, const std::vector<uint8_t>& positive);

// The ROC curve read at fixed false-positive rates: for each rate in `fpr_grid`, the highest true-
// positive rate reached without exceeding it. Empty without positives or negatives.
std::vector<double> roc_at(const std::vector<float>& score, const std::vector<uint8_t>& positive, const std::vector<double>& fpr_grid);

// How a binary classifier's decision threshold is chosen on validation cells: the threshold of the
// second class's probability that maximises balanced accuracy (Youden's J), or F1 of the second
// class, or none (the most probable class, i.e. 0.5).
enum class ThresholdRule { BalancedAccuracy, F1, None };
// The chosen threshold: a midpoint between two adjacent distinct scores (ties broken towards 0.5);
// 0.5 for the rule None or when the cells hold only one class.
double choose_threshold(const std::vector<float>& score, const std::vector<uint8_t>& positive, ThresholdRule rule);

// Predicted values against the truth (same length, not empty): mean squared error, and Pearson's
// correlation (0 where either side is constant).
double mean_squared_error(const std::vector<double>& predicted, const std::vector<double>& truth);
double pearson_correlation(const std::vector<double>& predicted, const std::vector<double>& truth);

}  // namespace marrow::eval

namespace marrow {
template <>
struct EnumNames<eval::ThresholdRule> {
  static constexpr const char* what = "threshold rule";
  static constexpr std::array<std::pair<eval::ThresholdRule, const char*>, 3> table{
      {{eval::ThresholdRule::BalancedAccuracy, "balanced_accuracy"}, {eval::ThresholdRule::F1, "f1"}, {eval::ThresholdRule::None, "none"}}};
};
}  // namespace marrow
