#include "marrow/preprocess/qc.hpp"

#include <cmath>

#include "marrow/core/error.hpp"

namespace marrow::preprocess {

std::vector<int64_t> cells_passing(const CsrMatrix& counts, const QcOptions& options) {
  std::vector<int64_t> genes = counts.row_nnz_counts();
  std::vector<double> totals = counts.row_sums();
  std::vector<int64_t> rows;
  for (int64_t r = 0; r < counts.rows; ++r)
    if (genes[r] >= options.min_genes && totals[r] >= options.min_counts && totals[r] <= options.max_counts) rows.push_back(r);
  return rows;
}

std::vector<int32_t> genes_passing(const CsrMatrix& counts, const QcOptions& options) {
  return genes_passing(counts.col_nnz_counts(), options);
}

std::vector<int32_t> genes_passing(const std::vector<int64_t>& cells, const QcOptions& options) {
  std::vector<int32_t> cols;
  for (size_t g = 0; g < cells.size(); ++g)
    if (cells[g] >= options.min_cells) cols.push_back(static_cast<int32_t>(g));
  return cols;
}

void require_counts(const CsrMatrix& counts, const std::string& source) {
  for (int64_t r = 0; r < counts.rows; ++r) {
    for (auto k = counts.indptr[r]; k < counts.indptr[r + 1]; ++k) {
      float v = counts.data[k];
      if (std::isnan(v) || std::isinf(v) || v < 0)
        fail("{}: cell {} gene {} holds {}, but raw counts (finite, non-negative) are required here; "
             "use --matrix to pick a counts layer (e.g. layers/counts or raw/X)",
             source, r, counts.indices[k], v);
    }
  }
}

bool looks_like_counts(const CsrMatrix& matrix, int64_t max_rows) {
  int64_t end = std::min(matrix.rows, max_rows);
  for (int64_t k = 0; k < matrix.indptr[end]; ++k) {
    float v = matrix.data[k];
    if (!(v >= 0) || v != std::floor(v)) return false;
  }
  return true;
}

}  // namespace marrow::preprocess
