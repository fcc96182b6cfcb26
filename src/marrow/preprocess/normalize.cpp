#include "marrow/preprocess/normalize.hpp"

#include <algorithm>
#include <cmath>

namespace marrow::preprocess {

void normalize_total(CsrMatrix& matrix, double target_sum, const std::vector<double>& totals) {
  for (int64_t r = 0; r < matrix.rows; ++r) {
    double total = totals[r];
    if (total <= 0) continue;
    double factor = target_sum / total;
    for (auto k = matrix.indptr[r]; k < matrix.indptr[r + 1]; ++k)
      matrix.data[k] = static_cast<float>(matrix.data[k] * factor);
  }
}

void normalize_total(CsrMatrix& matrix, double target_sum) { normalize_total(matrix, target_sum, matrix.row_sums()); }

void log1p(CsrMatrix& matrix) {
  for (float& v : matrix.data) v = static_cast<float>(std::log1p(static_cast<double>(v)));
}

void GeneMoments::add(const CsrMatrix& block) {
  rows += static_cast<double>(block.rows);
  for (int64_t k = 0; k < block.nnz(); ++k) {
    double v = block.data[k];
    sum[block.indices[k]] += v;
    sum_sq[block.indices[k]] += v * v;
  }
}

void GeneMoments::mean_var(std::vector<double>& mean, std::vector<double>& var) const {
  const double n = rows;
  mean.assign(sum.size(), 0.0);
  var.assign(sum.size(), 0.0);
  for (size_t g = 0; g < sum.size(); ++g) {
    mean[g] = sum[g] / n;
    // E[x^2] - E[x]^2, then the unbiased correction n / (n - 1).
    double v = sum_sq[g] / n - mean[g] * mean[g];
    var[g] = n > 1 ? std::max(v, 0.0) * n / (n - 1) : 0.0;
  }
}

GeneMoments GeneMoments::subset(const std::vector<int32_t>& genes) const {
  GeneMoments m;
  m.rows = rows;
  for (int32_t g : genes) {
    m.sum.push_back(sum[g]);
    m.sum_sq.push_back(sum_sq[g]);
  }
  return m;
}

void gene_mean_var(const CsrMatrix& matrix, std::vector<double>& mean, std::vector<double>& var) {
  GeneMoments moments(matrix.cols);
  moments.add(matrix);
  moments.mean_var(mean, var);
}

}  // namespace marrow::preprocess
