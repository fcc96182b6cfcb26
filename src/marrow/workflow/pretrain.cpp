#include "marrow/workflow/pretrain.hpp"

namespace marrow::workflow {

PretrainSummary summarise_pretraining(const train::TrainResult& result, int64_t train_cells, int64_t validation_cells,
                                      int64_t genes) {
  PretrainSummary summary;
  summary.train_cells = train_cells;
  summary.validation_cells = validation_cells;
  summary.genes = genes;
  summary.epochs_run = result.history.empty() ? 0 : result.history.back().epoch;
  summary.best_epoch = result.best_epoch;
  summary.best_validation = result.best_validation;
  summary.completed = result.completed;
  return summary;
}

nlohmann::json summary_json(const PretrainSummary& s) {
  return {{"train_cells", s.train_cells}, {"validation_cells", s.validation_cells}, {"genes", s.genes},
          {"epochs_run", s.epochs_run}, {"best_epoch", s.best_epoch}, {"best_validation", s.best_validation},
          {"completed", s.completed}};
}

}  // namespace marrow::workflow
