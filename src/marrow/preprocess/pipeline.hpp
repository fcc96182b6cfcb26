#pragma once
// The preprocessing a model is trained with, fitted on training cells only and stored with the model
// so that new data gets exactly the same transform:
//   QC (cells: min genes, min/max counts; genes: min cells)  ->  library-size normalisation
//   (target sum, over the QC-kept genes)  ->  log1p  ->  highly variable gene subset  ->  optional
//   per-gene standardisation with clipping (applied when a dense batch is made).
// New data is aligned to the fitted gene list by name before the transform.
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "marrow/data/anndata.hpp"
#include "marrow/data/vocabulary.hpp"
#include "marrow/preprocess/hvg.hpp"
#include "marrow/preprocess/qc.hpp"
#include "marrow/preprocess/scale.hpp"

namespace marrow::preprocess {

struct PreprocessOptions {
  QcOptions qc;
  double target_sum = 1e4;
  bool log1p = true;
  HvgFlavor hvg = HvgFlavor::None;
  int64_t n_top_genes = 2000;
  bool scale = false;
  double scale_clip = 10.0;
};

// Training cells as blocks of rows of raw counts over `genes`, for fitting without holding them all:
// for_each hands every block to the visitor, once per call (fit makes two passes). Where several
// data-parallel ranks each visit their own share of the cells, `sum_over_ranks` sums a vector of
// statistics over them in place (every rank then fits the same preprocessor); empty = one process.
struct CountBlocks {
  std::vector<std::string> genes;
  std::string source;
  std::function<void(const std::function<void(const CsrMatrix&)>&)> for_each;
  std::function<void(std::vector<double>&)> sum_over_ranks;
};

class Preprocessor {
 public:
  // Fits on `train` (raw counts; cells of the training part only).
  static Preprocessor fit(const AnnData& train, const PreprocessOptions& options);
  // The same from blocks of training cells: a pass for cell QC and genes' cell counts (and the count
  // moments seurat_v3 needs), a pass for the normalised moments (HVG, scaling). Equals fit() on the
  // same cells up to the order of floating-point sums.
  static Preprocessor fit(const CountBlocks& train, const PreprocessOptions& options);

  const PreprocessOptions& options() const { return options_; }
  // Genes after QC, before HVG selection: the library size is summed over these.
  const GeneVocabulary& qc_genes() const { return qc_genes_; }
  // The genes the transform outputs (the model's input genes).
  const std::vector<std::string>& output_genes() const { return output_genes_; }
  bool scales() const { return options_.scale; }
  const GeneScaler& scaler() const { return scaler_; }

  // Cells passing the QC cell filters.
  std::vector<int64_t> qc_cells(const AnnData& data) const;
  // Aligns `data` (raw counts) by gene name and returns the log-normalised matrix over
  // output_genes() (sparse; standardisation, if any, is applied by scale_rows on dense blocks).
  CsrMatrix transform(const AnnData& data, const AlignOptions& align = {}) const;
  // What models train on: the log-normalised matrix as transform() gives it, the raw counts over the
  // same output genes, and each cell's library size (total counts over the QC-kept genes).
  struct ModelInput {
    CsrMatrix log_normalised;
    CsrMatrix counts;
    std::vector<double> library_size;
  };
  ModelInput model_input(const AnnData& data, const AlignOptions& align = {}) const;
  // The same for counts whose columns are already aligned: alignment.vocabulary_index maps each of
  // their columns to qc_genes() (or -1), as qc_genes().align gives it (blocks of one file share it).
  ModelInput model_input(const CsrMatrix& counts, const GeneAlignment& alignment) const;
  // Standardises dense rows over output_genes() in place (no-op without scaling).
  void scale_rows(float* values, int64_t rows) const;

  nlohmann::json to_json() const;
  static Preprocessor from_json(const nlohmann::json& json);
  std::string summary() const;

 private:
  // Library-size normalisation (to the given per-cell totals) and log1p, as configured.
  CsrMatrix normalise(const CsrMatrix& aligned_counts, const std::vector<double>& totals) const;
  PreprocessOptions options_;
  GeneVocabulary qc_genes_;
  std::vector<int32_t> output_columns_;  // positions in qc_genes_
  std::vector<std::string> output_genes_;
  GeneScaler scaler_;
};

}  // namespace marrow::preprocess
