#include "marrow/preprocess/scale.hpp"

#include <algorithm>
#include <cmath>

#include "marrow/preprocess/normalize.hpp"

namespace marrow::preprocess {

GeneScaler GeneScaler::fit(const CsrMatrix& matrix, double clip) {
  GeneScaler scaler;
  std::vector<double> var;
  gene_mean_var(matrix, scaler.mean, var);
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
