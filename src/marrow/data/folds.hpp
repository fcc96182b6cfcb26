#pragma once
// Cross-validation over whole groups (patients, donors), as scikit-learn's StratifiedGroupKFold
// intends: every group is tested in exactly one fold, groups are dealt to folds within each stratum
// (a group's most common value of e.g. `condition`), so healthy donors and patients both spread over
// the folds; leave-one-group-out is the case K = number of groups. Each fold is a Split (data/split.hpp):
// its test groups, a validation part of whole groups drawn (stratified, seeded) from the rest for
// early stopping and decision thresholds, and the remaining groups to train every fitted step.
// Torch-free.
#include <cstdint>
#include <string>
#include <vector>

#include "marrow/data/frame.hpp"
#include "marrow/data/split.hpp"

namespace marrow {

struct FoldOptions {
  std::string group_column = "patient";
  std::string stratify;               // e.g. "condition"; empty: one stratum
  int64_t folds = 5;                  // K
  bool leave_one_group_out = false;   // K = number of groups
  double validation_fraction = 0.2;   // of each fold's training groups (at least one group)
  uint64_t seed = 0;
};

// The test groups of each fold: every group with a value in exactly one fold. Fails with a clear
// message for an unknown column, fewer groups than folds, or K < 2.
std::vector<std::vector<std::string>> assign_group_folds(const DataFrame& obs, const FoldOptions& options);

// The folds as splits (cells named as in obs), test groups as assign_group_folds deals them.
std::vector<Split> group_folds(const DataFrame& obs, const FoldOptions& options);

}  // namespace marrow
