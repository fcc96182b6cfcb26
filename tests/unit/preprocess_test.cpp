#include <cmath>
#include <nlohmann/json.hpp>

#include "marrow/core/error.hpp"
#include "marrow/preprocess/hvg.hpp"
#include "marrow/preprocess/loess.hpp"
#include "marrow/preprocess/normalize.hpp"
#include "marrow/preprocess/pipeline.hpp"
#include "marrow/preprocess/qc.hpp"
#include "support.hpp"

namespace marrow::preprocess {
namespace {

// The matrix tests/python/preprocess_reference.py computes the expected numbers from, with numpy,
// straight from scanpy's definitions.
constexpr int kCells = 40, kGenes = 60;
CsrMatrix reference_counts() {
  std::vector<float> dense(kCells * kGenes);
  for (int i = 0; i < kCells; ++i)
    for (int j = 0; j < kGenes; ++j)
      dense[i * kGenes + j] = static_cast<float>(((i + 1) * (j + 2) * 7 + i * i) % (j + 3) * (1 + (i % 3 == 0) * (j % 5)));
  return CsrMatrix::from_dense(kCells, kGenes, dense.data());
}

void expect_near_all(const std::vector<double>& actual, const std::vector<double>& expected, double tolerance,
                     const char* what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (std::isnan(expected[i])) {
      EXPECT_TRUE(std::isnan(actual[i])) << what << " [" << i << "]";
      continue;
    }
    EXPECT_NEAR(actual[i], expected[i], tolerance * std::max(1.0, std::abs(expected[i]))) << what << " [" << i << "]";
  }
}

std::vector<double> row(const CsrMatrix& m, int r) {
  std::vector<float> dense(m.cols);
  m.to_dense(r, r + 1, dense.data());
  return {dense.begin(), dense.end()};
}

TEST(Preprocess, NormalizeTotalAndLog1pMatchScanpy) {
  CsrMatrix m = reference_counts();
  normalize_total(m, 1e4);
  log1p(m);
  expect_near_all(row(m, 0), std::vector<double>{1.648472882, 1.648472882, 2.990501316, 3.760975491, 0, 1.131246329, 2.240504184, 2.990501316, 3.543630356, 3.979455979, 2.609856731, 3.414220201, 3.939412674, 4.338370106, 4.66321129, 3.18199141, 3.939412674, 4.417407863, 4.775528452, 5.065526071, 3.543630356, 4.281979503, 4.739473116, 5.07868826, 5.35162925, 3.808657373, 4.536663834, 4.982693058, 5.311004754, 5.573824267, 4.017957364, 4.739473116, 5.178178393, 5.49939519, 5.755512968, 4.190942253, 4.908005086, 5.341626796, 5.657858344, 5.909211362, 4.338370106, 5.052188325, 5.482075186, 5.794611932, 6.042403406, 4.466829551, 5.178178393, 5.605205224, 5.914893961, 6.159922425, 4.580649876, 5.290056381, 5.714822851, 6.022249185, 6.265071676, 4.682828879, 5.390667623, 5.813602693, 6.119188444, 6.360208971}, 1e-5, "row 0");
  expect_near_all(row(m, 1), std::vector<double>{2.816062343, 3.201378786, 2.816062343, 3.695787978, 2.181034166, 3.201378786, 3.695787978, 4.025141255, 4.272478696, 4.470610322, 0, 2.181034166, 2.816062343, 3.201378786, 3.478832214, 3.695787978, 3.87396297, 4.025141255, 4.156437538, 4.272478696, 4.376443521, 4.470610322, 4.556667883, 4.635902805, 4.709317869, 4.777709832, 4.841722262, 4.901882455, 4.958627863, 5.012325407, 5.063285876, 5.111774816, 5.158020914, 5.202222511, 5.244552753, 5.285163678, 5.324189518, 5.361749374, 5.397949408, 5.432884652, 5.466640511, 5.499294021, 5.530914909, 5.561566489, 5.591306424, 5.620187379, 5.648257586, 5.675561321, 5.702139334, 5.728029206, 5.753265674, 5.777880908, 5.80190476, 5.825364981, 5.848287412, 5.870696158, 5.892613739, 5.914061224, 5.935058357, 5.955623662}, 1e-5, "row 1");
}

TEST(Preprocess, ScaleMatchesScanpyWithClipping) {
  CsrMatrix m = reference_counts();
  normalize_total(m, 1e4);
  log1p(m);
  GeneScaler scaler = GeneScaler::fit(m, 2.0);
  std::vector<float> dense(kGenes);
  m.to_dense(0, 1, dense.data());
  scaler.apply(dense.data(), 1);
  expect_near_all(std::vector<double>(dense.begin(), dense.end()), std::vector<double>{-1.516442662, -1.731423803, -0.05069563157, 0.1815122912, -2, -2, -1.291185793, -0.3665072229, 0.00708192317, -0.3458954861, -0.3746754351, -0.4751677501, -0.270001557, -0.05640065144, 0.5883912609, -0.4038674313, 0.1449731462, 0.3199756274, 0.636032216, 0.9722259171, -0.1375949194, -0.3343941122, 0.1438489044, 0.5108454629, 0.6158405588, -0.4890511658, -0.2740418876, 0.2788161766, 0.5650583197, 0.5325012643, -0.7269404545, 0.05254889647, 0.3906473701, 0.5164304868, 0.501131512, -0.5799782255, -0.2936407735, 0.4540406967, 0.3471074897, 0.5844445812, -0.745114325, 0.3220609351, 0.3817493852, 0.372623634, 0.9145870732, -0.6773329517, -0.1039821022, 0.3017606826, 0.5390408475, 0.8197134189, -0.2523041879, 0.009298765261, 0.2981094326, 0.6560386771, 0.6413831384, -0.6077178229, -0.101027468, 0.4358421421, 0.482272753, 0.6784578753}, 1e-5, "scaled row 0");
}

TEST(Preprocess, SeuratDispersionMatchesScanpy) {
  CsrMatrix m = reference_counts();
  normalize_total(m, 1e4);
  log1p(m);
  HvgScores s = seurat_scores(m);
  expect_near_all(s.score, std::vector<double>{1, 1, 1, -0.7071067812, 1, 0.5909025479, 0.563691109, -1.154593657, 0.7071067812, -0.1240312604, -0.7071067812, 1, -1.434461938, 1, 1.417732534, 0.7071067812, -0.7071067812, -0.2155631496, -0.4570620129, 0.813385827, 0.7071067812, -0.4040719272, -0.7248857182, 0.2381447156, 1.004738451, 1.172758009, -1.332493795, -0.7071067812, -1.442391674, -0.1123405603, 1.050548716, 0.7071067812, -1.425460952, 0.6329927841, -0.6197239187, 0.5151601069, -1.15285164, 0.3810910443, -1.089182863, 0.6256759186, 0.4876507993, 0.4792122241, -0.2966484145, 0.1417003764, -1.98160252, 0.5198588563, -0.3326135297, 0.4905913411, -0.8104623187, 1.117525426, 2.004957353, 1.25715806, -0.1898498544, -0.3070631075, 1.076161662, 0.4455519331, -0.7823598813, 0.4386865594, -0.900581945, -0.1755797172}, 1e-5, "dispersions_norm");
}

TEST(Preprocess, SeuratV3MatchesScanpyFormulaWithDirectLoess) {
  HvgScores s = seurat_v3_scores(reference_counts());
  expect_near_all(s.score, std::vector<double>{0.9436099111, 1.199548326, 1.118567037, 1.212757022, 2.03831578, 0.4981794434, 1.083197273, 1.415818864, 1.649766097, 1.419826346, 0.5499667323, 0.6811003395, 0.9168043908, 1.264413581, 2.216909871, 0.9072615441, 1.282393391, 1.306054352, 1.198952188, 1.998479558, 0.7809181368, 0.5753639496, 1.064031086, 2.267211345, 2.164569405, 0.4370470991, 1.214283431, 1.321628355, 1.612141436, 1.379031646, 0.3077462056, 1.110904299, 0.9710507816, 1.5996144, 1.32810344, 0.5762808698, 0.6925373183, 1.542537458, 1.07623928, 1.03698848, 0.6249193591, 1.125347608, 1.180239174, 0.947427881, 1.142884095, 0.5387494131, 0.7294290601, 0.9933062368, 0.9363761749, 1.218667819, 0.6384575551, 0.6297963727, 0.8776501263, 1.105523279, 1.03265674, 0.4074545881, 0.6057667431, 0.9795940488, 0.9832474684, 0.9469104656}, 1e-5, "variances_norm");
}

TEST(Preprocess, LoessReproducesAQuadraticExactly) {
  std::vector<double> x, y;
  for (int i = 0; i < 50; ++i) {
    x.push_back(i * 0.37 - 3);
    y.push_back(1.5 - 0.2 * x.back() + 0.05 * x.back() * x.back());
  }
  std::vector<double> fit = loess_fit(x, y, 0.3, 2);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(fit[i], y[i], 1e-9);
}

TEST(Preprocess, TopGenesRanksAndSkipsNaN) {
  std::vector<double> score = {0.5, std::nan(""), 3.0, 1.0, 2.0};
  EXPECT_EQ(top_genes(score, 2), (std::vector<int32_t>{2, 4}));
  EXPECT_EQ(top_genes(score, 10), (std::vector<int32_t>{0, 1, 2, 3, 4}));
}

TEST(Preprocess, QcFiltersUseScanpyDefinitions) {
  CsrMatrix m = reference_counts();
  QcOptions qc;
  qc.min_genes = 45;
  std::vector<int64_t> cells = cells_passing(m, qc);
  std::vector<int64_t> genes_per_cell = m.row_nnz_counts();
  for (int64_t r = 0; r < m.rows; ++r)
    EXPECT_EQ(std::find(cells.begin(), cells.end(), r) != cells.end(), genes_per_cell[r] >= 45);
  qc = {};
  qc.min_cells = 39;
  std::vector<int32_t> genes = genes_passing(m, qc);
  std::vector<int64_t> cells_per_gene = m.col_nnz_counts();
  for (int64_t g = 0; g < m.cols; ++g)
    EXPECT_EQ(std::find(genes.begin(), genes.end(), g) != genes.end(), cells_per_gene[g] >= 39);
}

AnnData reference_data() {
  AnnData a;
  a.X = reference_counts();
  for (int i = 0; i < kCells; ++i) a.obs.index.push_back("cell" + std::to_string(i));
  for (int j = 0; j < kGenes; ++j) a.var.index.push_back("G" + std::to_string(j));
  a.source = "reference";
  return a;
}

TEST(Preprocess, PipelineIsStoredAndReappliedIdentically) {
  AnnData a = reference_data();
  PreprocessOptions options;
  options.qc.min_cells = 5;
  options.hvg = HvgFlavor::SeuratV3;
  options.n_top_genes = 20;
  options.scale = true;
  Preprocessor p = Preprocessor::fit(a, options);
  EXPECT_EQ(p.output_genes().size(), 20u);
  Preprocessor back = Preprocessor::from_json(nlohmann::json::parse(p.to_json().dump()));
  EXPECT_EQ(back.output_genes(), p.output_genes());
  CsrMatrix t1 = p.transform(a), t2 = back.transform(a);
  EXPECT_EQ(test::dense(t1), test::dense(t2));

  // New data with the genes shuffled, one missing and one extra, aligns by name.
  AnnData shuffled = a;
  std::vector<int32_t> reverse(kGenes);
  for (int j = 0; j < kGenes; ++j) reverse[j] = kGenes - 1 - j;
  shuffled.X = a.X.remap_columns(reverse, kGenes);
  std::reverse(shuffled.var.index.begin(), shuffled.var.index.end());
  CsrMatrix t3 = back.transform(shuffled);
  EXPECT_EQ(test::dense(t3), test::dense(t1));
}

TEST(Preprocess, CountsAreRequired) {
  AnnData a = reference_data();
  a.X.data[3] = -1.0f;
  EXPECT_THROW(Preprocessor::fit(a, {}), Error);
  a.X.data[3] = std::nanf("");
  try {
    Preprocessor::fit(a, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("raw counts"), std::string::npos) << e.what();
  }
}

TEST(Preprocess, LooksLikeCounts) {
  CsrMatrix m = reference_counts();
  EXPECT_TRUE(looks_like_counts(m));
  log1p(m);
  EXPECT_FALSE(looks_like_counts(m));
}

}  // namespace
}  // namespace marrow::preprocess
