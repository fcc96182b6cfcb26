#include "marrow/preprocess/hvg.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "marrow/core/error.hpp"
#include "marrow/preprocess/loess.hpp"
#include "marrow/preprocess/normalize.hpp"

namespace marrow::preprocess {

SeuratV3Clipping::SeuratV3Clipping(std::vector<double> m, std::vector<double> v, double n, double span)
    : means(std::move(m)), variances(std::move(v)), cells(n) {
  std::vector<double> x, y;
  std::vector<size_t> varying;
  for (size_t g = 0; g < means.size(); ++g) {
    if (variances[g] > 0) {
      varying.push_back(g);
      x.push_back(std::log10(means[g]));
      y.push_back(std::log10(variances[g]));
    }
  }
  std::vector<double> fitted = loess_fit(x, y, span, 2);
  expected_sd.assign(means.size(), 0.0);
  for (size_t i = 0; i < varying.size(); ++i) expected_sd[varying[i]] = std::sqrt(std::pow(10.0, fitted[i]));
  clipped_sum.assign(means.size(), 0.0);
  clipped_sq.assign(means.size(), 0.0);
}

void SeuratV3Clipping::add(const CsrMatrix& counts) {
  const double root_n = std::sqrt(cells);
  for (int64_t k = 0; k < counts.nnz(); ++k) {
    int32_t g = counts.indices[k];
    double clip = expected_sd[g] * root_n + means[g];
    double v = std::min<double>(counts.data[k], clip);
    clipped_sum[g] += v;
    clipped_sq[g] += v * v;
  }
}

HvgScores SeuratV3Clipping::scores() const {
  HvgScores s;
  s.means = means;
  s.variances = variances;
  const double n = cells;
  s.score.assign(means.size(), std::nan(""));
  for (size_t g = 0; g < means.size(); ++g) {
    if (expected_sd[g] <= 0) continue;  // constant gene: nothing to rank
    double m = means[g];
    s.score[g] = (n * m * m + clipped_sq[g] - 2 * clipped_sum[g] * m) / ((n - 1) * expected_sd[g] * expected_sd[g]);
  }
  return s;
}

HvgScores seurat_v3_scores(const CsrMatrix& counts, double span) {
  std::vector<double> means, variances;
  gene_mean_var(counts, means, variances);
  SeuratV3Clipping clipping(std::move(means), std::move(variances), static_cast<double>(counts.rows), span);
  clipping.add(counts);
  return clipping.scores();
}

HvgScores seurat_scores(const CsrMatrix& log_normalised, int n_bins) {
  CsrMatrix expm1 = log_normalised;
  for (float& v : expm1.data) v = static_cast<float>(std::expm1(static_cast<double>(v)));
  std::vector<double> means, variances;
  gene_mean_var(expm1, means, variances);
  return seurat_scores_from_moments(std::move(means), std::move(variances), n_bins);
}

HvgScores seurat_scores_from_moments(std::vector<double> means, std::vector<double> variances, int n_bins) {
  HvgScores s;
  s.means = std::move(means);
  s.variances = std::move(variances);
  const auto genes = static_cast<int64_t>(s.means.size());
  std::vector<double> dispersion(genes), mean(genes);
  for (int64_t g = 0; g < genes; ++g) {
    double m = s.means[g] == 0 ? 1e-12 : s.means[g];
    double d = s.variances[g] / m;
    dispersion[g] = d == 0 ? std::nan("") : std::log(d);
    mean[g] = std::log1p(m);
  }
  // pandas.cut(mean, n_bins): equal-width, right-closed bins, the lowest edge moved down by 0.1%.
  double lo = *std::min_element(mean.begin(), mean.end()), hi = *std::max_element(mean.begin(), mean.end());
  std::vector<double> edges(n_bins + 1);
  for (int i = 0; i <= n_bins; ++i) edges[i] = lo + (hi - lo) * i / n_bins;
  if (hi > lo) edges[0] -= (hi - lo) * 0.001;
  else edges[0] -= 0.001 * std::max(std::abs(lo), 1.0), edges[n_bins] += 0.001 * std::max(std::abs(hi), 1.0);
  std::vector<int> bin(genes);
  for (int64_t g = 0; g < genes; ++g) {
    int b = static_cast<int>(std::lower_bound(edges.begin() + 1, edges.end(), mean[g]) - (edges.begin() + 1));
    bin[g] = std::clamp(b, 0, n_bins - 1);
  }
  std::vector<double> sum(n_bins, 0), sum_sq(n_bins, 0);
  std::vector<int64_t> count(n_bins, 0);
  for (int64_t g = 0; g < genes; ++g) {
    if (std::isnan(dispersion[g])) continue;
    sum[bin[g]] += dispersion[g];
    sum_sq[bin[g]] += dispersion[g] * dispersion[g];
    ++count[bin[g]];
  }
  std::vector<double> bin_mean(n_bins, std::nan("")), bin_std(n_bins, std::nan(""));
  for (int b = 0; b < n_bins; ++b) {
    if (count[b] == 0) continue;
    bin_mean[b] = sum[b] / count[b];
    if (count[b] > 1) {
      double var = (sum_sq[b] - count[b] * bin_mean[b] * bin_mean[b]) / (count[b] - 1);
      bin_std[b] = std::sqrt(std::max(var, 0.0));
    } else {  // scanpy: a bin with one gene gets std = its mean and mean = 0
      bin_std[b] = bin_mean[b];
      bin_mean[b] = 0;
    }
  }
  s.score.assign(genes, std::nan(""));
  for (int64_t g = 0; g < genes; ++g) s.score[g] = (dispersion[g] - bin_mean[bin[g]]) / bin_std[bin[g]];
  return s;
}

std::vector<int32_t> top_genes(const std::vector<double>& score, int64_t n_top) {
  std::vector<int32_t> order(score.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    bool an = !std::isfinite(score[a]), bn = !std::isfinite(score[b]);
    if (an != bn) return bn;
    if (an) return false;
    return score[a] > score[b];
  });
  order.resize(std::min<size_t>(order.size(), static_cast<size_t>(std::max<int64_t>(n_top, 0))));
  std::sort(order.begin(), order.end());
  return order;
}

}  // namespace marrow::preprocess
