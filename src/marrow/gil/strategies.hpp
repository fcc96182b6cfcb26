#pragma once
// The strategies of gene-incremental learning (gil/options.hpp) run over one Setup: each trains the
// masked-expression gene model stage by stage, its vocabulary growing at each, and scores it after
// every stage on held-out cells (masked MSE per gene set, linear probes on frozen cell embeddings).
// This header is torch-free so that the `gil run` script need not compile torch; strategies.cpp is
// the one gil file that includes it.
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "marrow/data/anndata.hpp"
#include "marrow/data/vocabulary.hpp"
#include "marrow/gil/metrics.hpp"
#include "marrow/gil/options.hpp"
#include "marrow/gil/plan.hpp"
#include "marrow/gil/setup.hpp"

namespace marrow::gil {

// One strategy and seed: mse[i][j] on gene set j and probe accuracies [i][t] on task t after stage
// i (NaN where not scored: a set before its stage, joint's rows before the last).
struct RunResult {
  Matrix mse, probe_accuracy, probe_balanced;
  double seconds = 0;
};

// Where each stage's model is saved: DIR/STRATEGY_seedS_stageK.marrow, with meta(its options, its
// vocabulary) as the file's metadata (a "gil" entry is added). An empty dir saves nothing.
struct StageModels {
  std::string dir;
  std::function<nlohmann::json(const models::ExceiverOptions&, const GeneVocabulary&)> meta;
};

struct ExperimentState;  // strategies.cpp: the options, the Setup and the masked held-out cells

class Experiment {
 public:
  // Builds the Setup (setup.hpp) and masks a share of each gene set's held-out cells once, so every
  // strategy and seed is scored on the same masked values. Fails when a gene set has no held-out
  // cell to score.
  Experiment(const RunOptions& options, const std::vector<AnnData>& files, const std::vector<std::string>& paths, StagePlan plan,
             StageModels models);
  ~Experiment();
  Experiment(const Experiment&) = delete;
  Experiment& operator=(const Experiment&) = delete;

  const Setup& setup() const;
  RunResult run(Strategy strategy, uint64_t seed);
  // MSE on each later stage's own genes of a model trained on that stage alone, from scratch (NaN
  // for the base stage's sets): the forward-transfer reference of gil/metrics.hpp.
  std::vector<double> scratch_reference(uint64_t seed);

 private:
  std::unique_ptr<ExperimentState> state_;
};

}  // namespace marrow::gil
