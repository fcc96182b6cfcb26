#include "marrow/runtime/torch_runtime.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/api/include/torch/version.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace marrow::runtime {

void configure_threads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
}

int torch_threads() { return at::get_num_threads(); }

std::string torch_version() { return TORCH_VERSION; }

bool cuda_available() { return at::hasCUDA(); }

MatmulResult measure_matmul(int size, int repeats) {
  at::manual_seed(0);
  at::Tensor a = at::randn({size, size});
  at::Tensor b = at::randn({size, size});
  at::Tensor c = at::mm(a, b);  // warm-up: thread pools, page faults
  c = at::mm(a, b);
  MatmulResult result{size, repeats, 1e30, 0};
  for (int i = 0; i < repeats; ++i) {
    auto start = std::chrono::steady_clock::now();
    at::mm_out(c, a, b);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.best_seconds = std::min(result.best_seconds, seconds);
  }
  result.gflops = 2.0 * size * size * static_cast<double>(size) / result.best_seconds / 1e9;
  return result;
}

}  // namespace marrow::runtime
