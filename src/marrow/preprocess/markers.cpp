#include "marrow/preprocess/markers.hpp"

#include <algorithm>
#include <cmath>

namespace marrow::preprocess {

std::vector<std::vector<RankedGene>> rank_markers(const CsrMatrix& values, const std::vector<int>& cls, int n_classes) {
  const size_t m = static_cast<size_t>(values.cols), k = static_cast<size_t>(n_classes);
  // Per class and column: sum and sum of squares (one sparse pass), then the rest by subtraction.
  std::vector<double> sum(k * m, 0.0), sq(k * m, 0.0), total(m, 0.0), total_sq(m, 0.0), size(k, 0.0);
  double labelled = 0;
  for (int64_t i = 0; i < values.rows; ++i) {
    int c = cls[static_cast<size_t>(i)];
    if (c < 0) continue;
    size[c] += 1, labelled += 1;
    for (int64_t q = values.indptr[i]; q < values.indptr[i + 1]; ++q) {
      size_t p = static_cast<size_t>(values.indices[q]);
      double v = values.data[q];
      sum[c * m + p] += v, sq[c * m + p] += v * v, total[p] += v, total_sq[p] += v * v;
    }
  }
  std::vector<std::vector<RankedGene>> ranked(k);
  for (size_t c = 0; c < k; ++c) {
    double n1 = size[c], n2 = labelled - size[c];
    if (n1 < 2 || n2 < 2) continue;
    for (size_t p = 0; p < m; ++p) {
      double m1 = sum[c * m + p] / n1, m2 = (total[p] - sum[c * m + p]) / n2;
      double v1 = std::max(sq[c * m + p] / n1 - m1 * m1, 0.0) * n1 / (n1 - 1);
      double v2 = std::max((total_sq[p] - sq[c * m + p]) / n2 - m2 * m2, 0.0) * n2 / (n2 - 1);
      double se = std::sqrt(v1 / n1 + v2 / n2);
      if (se > 0 && m1 > m2) ranked[c].push_back({(m1 - m2) / se, static_cast<int32_t>(p)});
    }
    // Ties by column, so the order never depends on the sort's implementation.
    std::sort(ranked[c].begin(), ranked[c].end(),
              [](const RankedGene& a, const RankedGene& b) { return a.t != b.t ? a.t > b.t : a.column < b.column; });
  }
  return ranked;
}

std::vector<int32_t> separating_genes(const std::vector<std::vector<RankedGene>>& ranked, int64_t count,
                                      const std::vector<uint8_t>& excluded) {
  std::vector<uint8_t> taken = excluded;
  std::vector<size_t> next(ranked.size(), 0);
  std::vector<int32_t> genes;
  bool any = true;
  while (static_cast<int64_t>(genes.size()) < count && any) {
    any = false;
    for (size_t c = 0; c < ranked.size() && static_cast<int64_t>(genes.size()) < count; ++c) {
      while (next[c] < ranked[c].size() && taken[static_cast<size_t>(ranked[c][next[c]].column)]) ++next[c];
      if (next[c] == ranked[c].size()) continue;
      int32_t g = ranked[c][next[c]++].column;
      taken[static_cast<size_t>(g)] = 1;
      genes.push_back(g);
      any = true;
    }
  }
  return genes;
}

}  // namespace marrow::preprocess
