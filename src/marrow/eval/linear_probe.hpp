#pragma once
// A linear probe: multinomial logistic regression on frozen features (standardised with the
// training rows' mean and deviation, L2 penalty, full-batch L-BFGS), the standard read-out of how
// much a representation already knows about a label.
#include <torch/torch.h>

#include <vector>

namespace marrow::eval {

struct ProbeResult {
  double accuracy = 0;
  double balanced_accuracy = 0;  // mean recall over the classes present in the test rows
  int64_t n_train = 0, n_test = 0;
};

// x: [n, d] float features; y: class index in [0, n_classes) per row.
ProbeResult linear_probe(const torch::Tensor& train_x, const std::vector<int>& train_y, const torch::Tensor& test_x,
                         const std::vector<int>& test_y, int n_classes, double l2 = 1e-3, int iterations = 100);

}  // namespace marrow::eval
