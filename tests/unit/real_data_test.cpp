// Tests on the real datasets in ../shared/data; each skips visibly where the folder is absent.
#include "marrow/io/h5ad_reader.hpp"
#include "marrow/io/load.hpp"
#include "marrow/preprocess/pipeline.hpp"
#include "marrow/report/inspect.hpp"
#include "support.hpp"

namespace marrow {
namespace {

TEST(RealData, VanGalenShapeAndCellTypes) {
  MARROW_REQUIRE_SHARED(path, "vangalen2019/bone_marrow.h5ad");
  nlohmann::json j = report::inspect(path);
  EXPECT_EQ(j["n_cells"], 10393);
  EXPECT_EQ(j["n_genes"], 27899);
  EXPECT_TRUE(j["looks_like_counts"].get<bool>());
  bool found = false;
  for (const auto& c : j["obs_columns"]) {
    if (c["name"] != "cell_type") continue;
    found = true;
    EXPECT_EQ(c["n_categories"], 21);
    int64_t total = 0;
    for (const auto& v : c["categories"]) total += v["count"].get<int64_t>();
    EXPECT_EQ(total, 10393);
  }
  EXPECT_TRUE(found);
}

TEST(RealData, VanGalenRowBlocksEqualTheFullRead) {
  MARROW_REQUIRE_SHARED(path, "vangalen2019/bone_marrow.h5ad");
  io::H5adReadOptions all;
  all.rows = io::RowRange{0, 3000};
  AnnData first = io::read_h5ad(path, all);
  io::H5adRowReader reader(path);
  CsrMatrix block = reader.read_rows(1000, 1500);
  std::vector<int64_t> rows;
  for (int64_t r = 1000; r < 1500; ++r) rows.push_back(r);
  CsrMatrix expected = first.X.select_rows(rows);
  EXPECT_EQ(block.indptr, expected.indptr);
  EXPECT_EQ(block.indices, expected.indices);
  EXPECT_EQ(block.data, expected.data);
}

TEST(RealData, Pbmc3kWithLabels) {
  MARROW_REQUIRE_SHARED(dir, "pbmc3k");
  io::LoadOptions options;
  options.labels = dir + "/cell_types.csv";
  AnnData a = io::load_dataset(dir, options);
  EXPECT_EQ(a.n_cells(), 2638);
  EXPECT_EQ(a.n_genes(), 2000);
  const Column& type = a.obs.require("cell_type");
  EXPECT_EQ(type.categories.size(), 9u);
  for (size_t i = 0; i < type.size(); ++i) ASSERT_FALSE(type.is_missing(i)) << a.obs.index[i];
}

TEST(RealData, KangEnsemblIdsAndPreprocessing) {
  MARROW_REQUIRE_SHARED(path, "kang2018/lupus_pbmc.h5ad");
  AnnData a = io::load_dataset(path);
  EXPECT_EQ(a.n_cells(), 12261);
  EXPECT_EQ(a.var.index.front().rfind("ENSG", 0), 0u);
  preprocess::PreprocessOptions options;
  options.qc.min_cells = 3;
  options.hvg = preprocess::HvgFlavor::SeuratV3;
  options.n_top_genes = 500;
  preprocess::Preprocessor p = preprocess::Preprocessor::fit(a, options);
  EXPECT_EQ(p.output_genes().size(), 500u);
  CsrMatrix x = p.transform(a);
  EXPECT_EQ(x.rows, a.n_cells());
  EXPECT_EQ(x.cols, 500);
}

}  // namespace
}  // namespace marrow
