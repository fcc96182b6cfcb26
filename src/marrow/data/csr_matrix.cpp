#include "marrow/data/csr_matrix.hpp"

#include <algorithm>
#include <numeric>

#include "marrow/core/error.hpp"

namespace marrow {

void CsrMatrix::validate() const {
  if (rows < 0 || cols < 0) fail("sparse matrix has a negative dimension ({} x {})", rows, cols);
  if (static_cast<int64_t>(indptr.size()) != rows + 1)
    fail("sparse matrix indptr has {} entries, expected rows + 1 = {}", indptr.size(), rows + 1);
  if (indices.size() != data.size())
    fail("sparse matrix has {} indices but {} values", indices.size(), data.size());
  if (indptr.front() != 0 || indptr.back() != nnz())
    fail("sparse matrix indptr must run from 0 to nnz = {} (found {} .. {})", nnz(), indptr.front(), indptr.back());
  for (int64_t r = 0; r < rows; ++r)
    if (indptr[r + 1] < indptr[r]) fail("sparse matrix indptr decreases at row {}", r);
  for (int32_t c : indices)
    if (c < 0 || c >= cols) fail("sparse matrix column index {} outside [0, {})", c, cols);
}

void CsrMatrix::sort_indices() {
  std::vector<std::pair<int32_t, float>> buffer;
  for (int64_t r = 0; r < rows; ++r) {
    auto begin = indptr[r], end = indptr[r + 1];
    if (std::is_sorted(indices.begin() + begin, indices.begin() + end)) continue;
    buffer.clear();
    for (auto k = begin; k < end; ++k) buffer.emplace_back(indices[k], data[k]);
    std::sort(buffer.begin(), buffer.end());
    for (auto k = begin; k < end; ++k) std::tie(indices[k], data[k]) = buffer[k - begin];
  }
}

CsrMatrix CsrMatrix::select_rows(std::span<const int64_t> selected) const {
  CsrMatrix out;
  out.rows = static_cast<int64_t>(selected.size());
  out.cols = cols;
  out.indptr.assign(1, 0);
  out.indptr.reserve(selected.size() + 1);
  int64_t total = 0;
  for (int64_t r : selected) total += row_nnz(r);
  out.indices.reserve(total);
  out.data.reserve(total);
  for (int64_t r : selected) {
    out.indices.insert(out.indices.end(), indices.begin() + indptr[r], indices.begin() + indptr[r + 1]);
    out.data.insert(out.data.end(), data.begin() + indptr[r], data.begin() + indptr[r + 1]);
    out.indptr.push_back(static_cast<int64_t>(out.data.size()));
  }
  return out;
}

CsrMatrix CsrMatrix::remap_columns(std::span<const int32_t> new_column, int64_t new_cols) const {
  if (static_cast<int64_t>(new_column.size()) != cols) fail("internal: column map has {} entries for {} columns", new_column.size(), cols);
  CsrMatrix out;
  out.rows = rows;
  out.cols = new_cols;
  out.indptr.assign(1, 0);
  out.indptr.reserve(rows + 1);
  bool monotone = true;  // the map keeps order: no per-row sort needed
  int32_t last = -1;
  for (int32_t c : new_column) {
    if (c < 0) continue;
    if (c <= last) monotone = false;
    last = c;
  }
  std::vector<std::pair<int32_t, float>> buffer;
  for (int64_t r = 0; r < rows; ++r) {
    size_t row_start = out.indices.size();
    for (auto k = indptr[r]; k < indptr[r + 1]; ++k) {
      int32_t c = new_column[indices[k]];
      if (c < 0) continue;
      out.indices.push_back(c);
      out.data.push_back(data[k]);
    }
    if (!monotone) {
      buffer.clear();
      for (size_t k = row_start; k < out.indices.size(); ++k) buffer.emplace_back(out.indices[k], out.data[k]);
      std::sort(buffer.begin(), buffer.end());
      for (size_t k = row_start; k < out.indices.size(); ++k) std::tie(out.indices[k], out.data[k]) = buffer[k - row_start];
    }
    out.indptr.push_back(static_cast<int64_t>(out.indices.size()));
  }
  return out;
}

CsrMatrix CsrMatrix::transpose() const {
  CsrMatrix out;
  out.rows = cols;
  out.cols = rows;
  out.indptr.assign(cols + 1, 0);
  for (int32_t c : indices) ++out.indptr[c + 1];
  std::partial_sum(out.indptr.begin(), out.indptr.end(), out.indptr.begin());
  out.indices.resize(nnz());
  out.data.resize(nnz());
  std::vector<int64_t> cursor(out.indptr.begin(), out.indptr.end() - 1);
  for (int64_t r = 0; r < rows; ++r) {
    for (auto k = indptr[r]; k < indptr[r + 1]; ++k) {
      int64_t dest = cursor[indices[k]]++;
      out.indices[dest] = static_cast<int32_t>(r);
      out.data[dest] = data[k];
    }
  }
  return out;
}

std::vector<double> CsrMatrix::row_sums() const {
  std::vector<double> sums(rows, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (auto k = indptr[r]; k < indptr[r + 1]; ++k) sums[r] += data[k];
  return sums;
}

std::vector<double> CsrMatrix::col_sums() const {
  std::vector<double> sums(cols, 0.0);
  for (int64_t k = 0; k < nnz(); ++k) sums[indices[k]] += data[k];
  return sums;
}

std::vector<int64_t> CsrMatrix::row_nnz_counts() const {
  std::vector<int64_t> counts(rows);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t n = 0;
    for (auto k = indptr[r]; k < indptr[r + 1]; ++k) n += data[k] != 0.0f;
    counts[r] = n;
  }
  return counts;
}

std::vector<int64_t> CsrMatrix::col_nnz_counts() const {
  std::vector<int64_t> counts(cols, 0);
  for (int64_t k = 0; k < nnz(); ++k) counts[indices[k]] += data[k] != 0.0f;
  return counts;
}

void CsrMatrix::to_dense(int64_t begin, int64_t end, float* out) const {
  std::fill(out, out + (end - begin) * cols, 0.0f);
  for (int64_t r = begin; r < end; ++r) {
    float* row = out + (r - begin) * cols;
    for (auto k = indptr[r]; k < indptr[r + 1]; ++k) row[indices[k]] = data[k];
  }
}

CsrMatrix CsrMatrix::from_csc(int64_t n_rows, int64_t n_cols, const std::vector<int64_t>& col_ptr,
                              const std::vector<int32_t>& row_index, const std::vector<float>& values) {
  // A CSC matrix's arrays are the CSR arrays of its transpose.
  CsrMatrix transposed;
  transposed.rows = n_cols;
  transposed.cols = n_rows;
  transposed.indptr = col_ptr;
  transposed.indices = row_index;
  transposed.data = values;
  transposed.validate();
  CsrMatrix out = transposed.transpose();
  return out;
}

CsrMatrix CsrMatrix::from_dense(int64_t n_rows, int64_t n_cols, const float* values) {
  CsrMatrix out;
  out.rows = n_rows;
  out.cols = n_cols;
  out.indptr.assign(1, 0);
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t c = 0; c < n_cols; ++c) {
      float v = values[r * n_cols + c];
      if (v != 0.0f) {
        out.indices.push_back(static_cast<int32_t>(c));
        out.data.push_back(v);
      }
    }
    out.indptr.push_back(static_cast<int64_t>(out.data.size()));
  }
  return out;
}

}  // namespace marrow
