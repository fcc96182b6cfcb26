#include "marrow/runtime/torch_runtime.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/api/include/torch/version.h>

#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "marrow/core/error.hpp"
#include "marrow/core/strings.hpp"

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

std::string check_device(const std::string& name) {
  if (name.empty() || name == "cpu") return "cpu";
  if (name.rfind("cuda", 0) != 0) fail("--device must be cpu, cuda or cuda:N, got '{}'", name);
  int64_t index = 0;
  if (name.size() > 4 && (name[4] != ':' || !parse_int64(name.substr(5), index) || index < 0))
    fail("--device must be cpu, cuda or cuda:N, got '{}'", name);
  if (!torch::cuda::is_available())
    fail("--device {}: this marrow's LibTorch has no CUDA support or sees no GPU (Debian's libtorch is built for CPU only); use --device cpu",
         name);
  if (index >= static_cast<int64_t>(torch::cuda::device_count()))
    fail("--device {}: there are {} CUDA device(s)", name, torch::cuda::device_count());
  return name.size() == 4 ? "cuda:0" : name;
}

std::string check_training_device(const std::string& name, bool bf16) {
  std::string device = check_device(name);
  if (bf16 && device == "cpu")
    fail("--bf16 needs --device cuda: this LibTorch's CPU kernels lack bfloat16 for attention masks and sparse input layers");
  return device;
}

}  // namespace marrow::runtime
