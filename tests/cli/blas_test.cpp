// BLAS speed is the program's job: with OPENBLAS_CORETYPE unset, marrow must pick the fast kernel
// itself. Two runs of the binary in one test: the user's default environment against a forced
// Prescott (SSE3) kernel, compared as a ratio of GFLOP/s so machine speed cancels out.
#include <nlohmann/json.hpp>

#include "marrow/runtime/blas_env.hpp"
#include "support.hpp"

namespace marrow {
namespace {

std::string cpuinfo() { return test::read_text("/proc/cpuinfo"); }

TEST(Blas, CoretypeFromCpuFlags) {
  EXPECT_EQ(runtime::preferred_openblas_coretype("flags\t\t: fpu sse avx2 avx512f\n"), "SkylakeX");
  EXPECT_EQ(runtime::preferred_openblas_coretype("flags\t\t: fpu sse avx2 fma\n"), "Haswell");
  EXPECT_EQ(runtime::preferred_openblas_coretype("flags\t\t: fpu sse sse2\n"), "");
  EXPECT_EQ(runtime::preferred_openblas_coretype("flags\t\t: avx512fp16\n"), "");  // whole words only
}

nlohmann::json info(const std::string& env) {
  test::CommandResult r = test::run_marrow("info --json --matmul 2048 --repeats 6",
                                           "env -u OPENBLAS_CORETYPE -u MARROW_BLAS_PREPARED -u OMP_NUM_THREADS " + env);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return nlohmann::json::parse(r.output);
}

TEST(Blas, SelectsTheFastKernelWithoutUserSettings) {
  std::string expected = runtime::preferred_openblas_coretype(cpuinfo());
  if (expected.empty()) GTEST_SKIP() << "CPU has neither AVX2 nor AVX-512: no faster kernel to select";
  // Alternate the two runs and keep the best of each, so that a passing load on the machine does
  // not decide the ratio.
  nlohmann::json fast = info(""), slow = info("OPENBLAS_CORETYPE=Prescott");
  for (int round = 0; round < 1; ++round) {
    nlohmann::json f = info(""), s = info("OPENBLAS_CORETYPE=Prescott");
    if (f["matmul"]["gflops"] > fast["matmul"]["gflops"]) fast = f;
    if (s["matmul"]["gflops"] > slow["matmul"]["gflops"]) slow = s;
  }
  ASSERT_TRUE(fast["blas"]["openblas"].get<bool>()) << "LibTorch is not using OpenBLAS: " << fast.dump();
  EXPECT_EQ(fast["blas"]["kernel"], expected);
  EXPECT_EQ(slow["blas"]["kernel"], "Prescott");
  EXPECT_EQ(fast["threads"], fast["hardware_threads"]) << "marrow must use every core";
  double ratio = fast["matmul"]["gflops"].get<double>() / slow["matmul"]["gflops"].get<double>();
  // Where AVX-512 runs at full width, the AVX-512 kernel does 4x the SSE3 kernel's flops per cycle,
  // and 3x is the bar. AMD Zen 4 (family 25 with avx512f) executes 512-bit operations as two 256-bit
  // halves: the peak ratio is 2x by construction there, so the bar is 2x (see docs/blas.md).
  bool double_pumped = cpuinfo().find("AuthenticAMD") != std::string::npos &&
                       cpuinfo().find("cpu family\t: 25") != std::string::npos;
  double bar = double_pumped ? 2.0 : 3.0;
  std::cout << "[ BLAS     ] " << fast["matmul"]["gflops"].get<double>() << " GFLOP/s with " << expected << " vs "
            << slow["matmul"]["gflops"].get<double>() << " with Prescott: " << ratio << "x (bar " << bar << "x)\n";
  EXPECT_GE(ratio, bar);
}

}  // namespace
}  // namespace marrow
