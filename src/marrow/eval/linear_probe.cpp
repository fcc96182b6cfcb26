#include "marrow/eval/linear_probe.hpp"

#include "marrow/core/error.hpp"

namespace marrow::eval {

ProbeResult linear_probe(const torch::Tensor& train_x, const std::vector<int>& train_y, const torch::Tensor& test_x,
                         const std::vector<int>& test_y, int n_classes, double l2, int iterations) {
  if (train_x.size(0) != static_cast<int64_t>(train_y.size()) || test_x.size(0) != static_cast<int64_t>(test_y.size()))
    fail("linear probe: features and labels differ in length");
  if (train_y.empty() || test_y.empty()) fail("linear probe: no training or no test rows");
  if (n_classes < 2) fail("linear probe: needs at least 2 classes, got {}", n_classes);
  torch::Tensor mean = train_x.mean(0, true), sd = train_x.std(0, true, true).clamp_min(1e-6);
  torch::Tensor x = ((train_x - mean) / sd).detach(), xt = ((test_x - mean) / sd).detach();
  torch::Tensor y = torch::tensor(std::vector<int64_t>(train_y.begin(), train_y.end()), torch::kInt64);
  torch::Tensor w = torch::zeros({x.size(1), n_classes}, torch::requires_grad());
  torch::Tensor b = torch::zeros({n_classes}, torch::requires_grad());
  torch::optim::LBFGS optimizer({w, b}, torch::optim::LBFGSOptions(1.0).max_iter(iterations).line_search_fn("strong_wolfe"));
  auto closure = [&] {
    optimizer.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(torch::mm(x, w) + b, y) + l2 * w.pow(2).sum();
    loss.backward();
    return loss;
  };
  optimizer.step(closure);
  torch::NoGradGuard no_grad;
  torch::Tensor predicted = (torch::mm(xt, w) + b).argmax(1);
  auto p = predicted.accessor<int64_t, 1>();
  std::vector<double> hit(static_cast<size_t>(n_classes), 0), total(static_cast<size_t>(n_classes), 0);
  double correct = 0;
  for (size_t i = 0; i < test_y.size(); ++i) {
    bool ok = p[static_cast<int64_t>(i)] == test_y[i];
    correct += ok, hit[test_y[i]] += ok, total[test_y[i]] += 1;
  }
  double recall = 0;
  int present = 0;
  for (int c = 0; c < n_classes; ++c)
    if (total[c] > 0) recall += hit[c] / total[c], ++present;
  return {correct / static_cast<double>(test_y.size()), recall / present, static_cast<int64_t>(train_y.size()),
          static_cast<int64_t>(test_y.size())};
}

}  // namespace marrow::eval
