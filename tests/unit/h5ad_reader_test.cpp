#include "marrow/core/error.hpp"
#include "marrow/io/h5ad_reader.hpp"
#include "support.hpp"

namespace marrow {
namespace {

using test::fixture;

void expect_fixture_obs(const AnnData& a, bool full_columns) {
  ASSERT_EQ(a.obs.index, (std::vector<std::string>{"c0", "c1", "c2", "c3", "c4", "c5"}));
  ASSERT_EQ(a.var.index, (std::vector<std::string>{"GeneA", "GeneB", "GeneC", "GeneD", "GeneE"}));
  const Column& type = a.obs.require("cell_type");
  EXPECT_EQ(type.kind, ColumnKind::Categorical);
  std::vector<std::string> values;
  for (size_t i = 0; i < type.size(); ++i) values.push_back(type.text(i));
  EXPECT_EQ(values, (std::vector<std::string>{"T", "B", "T", "NK", "B", "T"}));
  const Column& score = a.obs.require("score");
  EXPECT_EQ(score.kind, ColumnKind::Float);
  EXPECT_DOUBLE_EQ(score.number(5), 5.5);
  if (!full_columns) return;
  EXPECT_EQ(a.obs.require("count").kind, ColumnKind::Int);
  EXPECT_EQ(a.obs.require("count").ints, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(a.obs.require("flag").kind, ColumnKind::Bool);
  EXPECT_EQ(a.obs.require("flag").bools, (std::vector<uint8_t>{1, 0, 1, 0, 1, 0}));
  EXPECT_EQ(a.obs.require("name").kind, ColumnKind::String);
  EXPECT_EQ(a.obs.require("name").strings[3], "d");
  EXPECT_EQ(a.obs.require("patient").categories, (std::vector<std::string>{"p1", "p2", "p3"}));
}

class EveryEncoding : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryEncoding, ReadsTheSameMatrixAndLabels) {
  AnnData a = io::read_h5ad(fixture(GetParam()));
  EXPECT_EQ(a.n_cells(), 6);
  EXPECT_EQ(a.n_genes(), 5);
  EXPECT_EQ(test::dense(a.X), test::fixture_dense());
  bool full = GetParam() != "anndata_07.h5ad" && GetParam() != "legacy_06.h5ad";
  expect_fixture_obs(a, full);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EveryEncoding,
                         ::testing::Values("csr_f32.h5ad", "csc_f64.h5ad", "dense_i32.h5ad", "anndata_07.h5ad",
                                           "legacy_06.h5ad"));

TEST(H5adReader, LegacyCompoundRecordsKeepAllColumns) {
  AnnData a = io::read_h5ad(fixture("legacy_06.h5ad"));
  EXPECT_EQ(a.obs.require("count").ints, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(a.obs.require("name").strings[3], "d");
  EXPECT_EQ(a.obs.require("cell_type").categories, (std::vector<std::string>{"B", "NK", "T"}));
  EXPECT_EQ(a.var.require("gene_ids", "var").strings[0], "ENSG00000000000.1");
}

TEST(H5adReader, LayersAndRaw) {
  io::H5adReadOptions options;
  options.matrix = "layers/counts";
  AnnData layer = io::read_h5ad(fixture("csr_f32.h5ad"), options);
  auto expected = test::fixture_dense();
  for (auto& v : expected) v *= 2;
  EXPECT_EQ(test::dense(layer.X), expected);

  options.matrix = "raw/X";
  AnnData raw = io::read_h5ad(fixture("csr_f32.h5ad"), options);
  expected = test::fixture_dense();
  for (auto& v : expected) v *= 3;
  EXPECT_EQ(test::dense(raw.X), expected);
  EXPECT_EQ(raw.var.index.size(), 5u);

  options.matrix = "layers/spliced";
  try {
    io::read_h5ad(fixture("csr_f32.h5ad"), options);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layers/counts"), std::string::npos) << e.what();  // lists what exists
  }
}

TEST(H5adReader, RowRangeReadsOnlyThatBlock) {
  for (const char* file : {"csr_f32.h5ad", "csc_f64.h5ad", "dense_i32.h5ad"}) {
    io::H5adReadOptions options;
    options.rows = io::RowRange{2, 5};
    AnnData block = io::read_h5ad(fixture(file), options);
    auto all = test::fixture_dense();
    EXPECT_EQ(test::dense(block.X), std::vector<float>(all.begin() + 10, all.begin() + 25)) << file;
    EXPECT_EQ(block.obs.index, (std::vector<std::string>{"c2", "c3", "c4"})) << file;

    io::H5adRowReader reader(fixture(file));
    EXPECT_EQ(reader.n_cells(), 6);
    EXPECT_EQ(test::dense(reader.read_rows(4, 6)), std::vector<float>(all.begin() + 20, all.end())) << file;
  }
}

TEST(H5adReader, LayoutWithoutLoadingX) {
  io::H5adLayout layout = io::read_h5ad_layout(fixture("csr_f32.h5ad"));
  EXPECT_EQ(layout.n_cells, 6);
  EXPECT_EQ(layout.n_genes, 5);
  EXPECT_EQ(layout.x_format, "csr");
  EXPECT_EQ(layout.x_dtype, "float32");
  EXPECT_EQ(layout.x_stored, 14);
  EXPECT_TRUE(layout.has_raw);
  EXPECT_EQ(layout.layers, std::vector<std::string>{"counts"});
  EXPECT_EQ(io::read_h5ad_layout(fixture("legacy_06.h5ad")).encoding, "legacy (<0.7)");
}

void expect_error(const std::string& path, const std::string& fragment) {
  try {
    io::read_h5ad(path);
    FAIL() << "expected an error for " << path;
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
    EXPECT_NE(message.find(path), std::string::npos) << "error must name the file: " << message;
  }
}

TEST(H5adReader, ClearErrors) {
  expect_error(fixture("lzf.h5ad"), "'lzf' filter");
  expect_error(fixture("shape_mismatch.h5ad"), "X has 6 rows but obs has 5 cells");
  expect_error(fixture("does_not_exist.h5ad"), "file not found");
  expect_error(fixture("labels.tsv"), "not an HDF5 file");
}

TEST(H5adReader, TruncatedFile) {
  test::TempDir dir;
  std::string path = dir / "truncated.h5ad";
  std::filesystem::copy_file(fixture("csr_f32.h5ad"), path);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  EXPECT_THROW(io::read_h5ad(path), Error);
}

}  // namespace
}  // namespace marrow
