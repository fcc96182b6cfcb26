#pragma once
// Options of the classifier heads (models/classifier.hpp), free of torch headers. The head, like
// the activation and normalisation it shares with the autoencoder (models/layer_options.hpp), is an
// enum with one name table (core/enum_names.hpp).
#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "marrow/core/enum_names.hpp"
#include "marrow/models/layer_options.hpp"

namespace marrow::models {

// linear (logistic regression), mlp, transformer or gcn (models/classifier.hpp).
enum class Head { Linear, Mlp, Transformer, Gcn };

struct ClassifierOptions {
  Head head = Head::Mlp;
  int64_t input_dim = 0;
  int64_t n_classes = 0;
  std::vector<int64_t> hidden{256};  // mlp
  Activation activation = Activation::Relu;
  Norm norm = Norm::LayerNorm;
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

namespace marrow {

template <>
struct EnumNames<models::Head> {
  static constexpr const char* what = "classifier head";
  static constexpr std::array<std::pair<models::Head, const char*>, 4> table{{{models::Head::Linear, "linear"},
                                                                             {models::Head::Mlp, "mlp"},
                                                                             {models::Head::Transformer, "transformer"},
                                                                             {models::Head::Gcn, "gcn"}}};
};

}  // namespace marrow
