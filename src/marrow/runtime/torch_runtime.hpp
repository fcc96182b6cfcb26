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

struct MatmulResult {
  int size = 0;
  int repeats = 0;
  double best_seconds = 0;
  double gflops = 0;
};
// Times a size x size float32 matmul on the CPU (best of `repeats` after a warm-up).
MatmulResult measure_matmul(int size, int repeats);

}  // namespace marrow::runtime
