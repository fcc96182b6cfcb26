#pragma once
// Which cells of a dataset train, validate (early stopping) and test, from the command line's split
// choice: a saved split file, a new split (random, stratified:COL, group:COL), or none (all cells
// train). A validation part the split lacks is carved from the training cells at random.
#include <optional>
#include <string>
#include <vector>

#include "marrow/data/frame.hpp"
#include "marrow/data/split.hpp"
#include "marrow/train/train_options.hpp"

namespace marrow::workflow {

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

// What a model file records about the run that made it: marrow version, command, input file and
// its CRC-32, matrix, cell selection, seed, training settings and history, and the split.
nlohmann::json run_metadata(const std::string& command, const std::string& input, const std::string& matrix,
                            const std::string& cells, const train::TrainOptions& train, const train::TrainResult& result,
                            const Parts& parts);

}  // namespace marrow::workflow
