#include <fstream>

#include "marrow/core/error.hpp"
#include "marrow/io/labels.hpp"
#include "marrow/io/load.hpp"
#include "marrow/io/tenx.hpp"
#include "support.hpp"

namespace marrow {
namespace {

using test::fixture;

TEST(Tenx, MatrixMarketV2PlainFiles) {
  AnnData a = io::read_10x_mtx(fixture("tenx_v2"));
  EXPECT_EQ(test::dense(a.X), test::fixture_dense());
  EXPECT_EQ(a.var.index.front(), "GeneA");
  EXPECT_EQ(a.var.require("gene_ids", "var").strings.front(), "ENSG00000000000.1");
  EXPECT_EQ(a.obs.index.back(), "c5");
}

TEST(Tenx, MatrixMarketV3Gzipped) {
  // Same content, gzipped, v3 names (features.tsv.gz with a feature-type column).
  test::TempDir dir;
  auto gz = [&](const std::string& from, const std::string& to, const std::string& extra_column) {
    std::ifstream in(fixture("tenx_v2/" + from));
    std::string text, line;
    while (std::getline(in, line)) text += line + extra_column + "\n";
    std::string plain = dir / to;
    std::ofstream(plain) << text;
    ASSERT_EQ(std::system(("gzip -n " + plain).c_str()), 0);
  };
  gz("matrix.mtx", "matrix.mtx", "");
  gz("genes.tsv", "features.tsv", "\tGene Expression");
  gz("barcodes.tsv", "barcodes.tsv", "");
  AnnData a = io::load_dataset(dir.path().string());
  EXPECT_EQ(test::dense(a.X), test::fixture_dense());
  EXPECT_EQ(a.var.index[2], "GeneC");
}

TEST(Tenx, Hdf5V3KeepsGeneExpressionOnly) {
  AnnData a = io::load_dataset(fixture("tenx_v3.h5"));
  EXPECT_EQ(a.n_genes(), 5);  // the antibody-capture feature is dropped, as scanpy does
  EXPECT_EQ(test::dense(a.X), test::fixture_dense());
  EXPECT_EQ(a.obs.index[1], "c1");
  EXPECT_EQ(a.var.require("feature_types", "var").text(0), "Gene Expression");
}

TEST(Tenx, TruncatedMatrixIsAnError) {
  test::TempDir dir;
  for (const char* f : {"genes.tsv", "barcodes.tsv"}) std::filesystem::copy_file(fixture(std::string("tenx_v2/") + f), dir / f);
  std::ifstream in(fixture("tenx_v2/matrix.mtx"));
  std::string text, line;
  for (int i = 0; i < 8 && std::getline(in, line); ++i) text += line + "\n";
  std::ofstream(dir / "matrix.mtx") << text;
  try {
    io::read_10x_mtx(dir.path().string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

TEST(Tenx, NamesMadeUniqueLikeAnndata) {
  std::vector<std::string> names = {"A", "B", "A", "A", "C"};
  io::make_names_unique(names);
  EXPECT_EQ(names, (std::vector<std::string>{"A", "B", "A-1", "A-2", "C"}));
}

TEST(Labels, JoinedOnBarcode) {
  io::LoadOptions options;
  options.labels = fixture("labels.tsv");
  AnnData a = io::load_dataset(fixture("tenx_v2"), options);
  const Column& type = a.obs.require("cell_type");
  EXPECT_EQ(type.kind, ColumnKind::Categorical);
  EXPECT_EQ(type.text(0), "T");
  EXPECT_EQ(type.text(3), "NK");
  EXPECT_TRUE(type.is_missing(5));  // c5 has no row in the table
  EXPECT_EQ(a.obs.require("quality").kind, ColumnKind::Float);
  EXPECT_DOUBLE_EQ(a.obs.require("quality").number(4), 4.5);
}

TEST(Labels, NoMatchingBarcodeIsAnError) {
  test::TempDir dir;
  std::ofstream(dir / "labels.csv") << "barcode,cell_type\nAAAC-1,T\n";
  io::LoadOptions options;
  options.labels = dir / "labels.csv";
  EXPECT_THROW(io::load_dataset(fixture("tenx_v2"), options), Error);
}

TEST(Labels, QuotedCsvFields) {
  test::TempDir dir;
  std::ofstream(dir / "l.csv") << "cell,label\nc0,\"CD4 T, memory\"\nc1,B\n";
  DataFrame t = io::read_table(dir / "l.csv");
  EXPECT_EQ(t.index, (std::vector<std::string>{"c0", "c1"}));
  EXPECT_EQ(t.require("label").text(0), "CD4 T, memory");
}

}  // namespace
}  // namespace marrow
