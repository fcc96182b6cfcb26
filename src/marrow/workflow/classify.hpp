#pragma once
// Classifiers on cell embeddings (`marrow classify train|evaluate|predict`), and the baselines users
// reach for first, built in: `--embedding pca` = log-normalise, 3,000 highly variable genes,
// scale, truncated SVD to 256 dimensions fitted on the training cells, then the chosen head;
// `--embedding hvg` = the same scaled genes without the SVD (with a linear head: logistic regression).
// A binary classifier's decision threshold is chosen on the validation part (never the test part),
// stored in the classifier, and used by evaluate, predict and zeroshot.
#include <nlohmann/json.hpp>
#include <string>

#include "marrow/eval/metrics.hpp"
#include "marrow/models/classifier_features.hpp"
#include "marrow/models/classifier_options.hpp"
#include "marrow/train/train_options.hpp"
#include "marrow/data/parts.hpp"
#include "marrow/workflow/prepare.hpp"

namespace marrow::workflow {

struct ClassifyTrainOptions {
  DataSpec data;
  models::ClassifierFeatures embedding;  // an obsm key (default X_marrow), or the PCA baseline
  int64_t pca_components = 256;
  int64_t pca_genes = 3000;
  std::string label;
  SplitChoice split;                   // its test part gives the reported metrics
  models::ClassifierOptions model;
  train::TrainOptions train;
  bool balanced = true;                // class weights n / (k n_c)
  // Two classes: how the decision threshold is chosen on the validation part (none: 0.5).
  eval::ThresholdRule threshold_rule = eval::ThresholdRule::BalancedAccuracy;
  // Label budget: train on this share of the training part's cells (a seeded sample, stratified by
  // label, at least one cell per class), as when only a few cells are annotated.
  double label_fraction = 1.0;
  // Fine-tuning (`marrow finetune`): a pretrained model under the head, trained end to end: a gene
  // model (exceiver), whose class query feeds the head (`freeze`: only the class query and head
  // train), or an autoencoder or VAE, whose embedding does (`freeze`: only the head trains). The
  // pretrained weights learn at learning_rate x encoder_learning_rate_factor.
  std::string finetune_model;
  bool freeze = false;
  bool from_scratch = false;           // the same architecture and vocabulary, randomly initialised
  double encoder_learning_rate_factor = 0.1;
  std::string out;
};

// Trains, saves the model and returns the metrics on the split's test part (or on the training
// cells, marked so, when the split has no test part).
nlohmann::json classify_train(const ClassifyTrainOptions& options);

struct ClassifyApplyOptions {
  std::string model;
  DataSpec data;
  std::string label;        // evaluate: the true labels
  SplitChoice split;        // evaluate: only the cells of `part` of this split (all cells without one)
  Part part = Part::Test;
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

// A baseline's features of every cell of `data` (raw counts), fitted on fit_rows: the `genes` most
// variable genes, scaled, and (kind Pca) their first `components` principal components.
DenseMatrix baseline_embedding(const AnnData& data, const std::vector<int64_t>& fit_rows, models::FeatureKind kind, int64_t genes,
                               int64_t components, uint64_t seed);

// `marrow embedding-metrics`: how well an embedding keeps a label without training a classifier.
struct EmbeddingMetricsOptions {
  DataSpec data;
  models::ClassifierFeatures embedding;  // an obsm key (default X_marrow), or the PCA baseline fitted on the training part
  std::string label;
  SplitChoice split;                   // kNN: test cells vote among training cells
  int neighbours = 15;
  int64_t pca_components = 50;
};
// {"n_train", "n_test", "knn": classification metrics of the test cells, "ari": of k-means on every
// cell (k = number of labels) against the labels, "clusters"}.
nlohmann::json embedding_metrics(const EmbeddingMetricsOptions& options);
int64_t classify_predict(const ClassifyApplyOptions& options);

}  // namespace marrow::workflow
