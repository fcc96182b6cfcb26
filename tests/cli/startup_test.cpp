// Start-up: the commands that neither train nor embed run in `marrow` itself and never load torch;
// the others are handed to the torch program, which loads torch once (no second start for the BLAS
// environment). Counted with the dynamic loader's own trace (LD_DEBUG=libs).
#include <nlohmann/json.hpp>
#include <regex>

#include "marrow/runtime/blas_env.hpp"
#include "support.hpp"

namespace marrow {
namespace {

// How many times the run loaded libtorch_cpu (once per process that did), and its exit code.
std::pair<int, int> torch_loads(const std::string& args, const std::string& program = MARROW_BINARY) {
  test::CommandResult r =
      test::run_marrow(args, "env -u MARROW_BLAS_PREPARED -u OPENBLAS_CORETYPE LD_DEBUG=libs", program);
  static const std::regex loaded("calling init: [^\\n]*libtorch_cpu\\.so");
  auto begin = std::sregex_iterator(r.output.begin(), r.output.end(), loaded);
  return {static_cast<int>(std::distance(begin, std::sregex_iterator())), r.exit_code};
}

TEST(Startup, CommandsThatNeitherTrainNorEmbedLoadNoTorch) {
  test::TempDir dir;
  std::string sim = dir / "sim.h5ad";
  EXPECT_EQ(torch_loads("--version"), std::make_pair(0, 0));
  EXPECT_EQ(torch_loads("-q inspect --help"), std::make_pair(0, 0));
  EXPECT_EQ(torch_loads("-q simulate --cells 50 --genes 100 --out " + sim), std::make_pair(0, 0));
  EXPECT_EQ(torch_loads("-q inspect " + sim), std::make_pair(0, 0));
  EXPECT_EQ(torch_loads("-q split --data " + sim + " --out " + (dir / "split.json")), std::make_pair(0, 0));
  EXPECT_EQ(torch_loads("-q preprocess --data " + sim + " --out " + (dir / "pre.h5ad")), std::make_pair(0, 0));
  EXPECT_EQ(torch_loads("inspect " + (dir / "missing.h5ad")), std::make_pair(0, 2));
}

TEST(Startup, TorchCommandsLoadTorchOnce) {
  EXPECT_EQ(torch_loads("info"), std::make_pair(1, 0));
  EXPECT_EQ(torch_loads("--help"), std::make_pair(1, 0));  // lists every command
  EXPECT_EQ(torch_loads("--threads 1 -q embed --help"), std::make_pair(1, 0));
  EXPECT_EQ(torch_loads("no-such-command").second, 2);
}

// Started directly with the BLAS environment not yet right, the torch program still fixes it by
// starting itself again (the one case that loads torch twice).
TEST(Startup, TorchProgramStartedDirectlySetsItsOwnBlasEnvironment) {
  std::string expected = runtime::preferred_openblas_coretype(test::read_text("/proc/cpuinfo"));
  if (expected.empty()) GTEST_SKIP() << "CPU has neither AVX2 nor AVX-512: nothing to set";
  EXPECT_EQ(torch_loads("info", MARROW_TORCH_BINARY), std::make_pair(2, 0));
  test::CommandResult r = test::run_marrow("info --json", "env -u MARROW_BLAS_PREPARED -u OPENBLAS_CORETYPE",
                                           MARROW_TORCH_BINARY);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output)["blas"]["kernel"], expected);
}

}  // namespace
}  // namespace marrow
