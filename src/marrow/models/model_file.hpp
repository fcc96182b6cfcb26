#pragma once
// The .marrow model file: one file that holds a model's weights, its options, gene vocabulary,
// preprocessing and run metadata (marrow version, input checksum, split, seed). It is a LibTorch
// archive (zip) with a format tag, a kind ("autoencoder", "classifier", ...), a JSON metadata string
// and the module's parameters and buffers, with CRC-32 checksums of the header (kind and metadata)
// and of the weights. Loading checks the tag, kind and checksums and refuses non-finite weights, so
// a truncated, damaged or foreign file fails clearly instead of giving wrong results. Files of the
// older format without checksums (marrow-model/1) load with a warning. Files are written to a
// temporary name and renamed. model_header.hpp reads the kind and metadata without torch headers.
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "marrow/models/model_header.hpp"

namespace marrow::models {

void save_model(const std::string& path, const std::string& kind, const nlohmann::json& meta, torch::nn::Module& module);

// Loads the weights into a module built from the header's options.
void load_model_weights(const std::string& path, torch::nn::Module& module);

}  // namespace marrow::models
