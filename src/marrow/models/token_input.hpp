#pragma once
// How a gene model reads cells, as its model file records it: the gene vocabulary, the
// normalisation target and the token cap it was pretrained with. Embedding, imputation, fine-tuned
// classifiers and gene-incremental stages all read cells through this, so a model file written by
// any of them reads back the same way. Torch-free.
#include <nlohmann/json.hpp>
#include <string>

#include "marrow/data/anndata.hpp"
#include "marrow/data/vocabulary.hpp"
#include "marrow/models/exceiver_options.hpp"
#include "marrow/preprocess/gene_tokens.hpp"

namespace marrow::models {

struct TokenInput {
  GeneVocabulary vocabulary;
  double target_sum = 1e4;
  MaskingOptions masking;  // as pretrained

  // From the metadata of an exceiver model file (its "vocabulary", "target_sum" and "masking").
  static TokenInput from_meta(const nlohmann::json& meta, const std::string& source);
  preprocess::TokenCells tokenize(const AnnData& data, const AlignOptions& align = {}) const;
  // The masking that shows every kept token and queries nothing (embedding, classification).
  MaskingOptions whole_cells() const;
};

// The metadata of an exceiver model file that TokenInput::from_meta and the loaders read back.
nlohmann::json exceiver_meta(const ExceiverOptions& model, const GeneVocabulary& vocabulary, double target_sum,
                             const MaskingOptions& masking);

}  // namespace marrow::models
