#pragma once
// Library-size normalisation and log1p on sparse data, as scanpy's normalize_total and log1p:
// x' = x * target_sum / total(cell) (cells with no counts stay zero), then log(1 + x').
#include <vector>

#include "marrow/data/csr_matrix.hpp"

namespace marrow::preprocess {

void normalize_total(CsrMatrix& matrix, double target_sum, const std::vector<double>& totals);
void normalize_total(CsrMatrix& matrix, double target_sum);
void log1p(CsrMatrix& matrix);

// Per-gene mean and variance (ddof = 1, as scanpy's _get_mean_var) over all rows, zeros included.
void gene_mean_var(const CsrMatrix& matrix, std::vector<double>& mean, std::vector<double>& var);

}  // namespace marrow::preprocess
