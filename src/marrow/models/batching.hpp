#pragma once
// Rows of a sparse matrix as torch tensors, the one place cells become model inputs.
#include <torch/torch.h>

#include <span>

#include "marrow/data/csr_matrix.hpp"

namespace marrow::models {

// [rows, cols] float32 tensor of the given rows.
torch::Tensor dense_rows(const CsrMatrix& matrix, std::span<const int64_t> rows);
// The same rows as gene indices, per-row offsets and values (the sparse first-layer input).
struct SparseRows {
  torch::Tensor indices, offsets, values;
};
SparseRows sparse_rows(const CsrMatrix& matrix, std::span<const int64_t> rows);
// [rows] float32 tensor of values[row].
torch::Tensor gather(const std::vector<double>& values, std::span<const int64_t> rows);
// [n, cols] float32 tensor of a dense row-major matrix's rows.
torch::Tensor dense_matrix_rows(const std::vector<float>& values, int64_t cols, std::span<const int64_t> rows);

}  // namespace marrow::models
