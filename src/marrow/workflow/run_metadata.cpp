#include "marrow/workflow/run_metadata.hpp"

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/checksum.hpp"
#include "marrow/core/version.hpp"

namespace marrow::workflow {

nlohmann::json run_metadata(const std::string& command, const std::string& input, const std::string& matrix,
                            const std::string& cells, const train::TrainOptions& train, const train::TrainResult& result,
                            const Parts& parts) {
  nlohmann::json history = nlohmann::json::array();
  for (const auto& r : result.history) history.push_back(r.to_json());
  return {{"marrow_version", kVersion},
          {"command", command},
          {"input", input},
          // An AnnData passed from Python (memory:NAME) has no file to check later.
          {"input_crc32", is_memory_path(input) ? nlohmann::json(nullptr) : nlohmann::json(file_crc32(input))},
          {"matrix", matrix},
          {"cells", cells},
          {"seed", train.seed},
          {"epochs", train.epochs},
          {"min_steps", train.min_steps},
          {"batch_size", train.batch_size},
          {"learning_rate", train.learning_rate},
          {"best_epoch", result.best_epoch},
          {"train_cells", parts.train.size()},
          {"validation_cells", parts.validation.size()},
          {"history", history},
          {"split", parts.split ? parts.split->to_json() : nlohmann::json(nullptr)}};
}

}  // namespace marrow::workflow
