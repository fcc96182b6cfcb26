#include "marrow/models/classifier_features.hpp"

namespace marrow::models {

namespace {
constexpr const char* kPcaName = "pca";
constexpr const char* kHvgName = "hvg";
constexpr const char* kGeneModelName = "exceiver";
constexpr const char* kAutoencoderName = "autoencoder";
}  // namespace

ClassifierFeatures ClassifierFeatures::from_option(const std::string& text) {
  if (text == kPcaName) return {FeatureKind::Pca, ""};
  if (text == kHvgName) return {FeatureKind::Hvg, ""};
  return {FeatureKind::Embedding, text};
}

ClassifierFeatures ClassifierFeatures::from_stored(const std::string& text) {
  if (text == kGeneModelName) return gene_model();
  if (text == kAutoencoderName) return autoencoder();
  return from_option(text);
}

std::string ClassifierFeatures::name() const {
  switch (kind) {
    case FeatureKind::Pca: return kPcaName;
    case FeatureKind::Hvg: return kHvgName;
    case FeatureKind::GeneModel: return kGeneModelName;
    case FeatureKind::Autoencoder: return kAutoencoderName;
    case FeatureKind::Embedding: break;
  }
  return obsm_key;
}

std::string ClassifierFeatures::describe() const {
  switch (kind) {
    case FeatureKind::Pca: return "the PCA baseline";
    case FeatureKind::Hvg: return "the scaled highly variable genes baseline";
    case FeatureKind::GeneModel: return "the fine-tuned gene model";
    case FeatureKind::Autoencoder: return "the fine-tuned autoencoder";
    case FeatureKind::Embedding: break;
  }
  return "obsm['" + obsm_key + "']";
}

}  // namespace marrow::models
