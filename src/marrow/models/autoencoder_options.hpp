#pragma once
// Options of the autoencoder (models/autoencoder.hpp), kept free of torch headers so that the
// workflow and CLI layers can set them without paying for torch at compile time. The choices are
// enums with one name table each (core/enum_names.hpp): the names are what the command line, configs
// and model files say.
#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "marrow/core/enum_names.hpp"
#include "marrow/models/layer_options.hpp"

namespace marrow::models {

// mse on log-normalised values; poisson or nb (negative binomial) on counts (also the gene model's).
enum class ReconstructionLoss { Mse, Poisson, NegativeBinomial };

// How the first layer reads cells: dense, sparse (stored values only), or auto (sparse below a
// measured density; choose_sparse in models/autoencoder.hpp). A model file records the choice made.
enum class InputLayer { Dense, Sparse, Auto };

struct AutoencoderOptions {
  int64_t n_genes = 0;
  std::vector<int64_t> hidden{1024, 512};
  int64_t latent = 256;
  Activation activation = Activation::Relu;
  Norm norm = Norm::LayerNorm;
  double dropout = 0.0;              // after each hidden layer (none: the measured recipe, docs/results.md)
  double input_dropout = 0.0;        // masks input genes during training (denoising)
  ReconstructionLoss loss = ReconstructionLoss::Mse;
  // Variational (`pretrain vae`, scVI-like): the encoder gives a Gaussian posterior (mean and log
  // variance), the decoder reads a sample of it, and the loss per cell is the count likelihood summed
  // over genes plus the KL divergence to N(0, I), whose weight rises linearly from 0 to 1 over
  // kl_warmup_steps training steps. The embedding is the posterior mean.
  bool variational = false;
  int64_t kl_warmup_steps = 0;
  // Batch covariate (`--batch-key`): its categories, given to the decoder one-hot (not to the
  // encoder, so embedding new cells needs no batch). Empty: none.
  std::string batch_key;
  std::vector<std::string> batch_categories;

  nlohmann::json to_json() const;
  static AutoencoderOptions from_json(const nlohmann::json& json);
};

}  // namespace marrow::models

namespace marrow {

template <>
struct EnumNames<models::ReconstructionLoss> {
  static constexpr const char* what = "loss";
  static constexpr std::array<std::pair<models::ReconstructionLoss, const char*>, 3> table{
      {{models::ReconstructionLoss::Mse, "mse"},
       {models::ReconstructionLoss::Poisson, "poisson"},
       {models::ReconstructionLoss::NegativeBinomial, "nb"}}};
};

template <>
struct EnumNames<models::InputLayer> {
  static constexpr const char* what = "input layer";
  static constexpr std::array<std::pair<models::InputLayer, const char*>, 3> table{
      {{models::InputLayer::Dense, "dense"}, {models::InputLayer::Sparse, "sparse"}, {models::InputLayer::Auto, "auto"}}};
};

}  // namespace marrow
