#include "marrow/eval/embedding_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "marrow/core/error.hpp"
#include "marrow/core/random.hpp"

namespace marrow::eval {

namespace {

double squared_distance(const float* a, const float* b, int64_t d) {
  double s = 0;
  for (int64_t j = 0; j < d; ++j) {
    double diff = static_cast<double>(a[j]) - b[j];
    s += diff * diff;
  }
  return s;
}

double choose2(double n) { return n * (n - 1) / 2; }

}  // namespace

std::vector<int> knn_predict(const DenseMatrix& x, const std::vector<int>& labels, const std::vector<int64_t>& train,
                             const std::vector<int64_t>& test, int k) {
  if (train.empty()) fail("kNN: no training cells");
  const int64_t d = x.cols;
  const size_t kk = std::min<size_t>(static_cast<size_t>(std::max(k, 1)), train.size());
  std::vector<int> predicted;
  std::vector<std::pair<double, int64_t>> dist(train.size());
  for (int64_t t : test) {
    for (size_t i = 0; i < train.size(); ++i) dist[i] = {squared_distance(&x.values[t * d], &x.values[train[i] * d], d), train[i]};
    std::partial_sort(dist.begin(), dist.begin() + static_cast<std::ptrdiff_t>(kk), dist.end());
    std::map<int, std::pair<int, size_t>> votes;  // label -> (count, rank of its nearest member)
    for (size_t i = 0; i < kk; ++i) {
      auto& v = votes.try_emplace(labels[dist[i].second], 0, i).first->second;
      ++v.first;
    }
    int best = -1;
    std::pair<int, size_t> best_vote{-1, 0};
    for (const auto& [label, vote] : votes)
      if (vote.first > best_vote.first || (vote.first == best_vote.first && vote.second < best_vote.second)) best = label, best_vote = vote;
    predicted.push_back(best);
  }
  return predicted;
}

std::vector<int> kmeans(const DenseMatrix& x, int k, uint64_t seed, int restarts, int iterations) {
  const int64_t n = x.rows, d = x.cols;
  if (k < 1 || n < k) fail("k-means: {} clusters for {} cells", k, n);
  Rng rng(seed);
  std::vector<int> best_assignment;
  double best_inertia = std::numeric_limits<double>::infinity();
  for (int restart = 0; restart < restarts; ++restart) {
    // k-means++: each new centre drawn with probability proportional to the squared distance.
    std::vector<float> centres;
    std::vector<double> nearest(static_cast<size_t>(n), std::numeric_limits<double>::infinity());
    int64_t first = static_cast<int64_t>(uniform_index(rng, static_cast<uint64_t>(n)));
    centres.insert(centres.end(), x.values.begin() + first * d, x.values.begin() + (first + 1) * d);
    for (int c = 1; c < k; ++c) {
      double total = 0;
      for (int64_t i = 0; i < n; ++i) {
        nearest[i] = std::min(nearest[i], squared_distance(&x.values[i * d], &centres[(c - 1) * d], d));
        total += nearest[i];
      }
      double target = uniform01(rng) * total, acc = 0;
      int64_t pick = n - 1;
      for (int64_t i = 0; i < n; ++i)
        if ((acc += nearest[i]) >= target) {
          pick = i;
          break;
        }
      centres.insert(centres.end(), x.values.begin() + pick * d, x.values.begin() + (pick + 1) * d);
    }
    std::vector<int> assignment(static_cast<size_t>(n), -1);
    double inertia = 0;
    for (int it = 0; it < iterations; ++it) {
      bool changed = false;
      inertia = 0;
      for (int64_t i = 0; i < n; ++i) {
        int best = 0;
        double best_d = std::numeric_limits<double>::infinity();
        for (int c = 0; c < k; ++c) {
          double dd = squared_distance(&x.values[i * d], &centres[c * d], d);
          if (dd < best_d) best_d = dd, best = c;
        }
        inertia += best_d;
        if (assignment[i] != best) assignment[i] = best, changed = true;
      }
      if (!changed) break;
      std::vector<double> sums(static_cast<size_t>(k * d), 0.0);
      std::vector<int64_t> sizes(static_cast<size_t>(k), 0);
      for (int64_t i = 0; i < n; ++i) {
        ++sizes[assignment[i]];
        for (int64_t j = 0; j < d; ++j) sums[assignment[i] * d + j] += x.values[i * d + j];
      }
      for (int c = 0; c < k; ++c)
        if (sizes[c] > 0)
          for (int64_t j = 0; j < d; ++j) centres[c * d + j] = static_cast<float>(sums[c * d + j] / static_cast<double>(sizes[c]));
    }
    if (inertia < best_inertia) best_inertia = inertia, best_assignment = assignment;
  }
  return best_assignment;
}

double adjusted_rand_index(const std::vector<int>& a, const std::vector<int>& b) {
  if (a.size() != b.size() || a.empty()) fail("adjusted Rand index: labelings of different lengths");
  std::map<std::pair<int, int>, double> table;
  std::map<int, double> rows, cols;
  for (size_t i = 0; i < a.size(); ++i) ++table[{a[i], b[i]}], ++rows[a[i]], ++cols[b[i]];
  double index = 0, sum_rows = 0, sum_cols = 0;
  for (const auto& [_, n] : table) index += choose2(n);
  for (const auto& [_, n] : rows) sum_rows += choose2(n);
  for (const auto& [_, n] : cols) sum_cols += choose2(n);
  double expected = sum_rows * sum_cols / choose2(static_cast<double>(a.size()));
  double maximum = (sum_rows + sum_cols) / 2;
  return maximum == expected ? 1.0 : (index - expected) / (maximum - expected);
}

}  // namespace marrow::eval
