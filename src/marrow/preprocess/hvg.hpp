#pragma once
// Highly variable gene selection, with scanpy's two common flavours:
//   seurat_v3  on raw counts: loess of log10 variance on log10 mean gives each gene an expected
//              variance; counts are clipped at mean + sqrt(n) * expected sd, and genes are ranked by
//              the variance of the standardised clipped counts (Stuart et al. 2019).
//   seurat     on log-normalised data: dispersion = var / mean of expm1(x), log-transformed and
//              z-scored within 20 equal-width bins of log1p(mean) (Satija et al. 2015).
// The flavour is an enum with one name table (core/enum_names.hpp): none, seurat_v3, seurat.
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "marrow/core/enum_names.hpp"
#include "marrow/data/csr_matrix.hpp"

namespace marrow::preprocess {

enum class HvgFlavor { None, SeuratV3, Seurat };

struct HvgScores {
  std::vector<double> means, variances;
  std::vector<double> score;  // normalised variance (v3) or normalised dispersion (seurat); NaN = unrankable
};

HvgScores seurat_v3_scores(const CsrMatrix& counts, double span = 0.3);
HvgScores seurat_scores(const CsrMatrix& log_normalised, int n_bins = 20);

// The same in steps, for cells seen in blocks (streaming: preprocess/pipeline.hpp).
// seurat_v3: the counts' mean and variance (first pass) give each gene's expected sd; a second pass
// adds each block's clipped counts; the scores follow from the sums.
struct SeuratV3Clipping {
  std::vector<double> means, variances, expected_sd;
  double cells = 0;
  std::vector<double> clipped_sum, clipped_sq;
  SeuratV3Clipping(std::vector<double> means, std::vector<double> variances, double cells, double span = 0.3);
  void add(const CsrMatrix& counts);
  HvgScores scores() const;
};
// seurat: from the mean and variance of expm1 of the log-normalised values.
HvgScores seurat_scores_from_moments(std::vector<double> means, std::vector<double> variances, int n_bins = 20);

// Columns of the n_top highest scores (NaN last, ties by column), returned in ascending column order.
std::vector<int32_t> top_genes(const std::vector<double>& score, int64_t n_top);

}  // namespace marrow::preprocess

namespace marrow {

template <>
struct EnumNames<preprocess::HvgFlavor> {
  static constexpr const char* what = "highly-variable-gene flavour";
  static constexpr std::array<std::pair<preprocess::HvgFlavor, const char*>, 3> table{
      {{preprocess::HvgFlavor::None, "none"}, {preprocess::HvgFlavor::SeuratV3, "seurat_v3"}, {preprocess::HvgFlavor::Seurat, "seurat"}}};
};

}  // namespace marrow
