#pragma once
// Classification metrics in the JSON form every marrow report and later tooling reads:
// {"n", "accuracy", "balanced_accuracy", "macro_f1", "per_class": {C: {"precision", "recall", "f1",
//  "support"}}, "predicted_fraction": {C: x}, "confusion": {true: {predicted: n}}, "auroc" (binary)}.
// Classes are the classifier's (training) classes, so a class absent from the evaluated cells still
// appears in predicted_fraction; balanced accuracy and macro F1 average over classes present in the
// truth.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace marrow::eval {

// truth[i] is a class index or -1 (a label the classifier never saw: counted in n, always wrong);
// probabilities is n x classes, row-major, or empty (hard predictions only: no AUROC).
nlohmann::json classification_metrics(const std::vector<std::string>& classes, const std::vector<int>& truth,
                                      const std::vector<int>& predicted, const std::vector<float>& probabilities);

// Area under the ROC curve of `score` for positives (ties count one half).
double auroc(const std::vector<float>& score, const std::vector<uint8_t>& positive);

// Predicted values against the truth (same length, not empty): mean squared error, and Pearson's
// correlation (0 where either side is constant).
double mean_squared_error(const std::vector<double>& predicted, const std::vector<double>& truth);
double pearson_correlation(const std::vector<double>& predicted, const std::vector<double>& truth);

}  // namespace marrow::eval
