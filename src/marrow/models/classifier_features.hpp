#pragma once
// What feeds a classifier's head, as a type: cell embeddings stored in the data (an obsm key, from
// `marrow embed`), the built-in baselines (fitted on the training cells and saved inside the
// classifier: PCA of the scaled highly variable genes, or those genes themselves), or a fine-tuned
// pretrained model (`marrow finetune`): a gene model, whose class query feeds the head, or an
// autoencoder (or VAE), whose embedding does.
// Parsed once where a name comes in (the command line's --embedding, a classifier file's metadata);
// the name written to files is "pca", "hvg", "exceiver", or the obsm key.
#include <string>

namespace marrow::models {

enum class FeatureKind { Embedding, Pca, Hvg, GeneModel, Autoencoder };

struct ClassifierFeatures {
  FeatureKind kind = FeatureKind::Embedding;
  std::string obsm_key = "X_marrow";  // kind Embedding: the embedding's obsm key

  // From --embedding: "pca" and "hvg" are the baselines, anything else an obsm key.
  static ClassifierFeatures from_option(const std::string& text);
  // From a classifier file's "features.embedding": also "exceiver" (a fine-tuned gene model) and
  // "autoencoder" (a fine-tuned autoencoder).
  static ClassifierFeatures from_stored(const std::string& text);
  static ClassifierFeatures gene_model() { return {FeatureKind::GeneModel, ""}; }
  static ClassifierFeatures autoencoder() { return {FeatureKind::Autoencoder, ""}; }
  // A pretrained model trained with the head (`marrow finetune`).
  bool is_finetuned() const { return kind == FeatureKind::GeneModel || kind == FeatureKind::Autoencoder; }
  // The stored name: "pca", "hvg", "exceiver", "autoencoder" or the obsm key.
  std::string name() const;
  // For logs and tables: "the PCA baseline", "the fine-tuned gene model", "obsm['X_marrow']".
  bool is_baseline() const { return kind == FeatureKind::Pca || kind == FeatureKind::Hvg; }
  std::string describe() const;
};

}  // namespace marrow::models
