#include "marrow/preprocess/scale.hpp"

#include <algorithm>
#include <cmath>

#include "marrow/preprocess/normalize.hpp"

namespace marrow::preprocess {

GeneScaler GeneScaler::fit(const CsrMatrix& matrix, double clip) {
  std::vector<double> mean, var;
  gene_mean_var(matrix, mean, var);
  return from_moments(mean, var, clip);
}

GeneScaler GeneScaler::from_moments(const std::vector<double>& mean, const std::vector<double>& var, double clip) {
  GeneScaler scaler;
  scaler.mean = mean;
  scaler.sd.resize(var.size());
  for (size_t g = 0; g < var.size(); ++g) scaler.sd[g] = var[g] > 0 ? std::sqrt(var[g]) : 1.0;
  scaler.clip = clip;
  return scaler;
}

void GeneScaler::apply(float* values, int64_t rows) const {
  const size_t genes = mean.size();
  for (int64_t r = 0; r < rows; ++r) {
    float* row = values + r * genes;
    for (size_t g = 0; g < genes; ++g) {
      double z = (row[g] - mean[g]) / sd[g];
      if (clip > 0) z = std::clamp(z, -clip, clip);
      row[g] = static_cast<float>(z);
    }
  }
}

}  // namespace marrow::preprocess
