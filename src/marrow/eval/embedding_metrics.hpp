#pragma once
// How well an embedding of cells keeps their labels, without training a classifier: the accuracy
// of k-nearest-neighbour voting (test cells vote among training cells), and the adjusted Rand
// index between a k-means clustering (k = number of labels) and the labels.
#include <cstdint>
#include <vector>

#include "marrow/data/csr_matrix.hpp"

namespace marrow::eval {

// Majority label of each test row's k nearest training rows (Euclidean; ties to the nearer
// neighbour's label). labels: class index per row (train rows must be >= 0).
std::vector<int> knn_predict(const DenseMatrix& x, const std::vector<int>& labels, const std::vector<int64_t>& train,
                             const std::vector<int64_t>& test, int k);

// k-means (k-means++ starts, Lloyd iterations) with `restarts` seeded starts; the lowest inertia wins.
std::vector<int> kmeans(const DenseMatrix& x, int k, uint64_t seed, int restarts = 5, int iterations = 100);

// Adjusted Rand index of two labelings of the same items (Hubert and Arabie 1985).
double adjusted_rand_index(const std::vector<int>& a, const std::vector<int>& b);

}  // namespace marrow::eval
