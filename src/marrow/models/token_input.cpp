#include "marrow/models/token_input.hpp"

#include "marrow/core/error.hpp"

namespace marrow::models {

TokenInput TokenInput::from_meta(const nlohmann::json& meta, const std::string& source) {
  TokenInput t;
  try {
    t.vocabulary = GeneVocabulary::from_json(meta.at("vocabulary"));
    t.target_sum = meta.at("target_sum").get<double>();
    t.masking.max_tokens = meta.at("masking").at("max_tokens").get<int64_t>();
    t.masking.mask_fraction = meta.at("masking").at("mask_fraction").get<double>();
    t.masking.unexpressed_ratio = meta.at("masking").at("unexpressed_ratio").get<double>();
  } catch (const nlohmann::json::exception& ex) {
    fail("{}: gene model metadata is incomplete: {}", source, ex.what());
  }
  return t;
}

preprocess::TokenCells TokenInput::tokenize(const AnnData& data, const AlignOptions& align) const {
  return preprocess::tokenize(data, vocabulary, target_sum, align);
}

MaskingOptions TokenInput::whole_cells() const {
  MaskingOptions whole = masking;
  whole.mask_fraction = 0;
  whole.unexpressed_ratio = 0;
  return whole;
}

nlohmann::json exceiver_meta(const ExceiverOptions& model, const GeneVocabulary& vocabulary, double target_sum,
                             const MaskingOptions& masking) {
  return {{"model", model.to_json()},
          {"vocabulary", vocabulary.to_json()},
          {"target_sum", target_sum},
          {"masking",
           {{"max_tokens", masking.max_tokens}, {"mask_fraction", masking.mask_fraction}, {"unexpressed_ratio", masking.unexpressed_ratio}}}};
}

}  // namespace marrow::models
