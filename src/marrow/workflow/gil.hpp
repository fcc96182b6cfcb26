#pragma once
// Gene-incremental learning as a library call (`marrow gil run`): the masked-expression gene model
// learns a plan's stages one after another, its vocabulary growing at each, under several
// strategies and seeds, and is scored after every stage on held-out cells (gil/metrics.hpp).
//
// Strategies:
//   finetune        train on the stage's cells only (the baseline that forgets)
//   replay          also replays a buffer of earlier stages' cells, each with its own stage's genes
//   distill         the previous stage's model, frozen, predicts old stage genes (not the new ones)
//                   for the current cells; the model matches it (MSE, weight distill_lambda)
//   ewc             elastic weight consolidation: a diagonal Fisher penalty (weight ewc_lambda) on
//                   every parameter the previous model had (old gene rows included, new rows free)
//   joint           every stage's cells with their own genes at once (the reference)
//   replay_distill  ours: replay and distillation together; the teacher also labels the replayed
//                   cells' genes of the stages they did not come from
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "marrow/gil/plan.hpp"
#include "marrow/models/exceiver_options.hpp"
#include "marrow/train/train_options.hpp"
#include "marrow/workflow/prepare.hpp"

namespace marrow::workflow {

struct GilOptions {
  std::vector<DataSpec> data;            // the inputs, in the plan's file order
  std::string plan;                      // a plan file; empty: build one with auto_plan
  gil::PlanOptions auto_plan;
  std::vector<std::string> strategies = {"finetune", "replay", "distill", "ewc", "joint", "replay_distill"};
  int seeds = 1;                         // runs per strategy, with seeds seed, seed + 1, ...
  uint64_t seed = 0;
  models::ExceiverOptions model;         // n_genes grows with the stages
  models::MaskingOptions masking;
  double target_sum = 1e4;
  train::TrainOptions train;             // epochs per stage, batch size, learning rate
  std::string init = "mean";             // new gene rows: random, mean (of the known rows) or coexpression
  int64_t replay_size = 1000;
  std::string replay_selection = "random";  // random (stage-balanced), reservoir, class_balanced
  std::string label;                     // class_balanced: the obs column to balance
  double distill_lambda = 1.0;
  int64_t distill_queries = 64;          // old genes queried per cell for distillation
  double ewc_lambda = 100.0;
  int64_t fisher_cells = 512;
  int64_t eval_cells = 2000;             // held-out cells scored per gene set (a seeded sample)
  double eval_mask_fraction = 0.15;      // of a cell's expressed genes of the set
  int64_t probe_cells = 2000;            // training cells of a task's stage that fit its probe
  bool forward_transfer = true;          // also train each later stage from scratch (forward transfer)
  bool save_models = true;               // DIR/models/STRATEGY_seedS_stageK.marrow
  std::string out;                       // directory
};

// Runs everything, writes DIR/plan.json, DIR/results.json, DIR/results.md and DIR/forgetting.svg,
// and returns the results.
nlohmann::json gil_run(const GilOptions& options);

// `marrow gil report DIR`: derives every metric (forgetting, transfer, probe changes, means and
// intervals over seeds) from the raw MSE and probe matrices of a results.json and rewrites
// results.json, results.md and forgetting.svg in `dir` (gil_run ends with it).
nlohmann::json gil_report(nlohmann::json results, const std::string& dir);

// `marrow gil plan`: builds a plan from the data and writes it (JSON).
gil::StagePlan gil_plan(const std::vector<DataSpec>& data, const gil::PlanOptions& options, const std::string& out);

}  // namespace marrow::workflow
