#pragma once
// Options of the autoencoder (models/autoencoder.hpp), kept free of torch headers so that the
// workflow and CLI layers can set them without paying for torch at compile time.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace marrow::models {

enum class ReconstructionLoss { Mse, Poisson, NegativeBinomial };
ReconstructionLoss parse_loss(const std::string& name);
const char* loss_name(ReconstructionLoss loss);

struct AutoencoderOptions {
  int64_t n_genes = 0;
  std::vector<int64_t> hidden{1024, 512};
  int64_t latent = 256;
  std::string activation = "relu";   // relu, gelu, elu, tanh
  std::string norm = "layernorm";    // layernorm, batchnorm, none
  double dropout = 0.1;
  double input_dropout = 0.0;        // masks input genes during training (denoising)
  ReconstructionLoss loss = ReconstructionLoss::Mse;

  nlohmann::json to_json() const;
  static AutoencoderOptions from_json(const nlohmann::json& json);
};

}  // namespace marrow::models
