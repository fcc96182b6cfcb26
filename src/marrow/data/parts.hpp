#pragma once
// Which cells of a dataset train, validate (early stopping) and test, from the command line's split
// choice: a saved split file, a new split (random, stratified:COL, group:COL), or none (all cells
// train). A validation part the split lacks is carved from the training cells at random.
#include <optional>
#include <string>
#include <vector>

#include "marrow/data/frame.hpp"
#include "marrow/data/split.hpp"

namespace marrow {

struct SplitChoice {
  std::string spec;            // "", random, stratified:COL, group:COL
  std::string file;            // a saved split (JSON)
  std::string stratify;        // group splits: hold out groups within each value of this column
  double test_fraction = 0.3;
  double validation_fraction = 0.0;  // of the training cells, for early stopping
  uint64_t seed = 0;
};

struct Parts {
  std::optional<Split> split;
  std::vector<int64_t> train, validation, test;  // rows of the dataset
};

Parts resolve_parts(const DataFrame& obs, const SplitChoice& choice, const std::string& source);


}  // namespace marrow
