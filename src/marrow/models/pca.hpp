#pragma once
// The baseline users reach for first, as a CellEncoder (models/encoder.hpp): log-normalise, the most variable genes
// (Seurat v3 on counts), standardise, and project on principal components, every step fitted on
// training cells only. Classifiers (`--embedding pca`) and `embedding-metrics` fit it on their
// training part; PcaEncoder::save writes one as a model file of kind "pca".
#include <torch/torch.h>

#include <string>

#include "marrow/models/encoder.hpp"
#include "marrow/preprocess/pipeline.hpp"

namespace marrow::models {

// The built-in baseline's features: truncated SVD of log-normalised expression, fitted on training
// cells (centred), as buffers so a classifier model carries it.
class PcaProjectionImpl : public torch::nn::Module {
 public:
  PcaProjectionImpl(int64_t genes, int64_t components);
  // Randomised SVD (Halko et al. 2011: oversampling 10, 4 power iterations) of centred rows.
  void fit(const torch::Tensor& data, uint64_t seed);
  torch::Tensor forward(const torch::Tensor& data);  // [n, genes] -> [n, components]

 private:
  torch::Tensor mean_, components_;
};
TORCH_MODULE(PcaProjection);

class PcaEncoder final : public CellEncoder {
 public:
  // Fits preprocessing (the `genes` most variable genes) and `components` principal components
  // (capped by the training cells and genes) on `train`.
  static std::unique_ptr<PcaEncoder> fit(const AnnData& train, int64_t genes, int64_t components, uint64_t seed);
  // From stored pieces (a model file of kind "pca", or a classifier's features).
  PcaEncoder(const std::string& path, nlohmann::json meta, preprocess::Preprocessor preprocessor, PcaProjection projection);

  const char* kind() const override { return "pca"; }
  int64_t width() const override { return components_; }
  std::vector<std::string> genes() const override { return preprocessor_.output_genes(); }
  std::string input_summary() const override { return preprocessor_.summary(); }
  DenseMatrix encode(const CellSource& cells) const override;

  // The scaled log-normalised expression the projection reads [cells, genes], and its projection.
  torch::Tensor expression(const AnnData& data) const;
  torch::Tensor project(const torch::Tensor& expression) const;

  const preprocess::Preprocessor& preprocessor() const { return preprocessor_; }
  PcaProjection& projection() { return projection_; }
  // Writes a model file of kind "pca" (metadata: preprocessing, components, plus `run`).
  void save(const std::string& path, nlohmann::json run) const;

 private:
  preprocess::Preprocessor preprocessor_;
  mutable PcaProjection projection_{nullptr};
  int64_t components_ = 0;
};

// The baseline's preprocessing: log-normalise, the `genes` most variable genes (seurat_v3), scale.
preprocess::Preprocessor fit_baseline_preprocessing(const AnnData& train, int64_t genes);
// What that preprocessing makes of every cell of `data`: scaled log-normalised expression [cells, genes]
// (the PCA baseline's input; the features of the highly-variable-genes baseline).
torch::Tensor scaled_expression(const preprocess::Preprocessor& preprocessor, const AnnData& data);

}  // namespace marrow::models
