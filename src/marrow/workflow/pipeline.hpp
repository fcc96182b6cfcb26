#pragma once
// The autoencoder pipeline from one config: split (whole patients held out of every step) ->
// pretrain the autoencoder on the training part of the chosen cells -> embed every cell -> for each
// task, train every head on the embedding and on the built-in PCA baseline -> zero-shot groups ->
// results.json and report.md. `marrow run CONFIG` reads the config from JSON; `marrow demo` builds
// one for simulated data; `marrow cv` (workflow/cv.hpp) runs the same steps once per fold.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "marrow/models/autoencoder_options.hpp"
#include "marrow/models/classifier_options.hpp"
#include "marrow/preprocess/pipeline.hpp"
#include "marrow/eval/metrics.hpp"
#include "marrow/models/classifier_features.hpp"
#include "marrow/workflow/autoencoder.hpp"
#include "marrow/workflow/embed.hpp"
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
  // marrow cv only: for each head here, the pretrained encoder fine-tuned with it ("finetuned_H"),
  // the same network from scratch ("scratch_H") and the head on the baseline's scaled genes ("hvg_H").
  std::vector<models::Head> finetune_heads;
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
  double kl_warmup_epochs = 10;         // variational (pretrain kind "vae")
  train::TrainOptions classify;
  eval::ThresholdRule threshold_rule = eval::ThresholdRule::BalancedAccuracy;
  int64_t transformer_width = 256;
  int64_t baseline_genes = 3000;        // the built-in baselines: highly variable genes
  int64_t baseline_components = 256;    // and the PCA baseline's components
  std::vector<TaskConfig> tasks;
  std::string report_preamble;          // Markdown put before the results (the demo's input summary)
};

// Parses and checks a config (unknown keys are errors, so typos do not pass silently). The "cv" key
// is marrow cv's (workflow/cv.hpp) and is not read here.
PipelineConfig parse_pipeline_config(const nlohmann::json& json, const std::string& source);
// Runs it; returns the path of report.md.
std::string run_pipeline(const PipelineConfig& config);

// The steps, shared with marrow cv.

// An output directory, with its figures folder; file(name) is a path inside it.
struct RunDirectory {
  std::filesystem::path dir;
  std::string file(const std::string& name) const { return (dir / name).string(); }
};
RunDirectory create_run_directory(const std::string& out);

// The autoencoder on the training part of the pretraining cells (validation part: early stopping),
// written to DIR/ae.marrow.
PretrainOptions pretrain_step(const PipelineConfig& c, const RunDirectory& d, const std::string& split_path);
// Every cell embedded with `model`, written to DIR/embedded.h5ad.
EmbedOptions embed_step(const PipelineConfig& c, const RunDirectory& d, const std::string& model);

// One head on one kind of features, trained on the task's training-part cells of `embedded`
// (validation part: early stopping and the decision threshold), then evaluated on the test part
// and on each zero-shot group's test-part cells.
struct HeadResult {
  std::string model;         // DIR/NAME.marrow
  std::string metrics_file;  // the trainer's JSON lines
  nlohmann::json test;       // eval::classification_metrics
  nlohmann::json zeroshot;   // group -> metrics (absent without groups)
};
// Fine-tuning instead of fixed features: the pretrained model (read from `embedded`'s counts) trained
// with the head, its weights at 0.1 x the learning rate; from_scratch: randomly initialised, full rate.
struct FinetuneChoice {
  std::string pretrained;  // empty: the head on fixed features
  bool from_scratch = false;
};
HeadResult train_head(const PipelineConfig& c, const RunDirectory& d, const TaskConfig& task, const std::string& embedded,
                      const std::string& split_path, const models::ClassifierFeatures& features, models::Head head,
                      const std::string& name, const FinetuneChoice& finetune = {});

}  // namespace marrow::workflow
