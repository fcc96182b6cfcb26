#pragma once
// Cells x genes sparse matrix in compressed sparse row form: the layout of AnnData's X, of 10x HDF5
// (which stores genes x cells as CSC, the same bytes) and of every per-cell operation in marrow.
#include <cstdint>
#include <span>
#include <vector>

namespace marrow {

struct CsrMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<int64_t> indptr{0};  // rows + 1 offsets into indices/data
  std::vector<int32_t> indices;    // column of each stored value, ascending within a row
  std::vector<float> data;

  int64_t nnz() const { return static_cast<int64_t>(data.size()); }
  int64_t row_nnz(int64_t row) const { return indptr[row + 1] - indptr[row]; }
  double density() const { return rows && cols ? static_cast<double>(nnz()) / rows / cols : 0.0; }

  // Throws marrow::Error describing the first inconsistency (lengths, offsets, column range).
  void validate() const;
  // Sorts column indices within each row (some writers leave them unsorted).
  void sort_indices();

  CsrMatrix select_rows(std::span<const int64_t> rows) const;
  // Re-indexes columns: new_column[old] is the new column or -1 to drop it; the result has
  // new_cols columns and rows keep their values' relative order sorted by new column.
  CsrMatrix remap_columns(std::span<const int32_t> new_column, int64_t new_cols) const;
  CsrMatrix transpose() const;

  std::vector<double> row_sums() const;
  std::vector<double> col_sums() const;
  std::vector<int64_t> row_nnz_counts() const;
  std::vector<int64_t> col_nnz_counts() const;

  // Dense row-major copy of rows [begin, end) into out (size (end-begin) * cols), zero-filled.
  void to_dense(int64_t begin, int64_t end, float* out) const;

  // From compressed sparse columns of a rows x cols matrix.
  static CsrMatrix from_csc(int64_t rows, int64_t cols, const std::vector<int64_t>& col_ptr,
                            const std::vector<int32_t>& row_index, const std::vector<float>& values);
  static CsrMatrix from_dense(int64_t rows, int64_t cols, const float* values);
};

// Row-major dense float32 matrix (embeddings, obsm/varm blocks).
struct DenseMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> values;
  float& at(int64_t r, int64_t c) { return values[r * cols + c]; }
  float at(int64_t r, int64_t c) const { return values[r * cols + c]; }
};

}  // namespace marrow
