#pragma once
// Per-gene standardisation as scanpy's scale: (x - mean) / sd with sd from ddof = 1 (genes with
// sd 0 are left unscaled), then clipped to [-clip, clip]. The statistics are fitted on training
// cells and stored with the model.
#include <vector>

#include "marrow/data/csr_matrix.hpp"

namespace marrow::preprocess {

struct GeneScaler {
  std::vector<double> mean, sd;
  double clip = 10.0;  // <= 0: no clipping

  static GeneScaler fit(const CsrMatrix& matrix, double clip);
  static GeneScaler from_moments(const std::vector<double>& mean, const std::vector<double>& var, double clip);
  // Standardises a dense row-major block of rows x mean.size() values in place.
  void apply(float* values, int64_t rows) const;
};

}  // namespace marrow::preprocess
