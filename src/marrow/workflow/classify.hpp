#pragma once
// Classifiers on cell embeddings (`marrow classify train|evaluate|predict`), and the baseline users
// reach for first, built in: `--embedding pca` = log-normalise, 3,000 highly variable genes,
// scale, truncated SVD to 256 dimensions fitted on the training cells, then the chosen head.
#include <nlohmann/json.hpp>
#include <string>

#include "marrow/models/classifier_options.hpp"
#include "marrow/train/train_options.hpp"
#include "marrow/workflow/parts.hpp"
#include "marrow/workflow/prepare.hpp"

namespace marrow::workflow {

struct ClassifyTrainOptions {
  DataSpec data;
  std::string embedding = "X_marrow";  // an obsm key, or "pca"
  int64_t pca_components = 256;
  int64_t pca_genes = 3000;
  std::string label;
  SplitChoice split;                   // its test part gives the reported metrics
  models::ClassifierOptions model;
  train::TrainOptions train;
  bool balanced = true;                // class weights n / (k n_c)
  // Fine-tuning (`marrow finetune`): a pretrained gene model (exceiver) whose class query feeds the
  // head; the whole model trains, or only the class query and head with `freeze`.
  std::string finetune_model;
  bool freeze = false;
  std::string out;
};

// Trains, saves the model and returns the metrics on the split's test part (or on the training
// cells, marked so, when the split has no test part).
nlohmann::json classify_train(const ClassifyTrainOptions& options);

struct ClassifyApplyOptions {
  std::string model;
  DataSpec data;
  std::string label;        // evaluate: the true labels
  std::string split_file;   // evaluate: only the cells of this split's `part`
  std::string part = "test";
  std::string out;          // predict: output .h5ad
  std::string prefix = "marrow";
};

nlohmann::json classify_evaluate(const ClassifyApplyOptions& options);

// Zero-shot transfer: one trained classifier, unchanged, evaluated on several groups of cells
// (e.g. lineages). Each group is "NAME:SELECTION"; the result maps NAME to its metrics.
struct ZeroShotOptions {
  ClassifyApplyOptions evaluate;    // model, data (its --cells narrows every group), label, split part
  std::vector<std::string> groups;  // "monocytic:cell_type=ProMono,Mono"
};
nlohmann::json zeroshot(const ZeroShotOptions& options);
int64_t classify_predict(const ClassifyApplyOptions& options);

}  // namespace marrow::workflow
