#include <nlohmann/json.hpp>

#include "marrow/core/error.hpp"
#include "marrow/io/h5ad_reader.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "support.hpp"

namespace marrow {
namespace {

using test::fixture;

io::H5adAdditions sample_additions() {
  io::H5adAdditions add;
  DenseMatrix emb{6, 3, {}};
  for (int i = 0; i < 18; ++i) emb.values.push_back(i / 4.0f);
  add.obsm["X_marrow"] = emb;
  DenseMatrix genes{5, 2, {}};
  for (int i = 0; i < 10; ++i) genes.values.push_back(static_cast<float>(i));
  add.varm["gene_embedding"] = genes;
  add.obs_columns.push_back(Column::make_categorical("predicted", {"B", "B", "T", "T", "NK", "T"}, {"B", "NK", "T"}));
  add.obs_columns.push_back(Column::make_floats("p_T", {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}));
  add.uns["marrow"] = {{"model", "test"},       {"epochs", 3},
                       {"lr", 0.001},           {"resumed", true},
                       {"classes", {"B", "NK", "T"}}, {"sizes", {1024, 512, 256}},
                       {"nested", {{"seed", 7}}}};
  return add;
}

void expect_additions(const AnnData& back) {
  EXPECT_EQ(back.obs.require("predicted").text(4), "NK");
  EXPECT_DOUBLE_EQ(back.obs.require("p_T").number(2), 0.3);
  EXPECT_EQ(test::dense(back.X), test::fixture_dense());
}

TEST(H5adWriter, NewFileRoundTripsThroughOurReader) {
  test::TempDir dir;
  AnnData a = io::read_h5ad(fixture("csr_f32.h5ad"));
  std::string out = dir / "new.h5ad";
  io::write_h5ad(out, a, sample_additions());
  AnnData back = io::read_h5ad(out);
  expect_additions(back);
  for (const auto& column : a.obs.columns) {
    const Column& other = back.obs.require(column.name);
    EXPECT_EQ(other.kind, column.kind) << column.name;
    for (size_t i = 0; i < column.size(); ++i) EXPECT_EQ(other.text(i), column.text(i)) << column.name;
  }
  io::H5adLayout layout = io::read_h5ad_layout(out);
  EXPECT_EQ(layout.obsm, std::vector<std::string>{"X_marrow"});
  EXPECT_EQ(layout.varm, std::vector<std::string>{"gene_embedding"});
  EXPECT_EQ(layout.uns, std::vector<std::string>{"marrow"});
  EXPECT_FALSE(std::filesystem::exists(out + ".tmp." + std::to_string(getpid())));
}

TEST(H5adWriter, CopyKeepsTheInputAndAdds) {
  test::TempDir dir;
  std::string out = dir / "copy.h5ad";
  io::write_h5ad_with_additions(fixture("csr_f32.h5ad"), out, sample_additions());
  AnnData back = io::read_h5ad(out);
  expect_additions(back);
  EXPECT_EQ(back.obs.require("name").strings[5], "f");  // original column kept
  io::H5adLayout layout = io::read_h5ad_layout(out);
  EXPECT_TRUE(layout.has_raw);
  EXPECT_EQ(layout.layers, std::vector<std::string>{"counts"});
  // Writing again replaces rather than duplicates.
  io::write_h5ad_with_additions(out, dir / "copy2.h5ad", sample_additions());
  AnnData twice = io::read_h5ad(dir / "copy2.h5ad");
  EXPECT_EQ(twice.obs.columns.size(), back.obs.columns.size());
}

TEST(H5adWriter, LegacyInputIsRewrittenInTheCurrentEncoding) {
  test::TempDir dir;
  std::string out = dir / "from_legacy.h5ad";
  io::write_h5ad_with_additions(fixture("legacy_06.h5ad"), out, sample_additions());
  AnnData back = io::read_h5ad(out);
  expect_additions(back);
  EXPECT_EQ(io::read_h5ad_layout(out).encoding, "anndata>=0.7");
}

TEST(H5adWriter, MismatchedAdditionFailsAndWritesNothing) {
  test::TempDir dir;
  io::H5adAdditions add;
  add.obsm["X_bad"] = DenseMatrix{4, 2, std::vector<float>(8, 0.f)};
  std::string out = dir / "bad.h5ad";
  EXPECT_THROW(io::write_h5ad_with_additions(fixture("csr_f32.h5ad"), out, add), Error);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

// Python anndata (Debian's python3-anndata) must read what marrow writes, with the same values.
TEST(H5adWriter, WritesFilesPythonReads) {
  if (std::system("/usr/bin/python3 -c 'import anndata' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "Python anndata not installed (/usr/bin/python3 with python3-anndata); skipping";
  test::TempDir dir;
  AnnData a = io::read_h5ad(fixture("csr_f32.h5ad"));
  io::write_h5ad(dir / "new.h5ad", a, sample_additions());
  io::write_h5ad_with_additions(fixture("csr_f32.h5ad"), dir / "copy.h5ad", sample_additions());
  std::string script = std::string(MARROW_SOURCE_DIR) + "/tests/python/check_written.py";
  for (const char* mode : {"new", "copy"}) {
    std::string command = "/usr/bin/python3 " + script + " " + (dir / (std::string(mode) + ".h5ad")) + " " + mode + " 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    std::string output;
    char buffer[512];
    while (fgets(buffer, sizeof buffer, pipe)) output += buffer;
    int status = pclose(pipe);
    EXPECT_EQ(WEXITSTATUS(status), 0) << mode << ": " << output;
  }
}

}  // namespace
}  // namespace marrow
