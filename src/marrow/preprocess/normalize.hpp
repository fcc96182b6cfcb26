#pragma once
// Library-size normalisation and log1p on sparse data, as scanpy's normalize_total and log1p:
// x' = x * target_sum / total(cell) (cells with no counts stay zero), then log(1 + x').
#include <vector>

#include "marrow/data/csr_matrix.hpp"

namespace marrow::preprocess {

void normalize_total(CsrMatrix& matrix, double target_sum, const std::vector<double>& totals);
void normalize_total(CsrMatrix& matrix, double target_sum);
void log1p(CsrMatrix& matrix);

// Per-gene sums of values and of squares over rows (zeros included), added block by block so that
// data read in chunks gets the same statistics as data held whole.
struct GeneMoments {
  double rows = 0;
  std::vector<double> sum, sum_sq;
  explicit GeneMoments(int64_t genes = 0) : sum(genes, 0.0), sum_sq(genes, 0.0) {}
  void add(const CsrMatrix& block);  // block.cols == sum.size()
  // Mean and variance (ddof = 1, as scanpy's _get_mean_var).
  void mean_var(std::vector<double>& mean, std::vector<double>& var) const;
  // Keeps the given genes, in that order.
  GeneMoments subset(const std::vector<int32_t>& genes) const;
};

// Per-gene mean and variance (ddof = 1, as scanpy's _get_mean_var) over all rows, zeros included.
void gene_mean_var(const CsrMatrix& matrix, std::vector<double>& mean, std::vector<double>& var);

}  // namespace marrow::preprocess
