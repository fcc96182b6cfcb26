#pragma once
// The kind and metadata of a .marrow model file (models/model_file.hpp), readable without torch
// headers: what load_encoder and the commands that only inspect a model need.
#include <nlohmann/json.hpp>
#include <string>

namespace marrow::models {

inline constexpr const char* kModelFormat = "marrow-model/2";

struct ModelHeader {
  std::string kind;
  nlohmann::json meta;
};
// Reads the kind and metadata (validating the file); `expected_kind` empty accepts any kind.
ModelHeader read_model_header(const std::string& path, const std::string& expected_kind = "");

}  // namespace marrow::models
