#pragma once
// Options of the classifier heads (models/classifier.hpp), free of torch headers.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace marrow::models {

struct ClassifierOptions {
  std::string head = "mlp";  // linear (logistic regression), mlp, transformer or gcn
  int64_t input_dim = 0;
  int64_t n_classes = 0;
  std::vector<int64_t> hidden{256};  // mlp
  std::string activation = "relu";
  std::string norm = "layernorm";
  double dropout = 0.1;  // mlp: the seed found 0 overfits
  // transformer: the embedding cut into `tokens` equal pieces, each projected to `width`, plus a
  // learned class token and positions; `layers` encoder layers with `heads` heads.
  int64_t tokens = 8;
  int64_t width = 256;
  int64_t heads = 4;
  int64_t layers = 2;
  // gcn: k nearest training cells (cosine), two graph convolutions of width hidden[0].
  int64_t neighbours = 15;

  nlohmann::json to_json() const;
  static ClassifierOptions from_json(const nlohmann::json& json);
};

}  // namespace marrow::models
