#pragma once
// The torch side of the runtime: thread count, versions, and a matmul probe. Kept apart so that
// only this file (and the model code) pays for the torch headers.
#include <string>

namespace marrow::runtime {

// Torch defaults to half the cores; marrow uses all of them unless told otherwise (threads > 0).
void configure_threads(int threads = 0);
int torch_threads();
std::string torch_version();
bool cuda_available();

// Checks a --device value: cpu, cuda or cuda:N. cuda fails with a clear error where this LibTorch
// was built without CUDA or the device does not exist. Returns the normalised name.
std::string check_device(const std::string& name);
// The same for training, and bfloat16 autocast only where it works: on CUDA (torch 1.13's CPU kernels
// lack bfloat16 for the attention mask and the sparse first layer).
std::string check_training_device(const std::string& name, bool bf16);

struct MatmulResult {
  int size = 0;
  int repeats = 0;
  double best_seconds = 0;
  double gflops = 0;
};
// Times a size x size float32 matmul on the CPU (best of `repeats` after a warm-up).
MatmulResult measure_matmul(int size, int repeats);

}  // namespace marrow::runtime
