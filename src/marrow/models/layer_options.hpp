#pragma once
// The layer choices every model of models/ shares (torch-free): the activation and normalisation
// of a hidden block (append_block in models/autoencoder.hpp), one enum each with its one name table
// (core/enum_names.hpp), so the autoencoder and the classifier heads parse and write them alike.
#include <array>
#include <utility>

#include "marrow/core/enum_names.hpp"

namespace marrow::models {

enum class Activation { Relu, Gelu, Elu, Tanh };
enum class Norm { LayerNorm, BatchNorm, None };

}  // namespace marrow::models

namespace marrow {

template <>
struct EnumNames<models::Activation> {
  static constexpr const char* what = "activation";
  static constexpr std::array<std::pair<models::Activation, const char*>, 4> table{{{models::Activation::Relu, "relu"},
                                                                                   {models::Activation::Gelu, "gelu"},
                                                                                   {models::Activation::Elu, "elu"},
                                                                                   {models::Activation::Tanh, "tanh"}}};
};

template <>
struct EnumNames<models::Norm> {
  static constexpr const char* what = "normalisation";
  static constexpr std::array<std::pair<models::Norm, const char*>, 3> table{
      {{models::Norm::LayerNorm, "layernorm"}, {models::Norm::BatchNorm, "batchnorm"}, {models::Norm::None, "none"}}};
};

}  // namespace marrow
