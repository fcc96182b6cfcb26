#pragma once
// Classifier heads on cell embeddings. Inputs are standardised with the training cells' mean and
// standard deviation, which the module keeps as buffers (saved with it).
#include <torch/torch.h>

#include "marrow/models/classifier_options.hpp"

namespace marrow::models {

// Heads:
//   linear       multinomial logistic regression
//   mlp          hidden layers with normalisation, activation and dropout
//   transformer  self-attention over tokens cut from the embedding, read out from a class token
//   gcn          graph convolution (Kipf & Welling 2017) over a k-nearest-neighbour graph of cells.
//                Inductive and leak-free: the graph joins training cells only; a new cell is joined
//                to its k nearest training cells and never to other new cells, so predictions never
//                depend on other evaluated cells or their labels. Edges are weighted by symmetric
//                normalisation with self loops, D^-1/2 (A + I) D^-1/2, with the training cells'
//                degrees fixed by the training graph.
class ClassifierImpl : public torch::nn::Module {
 public:
  explicit ClassifierImpl(ClassifierOptions options);
  // Sets the input standardisation from training features [n, input_dim].
  void fit_standardisation(const torch::Tensor& features);
  // gcn only: keeps the (standardised) training cells and builds their graph.
  void set_training_cells(const torch::Tensor& features);
  // Logits [n, classes] of cells outside the training graph (evaluation, prediction).
  torch::Tensor forward(const torch::Tensor& features);
  // gcn: logits of every training cell on the training graph; other heads: forward(features).
  torch::Tensor forward_training(const torch::Tensor& features);
  const ClassifierOptions& options() const { return options_; }

 private:
  torch::Tensor standardise(const torch::Tensor& features) const { return (features - mean_) / sd_; }
  torch::Tensor transformer_logits(const torch::Tensor& x);
  // Two graph convolutions for `queries` joined to the training cells by (neighbours, weights).
  torch::Tensor gcn_logits(const torch::Tensor& query_x, const torch::Tensor& neighbours, bool queries_are_training);
  ClassifierOptions options_;
  torch::Tensor mean_, sd_;
  torch::nn::Sequential body{nullptr};
  // transformer
  torch::nn::Linear token_projection{nullptr}, readout{nullptr};
  torch::Tensor class_token, positions;
  torch::nn::TransformerEncoder encoder{nullptr};
  torch::nn::LayerNorm final_norm{nullptr};
  // gcn
  torch::nn::Linear gcn1{nullptr}, gcn2{nullptr};
  torch::nn::Dropout gcn_dropout{nullptr};
  torch::Tensor train_x_, train_neighbours_, train_weights_, train_degree_, train_offsets_;
};
TORCH_MODULE(Classifier);

}  // namespace marrow::models
