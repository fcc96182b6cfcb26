#pragma once
// What every pretraining run reports, whatever the model kind.
#include <cstdint>
#include <nlohmann/json.hpp>

#include "marrow/train/train_options.hpp"

namespace marrow::workflow {

// What a pretraining run reports (autoencoder and gene model alike).
struct PretrainSummary {
  int64_t train_cells = 0, validation_cells = 0, genes = 0;
  int epochs_run = 0, best_epoch = 0;
  double best_validation = 0;
  bool completed = true;
};

// The summary of a finished (or interrupted) training run on these cells.
// {"train_cells", "validation_cells", "genes", "epochs_run", "best_epoch", "best_validation", "completed"}.
nlohmann::json summary_json(const PretrainSummary& summary);

PretrainSummary summarise_pretraining(const train::TrainResult& result, int64_t train_cells, int64_t validation_cells,
                                      int64_t genes);

}  // namespace marrow::workflow
