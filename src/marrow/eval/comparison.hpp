#pragma once
// Is model A better than baseline B on new patients? Cross-validation gives one paired difference
// A - B per fold and seed (the same test patients for both). This summarises them the way the
// field should: the mean difference, a 95% interval, and how many folds A won.
//
// The interval is the corrected resampled t interval of Nadeau & Bengio (2003): folds share training
// patients, so their differences are correlated and the plain t interval is too narrow; the variance
// is inflated by (1/n + n_test/n_train), with n_test/n_train = 1/(K-1) for K-fold, and t has n-1
// degrees of freedom. Torch-free.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace marrow::eval {

struct PairedDifference {
  double mean_difference = 0;
  double ci95_low = 0, ci95_high = 0;
  int64_t wins = 0;  // pairs where the model is above the baseline
  int64_t n = 0;     // pairs where both values are defined
};

// model[i] and baseline[i] are the same fold and seed; pairs with a non-finite side are skipped.
// test_train_ratio: test over training patients per fold (1/(K-1) for K folds; 0 gives the plain t).
// With fewer than two pairs the interval is NaN.
PairedDifference paired_difference(const std::vector<double>& model, const std::vector<double>& baseline, double test_train_ratio);

// Cross-validation folds as marrow cv writes them: each {"metrics": {MODEL: {TASK: {METRIC: x}}}}.
// Per model, task and metric over the folds: {"mean", "sd", "n"} (sd with n - 1; null values skipped).
nlohmann::json summarise_folds(const nlohmann::json& folds);
// Every model that is not a baseline against every baseline, per task and metric, paired by fold:
// [{"model", "baseline", "task", "metric", "mean_difference", "ci95": [lo, hi], "wins", "n"}].
nlohmann::json compare_to_baselines(const nlohmann::json& folds, const std::vector<std::string>& baselines,
                                    const std::vector<std::string>& metrics, double test_train_ratio);

// The 97.5% quantile of Student's t with `df` degrees of freedom (df >= 1).
double t_quantile_975(int64_t df);

}  // namespace marrow::eval
