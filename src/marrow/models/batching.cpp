#include "marrow/models/batching.hpp"

namespace marrow::models {

torch::Tensor dense_rows(const CsrMatrix& matrix, std::span<const int64_t> rows) {
  torch::Tensor out = torch::zeros({static_cast<int64_t>(rows.size()), matrix.cols});
  float* data = out.data_ptr<float>();
  for (size_t i = 0; i < rows.size(); ++i) {
    float* row = data + i * matrix.cols;
    int64_t r = rows[i];
    for (auto k = matrix.indptr[r]; k < matrix.indptr[r + 1]; ++k) row[matrix.indices[k]] = matrix.data[k];
  }
  return out;
}

SparseRows sparse_rows(const CsrMatrix& matrix, std::span<const int64_t> rows) {
  int64_t nnz = 0;
  for (int64_t r : rows) nnz += matrix.row_nnz(r);
  SparseRows out{torch::empty({nnz}, torch::kLong), torch::empty({static_cast<int64_t>(rows.size())}, torch::kLong),
                 torch::empty({nnz})};
  int64_t* index = out.indices.data_ptr<int64_t>();
  int64_t* offset = out.offsets.data_ptr<int64_t>();
  float* value = out.values.data_ptr<float>();
  int64_t k = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    offset[i] = k;
    for (auto j = matrix.indptr[rows[i]]; j < matrix.indptr[rows[i] + 1]; ++j, ++k) {
      index[k] = matrix.indices[j];
      value[k] = matrix.data[j];
    }
  }
  return out;
}

torch::Tensor gather(const std::vector<double>& values, std::span<const int64_t> rows) {
  torch::Tensor out = torch::empty({static_cast<int64_t>(rows.size())});
  float* data = out.data_ptr<float>();
  for (size_t i = 0; i < rows.size(); ++i) data[i] = static_cast<float>(values[rows[i]]);
  return out;
}

torch::Tensor dense_matrix_rows(const std::vector<float>& values, int64_t cols, std::span<const int64_t> rows) {
  torch::Tensor out = torch::empty({static_cast<int64_t>(rows.size()), cols});
  float* data = out.data_ptr<float>();
  for (size_t i = 0; i < rows.size(); ++i)
    std::copy(values.begin() + rows[i] * cols, values.begin() + (rows[i] + 1) * cols, data + i * cols);
  return out;
}

}  // namespace marrow::models
