// Strict Matrix Market reading (io/tenx.cpp): every malformed token, banner or size is refused with
// a marrow::Error naming the file, and the command line turns it into exit 2.
#include <filesystem>
#include <fstream>

#include "marrow/core/error.hpp"
#include "marrow/io/tenx.hpp"
#include "support.hpp"

namespace marrow {
namespace {

using test::fixture;

// A 10x directory with the fixture's 5 genes and 6 barcodes and `matrix` as its matrix.mtx.
class MtxDir {
 public:
  explicit MtxDir(const std::string& matrix) {
    for (const char* f : {"genes.tsv", "barcodes.tsv"})
      std::filesystem::copy_file(fixture(std::string("tenx_v2/") + f), dir_ / f);
    std::ofstream(dir_ / "matrix.mtx") << matrix;
  }
  std::string path() const { return dir_.path().string(); }

 private:
  test::TempDir dir_;
};

const char* kInteger = "%%MatrixMarket matrix coordinate integer general\n";
const char* kReal = "%%MatrixMarket matrix coordinate real general\n";

// The message of the Error reading `matrix` raises ("" when it reads without one).
std::string read_error(const std::string& matrix) {
  MtxDir dir(matrix);
  try {
    io::read_10x_mtx(dir.path());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_refused(const std::string& matrix, const std::string& words) {
  std::string message = read_error(matrix);
  EXPECT_NE(message.find(words), std::string::npos) << "matrix:\n" << matrix << "message: " << message;
  EXPECT_NE(message.find("matrix.mtx"), std::string::npos) << message;
}

TEST(MatrixMarket, WholeTokensOnly) {
  expect_refused(std::string(kInteger) + "5 6 1\n1 2 0x10\n", "cannot parse");
  expect_refused(std::string(kInteger) + "5 6 1\n1 2 1abc\n", "cannot parse");
  expect_refused(std::string(kReal) + "5 6 1\n1 2 1.5e\n", "cannot parse");
  expect_refused(std::string(kInteger) + "5 6 1\n1x 2 3\n", "cannot parse");
  expect_refused(std::string(kInteger) + "5 6 1\n1 2 3 4\n", "cannot parse");  // a 4th field
  expect_refused(std::string(kInteger) + "5 6 1\n1 2\n", "cannot parse");      // a missing value
  expect_refused("%%MatrixMarket matrix coordinate pattern general\n5 6 1\n1 2 3\n", "cannot parse");
  expect_refused(std::string(kInteger) + "5 6 1 7\n1 2 3\n", "bad size line");
  expect_refused(std::string(kInteger) + "5 6x 1\n1 2 3\n", "bad size line");
}

TEST(MatrixMarket, IntegerValuesWithinRange) {
  expect_refused(std::string(kInteger) + "5 6 1\n1 2 99999999999999999999999\n", "cannot parse");
  expect_refused(std::string(kInteger) + "5 6 1\n1 2 4294967296\n", "cannot parse");
  expect_refused(std::string(kInteger) + "5 6 1\n1 2 2.5\n", "cannot parse");
  expect_refused(std::string(kInteger) + "5 6 1\n99999999999999999999999 2 1\n", "cannot parse");
}

TEST(MatrixMarket, NonFiniteValuesRefused) {
  for (const char* v : {"inf", "-inf", "nan", "NaN", "infinity", "1e400"})
    expect_refused(std::string(kReal) + "5 6 1\n1 2 " + v + "\n", "cannot parse");
}

TEST(MatrixMarket, SymmetricBannersRefused) {
  for (const char* kind : {"symmetric", "skew-symmetric", "hermitian"})
    expect_refused(std::string("%%MatrixMarket matrix coordinate real ") + kind + "\n5 6 1\n1 2 3\n", "not supported");
  expect_refused("%%MatrixMarket matrix array real general\n5 6\n1\n", "coordinate");
  expect_refused("%%MatrixMarket matrix coordinate complex general\n5 6 1\n1 2 3 0\n", "complex");
  expect_refused("%%MatrixMarket matrix coordinate real\n5 6 1\n1 2 3\n", "bad Matrix Market header");
}

TEST(MatrixMarket, DuplicateEntryRefused) {
  expect_refused(std::string(kInteger) + "5 6 3\n1 2 3\n4 5 1\n1 2 3\n", "more than once");
}

TEST(MatrixMarket, ImpossibleEntryCountsRefusedBeforeAllocation) {
  expect_refused(std::string(kInteger) + "5 6 1000000000000\n1 2 3\n", "more than a 5 x 6 matrix holds");
  expect_refused(std::string(kInteger) + "5 6 -5\n1 2 3\n", "negative");
  expect_refused(std::string(kInteger) + "5 -6 1\n1 2 3\n", "negative");
}

TEST(MatrixMarket, PatternAndRealMatricesRead) {
  MtxDir pattern("%%MatrixMarket matrix coordinate pattern general\n%comment\n5 6 2\n1 2\n5 6\t\n");
  AnnData a = io::read_10x_mtx(pattern.path());
  ASSERT_EQ(a.X.nnz(), 2);
  std::vector<float> d = test::dense(a.X);
  EXPECT_EQ(d[1 * 5 + 0], 1.0F);  // cell 2, gene 1
  EXPECT_EQ(d[5 * 5 + 4], 1.0F);  // cell 6, gene 5
  MtxDir real(std::string(kReal) + "5 6 1\n2 3 -1.25e-1\n");
  EXPECT_EQ(test::dense(io::read_10x_mtx(real.path()).X)[2 * 5 + 1], -0.125F);
}

TEST(MatrixMarket, CommandLineExitTwoOnHugeHeader) {
  MtxDir dir(std::string(kInteger) + "5 6 1000000000000\n1 2 3\n");
  test::CommandResult r = test::run_marrow("inspect " + dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("marrow: error: "), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace marrow
