#pragma once
// The autoencoder pipeline from one config: split (whole patients held out of every step) ->
// pretrain the autoencoder on the training part of the chosen cells -> embed every cell -> for each
// task, train every head on the embedding and on the built-in PCA baseline -> zero-shot groups ->
// results.json and report.md. `marrow run CONFIG` reads the config from JSON; `marrow demo` builds
// one for simulated data.
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "marrow/models/autoencoder_options.hpp"
#include "marrow/models/classifier_options.hpp"
#include "marrow/preprocess/pipeline.hpp"
#include "marrow/workflow/autoencoder.hpp"
#include "marrow/train/train_options.hpp"
#include "marrow/data/parts.hpp"

namespace marrow::workflow {

struct TaskConfig {
  std::string name;
  std::string label;
  std::string cells;                    // training cells of the classifier (e.g. progenitors)
  std::string positive;                 // class whose F1 the report shows (binary tasks)
  std::vector<models::Head> heads{models::Head::Linear, models::Head::Mlp, models::Head::Transformer, models::Head::Gcn};
  std::vector<models::Head> baseline_heads{models::Head::Linear};
  std::vector<std::pair<std::string, std::string>> zeroshot;  // group name -> selection
};

struct PipelineConfig {
  std::string data;
  std::string matrix = "X";
  std::string out = "marrow-run";
  uint64_t seed = 0;
  SplitChoice split;                    // spec/file/stratify/test_fraction
  std::string pretrain_cells;
  preprocess::PreprocessOptions preprocess = autoencoder_input_defaults();
  models::AutoencoderOptions model;
  train::TrainOptions pretrain;
  train::TrainOptions classify;
  int64_t transformer_width = 256;
  std::vector<TaskConfig> tasks;
  std::string report_preamble;          // Markdown put before the results (the demo's input summary)
};

// Parses and checks a config (unknown keys are errors, so typos do not pass silently).
PipelineConfig parse_pipeline_config(const nlohmann::json& json, const std::string& source);
// Runs it; returns the path of report.md.
std::string run_pipeline(const PipelineConfig& config);

}  // namespace marrow::workflow
