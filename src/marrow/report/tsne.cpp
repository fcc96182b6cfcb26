#include "marrow/report/tsne.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>


namespace marrow::report {

namespace {

// Conditional affinities p(j|i) with each row's Gaussian width set by bisection so that its
// entropy equals log(perplexity); all rows are bisected together.
torch::Tensor conditional_affinities(const torch::Tensor& sq_dist, double perplexity) {
  const int64_t n = sq_dist.size(0);
  auto opts = sq_dist.options();
  torch::Tensor beta = torch::ones({n, 1}, opts), lo = torch::zeros({n, 1}, opts), hi = torch::full({n, 1}, INFINITY, opts);
  torch::Tensor off_diagonal = 1 - torch::eye(n, opts);
  // Subtracting each row's smallest distance leaves p(j|i) unchanged and keeps exp() from underflowing.
  torch::Tensor d = sq_dist - std::get<0>((sq_dist + torch::eye(n, opts) * 1e30).min(1, true));
  const double target = std::log(std::min(perplexity, static_cast<double>(n - 1) / 3.0 + 1.0));
  torch::Tensor p;
  for (int step = 0; step < 64; ++step) {
    p = torch::exp(-d * beta) * off_diagonal;
    torch::Tensor sum = p.sum(1, true).clamp_min(1e-30);
    torch::Tensor entropy = torch::log(sum) + beta * (d * p).sum(1, true) / sum;
    torch::Tensor too_flat = entropy > target;  // entropy too high: narrow the kernel (raise beta)
    lo = torch::where(too_flat, beta, lo);
    hi = torch::where(too_flat, hi, beta);
    beta = torch::where(torch::isinf(hi), beta * 2, (lo + hi) / 2);
  }
  return p / p.sum(1, true).clamp_min(1e-30);
}

}  // namespace

std::vector<float> tsne_2d(const DenseMatrix& data, const TsneOptions& options) {
  const int64_t n = data.rows;
  std::vector<float> out(static_cast<size_t>(n) * 2, 0.0f);
  if (n < 3) return out;
  torch::NoGradGuard no_grad;
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  torch::Tensor x = torch::from_blob(const_cast<float*>(data.values.data()), {n, data.cols}, torch::kFloat).to(torch::kFloat64);
  x = x - x.mean(0);
  torch::Tensor norms = (x * x).sum(1, true);
  torch::Tensor sq_dist = (norms + norms.t() - 2 * torch::mm(x, x.t())).clamp_min(0);
  torch::Tensor p = conditional_affinities(sq_dist, options.perplexity);
  p = ((p + p.t()) / (2.0 * static_cast<double>(n))).clamp_min(1e-12);

  // PCA initialisation scaled to a standard deviation of 1e-4 on the first axis.
  torch::Tensor v = std::get<2>(torch::linalg::svd(x, false, c10::nullopt));
  torch::Tensor y = torch::mm(x, v.narrow(0, 0, 2).t());
  y = y / y.select(1, 0).std() * 1e-4;
  torch::Tensor velocity = torch::zeros_like(y), gains = torch::ones_like(y);
  const double learning_rate = std::max(static_cast<double>(n) / options.exaggeration / 4.0, 50.0);
  torch::Tensor off_diagonal = 1 - torch::eye(n, f64);
  for (int it = 0; it < options.iterations; ++it) {
    bool early = it < options.exaggeration_iterations;
    torch::Tensor yn = (y * y).sum(1, true);
    torch::Tensor kernel = off_diagonal / (1 + (yn + yn.t() - 2 * torch::mm(y, y.t())).clamp_min(0));
    torch::Tensor q = kernel / kernel.sum();
    torch::Tensor w = ((early ? p * options.exaggeration : p) - q) * kernel;
    torch::Tensor grad = 4 * (w.sum(1, true) * y - torch::mm(w, y));
    // Delta-bar-delta gains: grow where the step keeps its direction, shrink where it flips.
    torch::Tensor same_sign = (grad > 0) == (velocity > 0);
    gains = torch::where(same_sign, gains * 0.8, gains + 0.2).clamp_min(0.01);
    velocity = (early ? 0.5 : 0.8) * velocity - learning_rate * gains * grad;
    y = y + velocity;
    y = y - y.mean(0);
  }
  torch::Tensor result = y.to(torch::kFloat).contiguous();
  std::copy(result.data_ptr<float>(), result.data_ptr<float>() + 2 * n, out.begin());
  return out;
}

}  // namespace marrow::report
