#pragma once
// What a model file records about the run that made it (pretraining and classifiers alike).
#include <nlohmann/json.hpp>
#include <string>

#include "marrow/data/parts.hpp"
#include "marrow/train/train_options.hpp"

namespace marrow::workflow {

// What a model file records about the run that made it: marrow version, command, input file and
// its CRC-32, matrix, cell selection, seed, training settings and history, and the split.
nlohmann::json run_metadata(const std::string& command, const std::string& input, const std::string& matrix,
                            const std::string& cells, const train::TrainOptions& train, const train::TrainResult& result,
                            const Parts& parts);

}  // namespace marrow::workflow
