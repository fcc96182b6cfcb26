// Corrupt and oversized inputs (issue 15): HDF5 damage that crashes or hangs HDF5 itself, and headers
// that declare more data than the machine holds, end in one "marrow: error:" line and exit 2, never
// a signal, a hang or std::bad_alloc. The files are crafted at test time by
// tests/python/craft_corrupt.py (h5py), so nothing damaged is committed.
#include <sys/resource.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>

#include "support.hpp"

namespace marrow::test {
namespace {

class CorruptInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") != 0) return;
    dir_ = new TempDir();
    std::string command = "/usr/bin/python3 " + std::string(MARROW_SOURCE_DIR) + "/tests/python/craft_corrupt.py " +
                          dir_->path().string() + " --with-big >/dev/null 2>&1";
    crafted_ = std::system(command.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!crafted_) GTEST_SKIP() << "h5py (/usr/bin/python3) not available to craft the files; skipping";
  }
  static std::string file(const std::string& name) { return (*dir_) / name; }

  static inline TempDir* dir_ = nullptr;
  static inline bool crafted_ = false;
};

// Exit 2 and exactly one line, the error, which names the file.
void expect_one_error(const CommandResult& r, const std::string& path, const std::string& words) {
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(r.output.rfind("marrow: error: " + path + ": ", 0), 0u) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find(words), std::string::npos) << r.output;
}

int64_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  int64_t kb = 0;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

TEST_F(CorruptInput, FlippedByteInObsStringHeapIsAnErrorNotASegfault) {
  expect_one_error(run_marrow("inspect " + file("obs_string_flip.h5ad")), file("obs_string_flip.h5ad"), "corrupt HDF5 file");
}

TEST_F(CorruptInput, ZeroedHeapIsAnErrorNotAHang) {
  // HDF5 loops forever on this file; `timeout` turns a hang into exit 124, a failure here.
  auto r = run_marrow("inspect " + file("zeroed_heap.h5ad"), "timeout 60");
  expect_one_error(r, file("zeroed_heap.h5ad"), "corrupt HDF5 file");
}

// Peak resident memory of the largest child this process has waited for.
int64_t children_peak_kb() {
  rusage usage{};
  getrusage(RUSAGE_CHILDREN, &usage);
  return usage.ru_maxrss;
}

TEST_F(CorruptInput, StringsClaimingGigabytesAreRefusedQuickly) {
  // Each of 64 var strings claims 256 MB: read as claimed, HDF5 allocates and copies 32 GB (h5py
  // takes minutes and 17 GB). The strings of a dataset cannot be larger than their file.
  auto start = std::chrono::steady_clock::now();
  auto r = run_marrow("inspect " + file("string_claims.h5ad"), "timeout 120");
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  expect_one_error(r, file("string_claims.h5ad"), "/var: its variable-length strings claim more than");
  EXPECT_LT(seconds, 30.0);
  EXPECT_LT(children_peak_kb(), 1500 * 1024);
}

TEST_F(CorruptInput, HugeDenseMatrixNamesTheNeedAndStream) {
  TempDir out;
  auto r = run_marrow("preprocess --data " + file("dense_huge.h5ad") + " --out " + out / "p.h5ad", "timeout 120");
  expect_one_error(r, file("dense_huge.h5ad"), "needs 400.0 GB of memory");
  EXPECT_NE(r.output.find("--stream"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(out / "p.h5ad"));
}

TEST_F(CorruptInput, DataArraysOfThreeBillionNameTheNeed) {
  if (mem_available() > int64_t{26} * 1000 * 1000 * 1000)
    GTEST_SKIP() << "this machine has more than 26 GB available: 3*10^9 values would fit; skipping";
  auto r = run_marrow("inspect " + file("sparse_huge.h5ad"), "timeout 120");
  expect_one_error(r, file("sparse_huge.h5ad"), "needs 24.0 GB of memory");
  EXPECT_NE(r.output.find("--stream"), std::string::npos) << r.output;
  auto t = run_marrow("inspect " + file("tenx_huge.h5"), "timeout 120");
  expect_one_error(t, file("tenx_huge.h5"), "needs 24.0 GB of memory");
}

TEST_F(CorruptInput, InspectSummarisesADenseMatrixInRowBlocks) {
  // 20,000 x 4,000 float32 is 320 MB dense; read whole (plus its CSR copy) the peak would grow by
  // more than that over inspecting a tiny file.
  auto small = run_marrow("inspect " + fixture("dense_i32.h5ad"));
  ASSERT_EQ(small.exit_code, 0) << small.output;
  int64_t base = children_peak_kb();
  auto big = run_marrow("inspect " + file("dense_big.h5ad"));
  ASSERT_EQ(big.exit_code, 0) << big.output;
  EXPECT_NE(big.output.find("20,000 x 4,000"), std::string::npos) << big.output;
  EXPECT_NE(big.output.find("looks like raw counts"), std::string::npos) << big.output;
  EXPECT_LT(children_peak_kb() - base, 200 * 1024) << "peak grew from " << base << " kB";
}

}  // namespace
}  // namespace marrow::test
