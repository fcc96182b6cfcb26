#pragma once
// Options of the classifier heads (models/classifier.hpp), free of torch headers.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace marrow::models {

struct ClassifierOptions {
  std::string head = "mlp";  // linear (logistic regression) or mlp
  int64_t input_dim = 0;
  int64_t n_classes = 0;
  std::vector<int64_t> hidden{256};  // mlp
  std::string activation = "relu";
  std::string norm = "layernorm";
  double dropout = 0.1;  // mlp: the seed found 0 overfits

  nlohmann::json to_json() const;
  static ClassifierOptions from_json(const nlohmann::json& json);
};

}  // namespace marrow::models
