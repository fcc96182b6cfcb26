#pragma once
// `marrow cv CONFIG --out DIR`: the pipeline of `marrow run` cross-validated over whole patients.
// The config is marrow run's, plus a "cv" object:
//   "cv": {"folds": 5, "leave_one_group_out": false, "seeds": [0], "validation_fraction": 0.2}
// Groups and strata come from the config's "split" ("by": "group:patient", "stratify": "condition").
// For every seed and fold (data/folds.hpp: each patient tested once per seed), every fitted step is
// refitted on that fold's training patients only: the autoencoder's preprocessing and weights, each
// classifier head, and its decision threshold, with validation patients drawn from the training
// patients for early stopping and thresholds. Each task's heads on the embedding are scored beside
// the two built-in baselines, always run: `pca` (fitted on the task's training cells: 3,000 scaled
// highly variable genes, 256 principal components, linear head) and `hvg_lr` (the same genes, linear
// head: logistic regression); "classify": {"baseline_genes", "baseline_components"} change the sizes.
// A task's "finetune_heads": ["mlp"] adds, per head, the fold's pretrained encoder fine-tuned end to
// end with it ("finetuned_mlp", encoder at 0.1 x the learning rate), the same network from scratch
// ("scratch_mlp") and the head on the scaled genes ("hvg_mlp", a supervised network on 3,000 genes). Zero-shot groups are scored as tasks of their own ("TASK/GROUP").
//
// DIR/folds/seedS_foldK.json holds each finished fold; a run killed and started again skips those,
// so the final DIR/results.json is the same. DIR/plan.json records the config and the folds; a DIR
// holding another plan is refused. The summary (eval/comparison.hpp: paired differences against
// each baseline with a 95% interval) goes to DIR/results.json, DIR/results.md and DIR/figures/.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "marrow/data/folds.hpp"
#include "marrow/workflow/pipeline.hpp"

namespace marrow::workflow {

struct CvConfig {
  PipelineConfig pipeline;  // data, pretraining, classifier training and tasks; its `out` is DIR
  FoldOptions folds;
  std::vector<uint64_t> seeds{0};
  nlohmann::json source;    // the config as read, without "out": a resumed run must have the same
};

// Parses marrow run's config and its "cv" object; unknown keys are errors.
CvConfig parse_cv_config(const nlohmann::json& json, const std::string& source);

// Runs the folds not yet in DIR, then writes results.json, results.md and figures; returns
// results.json's content.
nlohmann::json run_cv(const CvConfig& config);

}  // namespace marrow::workflow
