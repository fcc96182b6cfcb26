// kNN voting, k-means and the adjusted Rand index on hand-checkable cases.
#include <gtest/gtest.h>

#include <random>

#include "marrow/eval/embedding_metrics.hpp"

namespace marrow {
namespace {

TEST(EmbeddingMetrics, AdjustedRandIndexKnownValues) {
  EXPECT_DOUBLE_EQ(eval::adjusted_rand_index({0, 0, 1, 1}, {1, 1, 0, 0}), 1.0);  // same partition, other names
  // By hand: pairs together in both 1, expected 1 x 2 / 6 = 1/3, maximum (2 + 1) / 2: (1 - 1/3) / (3/2 - 1/3) = 4/7.
  EXPECT_NEAR(eval::adjusted_rand_index({0, 0, 1, 1}, {0, 0, 1, 2}), 4.0 / 7.0, 1e-12);
  // By hand: index 2, expected 6 x 6 / 15 = 2.4, maximum 6: (2 - 2.4) / (6 - 2.4) = -1/9.
  EXPECT_NEAR(eval::adjusted_rand_index({0, 0, 0, 1, 1, 1}, {0, 1, 0, 1, 0, 1}), -1.0 / 9.0, 1e-12);
}

// Three well separated clusters in 5 dimensions.
DenseMatrix clusters(std::vector<int>& label) {
  std::mt19937 rng(1);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  DenseMatrix x{90, 5, {}};
  for (int i = 0; i < 90; ++i) {
    label.push_back(i % 3);
    for (int j = 0; j < 5; ++j) x.values.push_back(noise(rng) + (j == i % 3 ? 4.0f : 0.0f));
  }
  return x;
}

TEST(EmbeddingMetrics, KMeansAndKnnRecoverSeparatedClusters) {
  std::vector<int> label;
  DenseMatrix x = clusters(label);
  EXPECT_DOUBLE_EQ(eval::adjusted_rand_index(eval::kmeans(x, 3, 0), label), 1.0);
  std::vector<int64_t> train, test;
  for (int64_t i = 0; i < 90; ++i) (i < 60 ? train : test).push_back(i);
  std::vector<int> predicted = eval::knn_predict(x, label, train, test, 5);
  for (size_t i = 0; i < test.size(); ++i) EXPECT_EQ(predicted[i], label[test[i]]);
  // Labels that the geometry does not carry give no agreement.
  std::vector<int> shuffled = label;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(3));
  EXPECT_LT(eval::adjusted_rand_index(eval::kmeans(x, 3, 0), shuffled), 0.2);
}

}  // namespace
}  // namespace marrow
