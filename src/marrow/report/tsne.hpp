#pragma once
// 2-D maps of cell embeddings for reports: exact t-SNE (van der Maaten and Hinton 2008) with
// per-cell perplexity calibration, early exaggeration, momentum and gains, started from the first
// two principal components (deterministic, and it keeps the global layout; Kobak and Berens 2019).
// Exact t-SNE costs O(n^2) per iteration, so callers map a sample of cells (a few thousand: seconds).
#include <cstdint>
#include <vector>

#include "marrow/data/csr_matrix.hpp"

namespace marrow::report {

struct TsneOptions {
  double perplexity = 30;
  int iterations = 750;
  int exaggeration_iterations = 250;
  double exaggeration = 12;
};

// data: n cells x d features; returns n x 2 coordinates (row-major). n < 3 gives zeros.
std::vector<float> tsne_2d(const DenseMatrix& data, const TsneOptions& options = {});

}  // namespace marrow::report
