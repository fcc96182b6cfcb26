#pragma once
// Classifier heads on cell embeddings. Inputs are standardised with the training cells' mean and
// standard deviation, which the module keeps as buffers (saved with it).
#include <torch/torch.h>

#include "marrow/models/classifier_options.hpp"

namespace marrow::models {

class ClassifierImpl : public torch::nn::Module {
 public:
  explicit ClassifierImpl(ClassifierOptions options);
  // Sets the input standardisation from training features [n, input_dim].
  void fit_standardisation(const torch::Tensor& features);
  torch::Tensor forward(const torch::Tensor& features);  // logits [n, classes]
  const ClassifierOptions& options() const { return options_; }

 private:
  ClassifierOptions options_;
  torch::Tensor mean_, sd_;
  torch::nn::Sequential body{nullptr};
};
TORCH_MODULE(Classifier);

// The built-in baseline's features: truncated SVD of log-normalised expression, fitted on training
// cells (centred), as buffers so a classifier model carries it.
class PcaProjectionImpl : public torch::nn::Module {
 public:
  PcaProjectionImpl(int64_t genes, int64_t components);
  // Randomised SVD (Halko et al. 2011: oversampling 10, 4 power iterations) of centred rows.
  void fit(const torch::Tensor& data, uint64_t seed);
  torch::Tensor forward(const torch::Tensor& data);  // [n, genes] -> [n, components]

 private:
  torch::Tensor mean_, components_;
};
TORCH_MODULE(PcaProjection);

}  // namespace marrow::models
