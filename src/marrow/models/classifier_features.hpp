#pragma once
// What feeds a classifier's head, as a type: cell embeddings stored in the data (an obsm key, from
// `marrow embed`), the built-in baselines (fitted on the training cells and saved inside the
// classifier: PCA of the scaled highly variable genes, or those genes themselves), or a fine-tuned gene model (`marrow finetune`, whose class query feeds the head).
// Parsed once where a name comes in (the command line's --embedding, a classifier file's metadata);
// the name written to files is "pca", "hvg", "exceiver", or the obsm key.
#include <string>

namespace marrow::models {

enum class FeatureKind { Embedding, Pca, Hvg, GeneModel };

struct ClassifierFeatures {
  FeatureKind kind = FeatureKind::Embedding;
  std::string obsm_key = "X_marrow";  // kind Embedding: the embedding's obsm key

  // From --embedding: "pca" and "hvg" are the baselines, anything else an obsm key.
  static ClassifierFeatures from_option(const std::string& text);
  // From a classifier file's "features.embedding": also "exceiver" (a fine-tuned gene model).
  static ClassifierFeatures from_stored(const std::string& text);
  static ClassifierFeatures gene_model() { return {FeatureKind::GeneModel, ""}; }
  // The stored name: "pca", "hvg", "exceiver" or the obsm key.
  std::string name() const;
  // For logs and tables: "the PCA baseline", "the fine-tuned gene model", "obsm['X_marrow']".
  bool is_baseline() const { return kind == FeatureKind::Pca || kind == FeatureKind::Hvg; }
  std::string describe() const;
};

}  // namespace marrow::models
