#include "marrow/preprocess/normalize.hpp"

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

void gene_mean_var(const CsrMatrix& matrix, std::vector<double>& mean, std::vector<double>& var) {
  const double n = static_cast<double>(matrix.rows);
  mean.assign(matrix.cols, 0.0);
  std::vector<double> sum_sq(matrix.cols, 0.0);
  for (int64_t k = 0; k < matrix.nnz(); ++k) {
    double v = matrix.data[k];
    mean[matrix.indices[k]] += v;
    sum_sq[matrix.indices[k]] += v * v;
  }
  var.assign(matrix.cols, 0.0);
  for (int64_t g = 0; g < matrix.cols; ++g) {
    mean[g] /= n;
    // E[x^2] - E[x]^2, then the unbiased correction n / (n - 1).
    double v = sum_sq[g] / n - mean[g] * mean[g];
    var[g] = n > 1 ? std::max(v, 0.0) * n / (n - 1) : 0.0;
  }
}

}  // namespace marrow::preprocess
