#pragma once
// A classifier as marrow saves it (model files of kind "classifier"): the head (models/classifier.hpp)
// together with what turns cells into its features (models/classifier_features.hpp): nothing for an
// obsm embedding, the fitted PCA projection for the baseline, the whole pretrained model (gene model
// or autoencoder) when fine-tuned.
// One module, so one file holds everything `classify evaluate|predict` and `zeroshot` need.
//
// Training (workflow/classify.cpp) builds a ClassifierBundle and fits it; SavedClassifier loads one
// and predicts new cells with the features it was trained on (its PCA preprocessing and projection,
// or its gene model's tokenisation), so new cells never need the training data.
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "marrow/data/anndata.hpp"
#include "marrow/models/autoencoder.hpp"
#include "marrow/models/classifier.hpp"
#include "marrow/models/classifier_features.hpp"
#include "marrow/models/exceiver.hpp"
#include "marrow/models/model_header.hpp"
#include "marrow/models/pca.hpp"
#include "marrow/models/token_input.hpp"
#include "marrow/preprocess/gene_tokens.hpp"

namespace marrow::models {

inline constexpr const char* kClassifierKind = "classifier";

struct ClassifierBundleImpl : torch::nn::Module {
  // pca_genes > 0: the baseline's projection (genes x components); gene_model or autoencoder: a
  // fine-tuned pretrained model.
  ClassifierBundleImpl(const ClassifierOptions& options, int64_t pca_genes, int64_t pca_components,
                       const std::optional<ExceiverOptions>& gene_model = std::nullopt,
                       const std::optional<AutoencoderOptions>& autoencoder = std::nullopt);
  Classifier classifier{nullptr};
  PcaProjection pca{nullptr};
  Exceiver exceiver{nullptr};
  Autoencoder autoencoder{nullptr};
  // The name prefix of the pretrained model's parameters ("exceiver." or "autoencoder."; empty
  // without one): fine-tuning trains them at a lower learning rate than the head.
  std::string pretrained_prefix() const;
};
TORCH_MODULE(ClassifierBundle);

// What a fine-tuned model reads: every cell of the data as its pretrained model takes cells in (the
// gene model: token sets over its vocabulary; the autoencoder: its fitted preprocessing), and its
// view of chosen cells: with gradients when training, or of every cell in batches (no gradients).
class EncoderInput {
 public:
  virtual ~EncoderInput() = default;
  virtual torch::Tensor features(ClassifierBundle& bundle, const std::vector<int64_t>& rows) const = 0;
  virtual torch::Tensor features_in_batches(ClassifierBundle& bundle) const = 0;
  // Cells per batch when scoring validation cells.
  virtual int64_t evaluation_batch() const = 0;
};
// The gene model's class-query representation of each cell, the cells read whole.
std::unique_ptr<EncoderInput> gene_model_input(const AnnData& data, const TokenInput& input);
// The autoencoder's embedding (variational: posterior mean) of each cell, read as its model file's
// metadata says ("preprocessing" fitted at pretraining, "input_layer").
std::unique_ptr<EncoderInput> autoencoder_input(const AnnData& data, const nlohmann::json& model_meta);

// The obsm embedding `key` of every cell, as a tensor; a clear error naming the keys there are.
torch::Tensor embedding_features(const AnnData& data, const std::string& key);

// Rows of a tensor, in the order given.
torch::Tensor take_rows(const torch::Tensor& t, const std::vector<int64_t>& rows);

// Each cell's index in `classes`; -1 for a missing label or a value not among them.
std::vector<int> class_indices(const Column& labels, const std::vector<std::string>& classes);

struct Prediction {
  std::vector<int> predicted;
  std::vector<float> probabilities;  // cells x classes, row-major
};
// Class probabilities (softmax) and the most probable class of each row of `features`.
Prediction predict(ClassifierBundle& bundle, const torch::Tensor& features);
// Two classes: a cell is the second class where its probability reaches `threshold` (a threshold
// chosen on validation cells, eval::choose_threshold); more classes: unchanged.
void apply_threshold(Prediction& p, double threshold);

// A classifier file, loaded.
class SavedClassifier {
 public:
  static SavedClassifier load(const std::string& path);

  const std::vector<std::string>& classes() const { return classes_; }
  const ModelHeader& header() const { return header_; }
  // The stored decision threshold of a binary classifier (absent: the most probable class).
  std::optional<double> threshold() const { return threshold_; }
  // The features the head reads, of every cell of `data`, made as at training time.
  torch::Tensor features(const AnnData& data);
  // Probabilities and calls (at the stored threshold, if any).
  Prediction predict(const AnnData& data);

 private:
  ModelHeader header_;
  ClassifierBundle bundle_{nullptr};
  std::vector<std::string> classes_;
  ClassifierFeatures features_;
  std::unique_ptr<PcaEncoder> pca_;                // the PCA baseline's preprocessing and projection
  std::optional<preprocess::Preprocessor> hvg_;    // the highly-variable-genes baseline's preprocessing
  std::optional<double> threshold_;
  std::optional<TokenInput> gene_model_input_;     // how a fine-tuned gene model reads cells
  nlohmann::json autoencoder_meta_;                // how a fine-tuned autoencoder reads cells
};

}  // namespace marrow::models
