#include <algorithm>
#include <cmath>
#include <map>

#include "marrow/preprocess/normalize.hpp"
#include "marrow/preprocess/qc.hpp"
#include "marrow/sim/simulator.hpp"
#include "support.hpp"

namespace marrow::sim {
namespace {

SimulationOptions small() {
  SimulationOptions o;
  o.cells = 1500;
  o.genes = 600;
  o.seed = 11;
  return o;
}

TEST(Simulator, SeededAndCountValued) {
  AnnData a = simulate(small()), b = simulate(small());
  EXPECT_EQ(a.X.data, b.X.data);
  EXPECT_EQ(a.X.indices, b.X.indices);
  EXPECT_EQ(a.obs.require("cell_type").codes, b.obs.require("cell_type").codes);
  SimulationOptions other = small();
  other.seed = 12;
  EXPECT_NE(simulate(other).X.data, a.X.data);
  EXPECT_TRUE(preprocess::looks_like_counts(a.X, a.n_cells()));
  EXPECT_NO_THROW(a.X.validate());
  EXPECT_EQ(a.obs.rows(), 1500u);
  EXPECT_EQ(a.var.rows(), 600u);
}

TEST(Simulator, DiseaseStructureFollowsTheBiology) {
  AnnData a = simulate(small());
  const Column& type = a.obs.require("cell_type");
  const Column& malignancy = a.obs.require("malignancy");
  const Column& condition = a.obs.require("condition");
  const Column& lineage = a.obs.require("lineage");
  std::map<std::string, int> malignant_by_lineage;
  for (size_t i = 0; i < a.obs.rows(); ++i) {
    bool malignant = malignancy.text(i) == "malignant";
    EXPECT_EQ(malignant, type.text(i).size() > 5 && type.text(i).substr(type.text(i).size() - 5) == "-like");
    if (malignant) {
      EXPECT_EQ(condition.text(i), "AML");
      ++malignant_by_lineage[lineage.text(i)];
    }
  }
  EXPECT_EQ(malignant_by_lineage["lymphoid"], 0);
  EXPECT_EQ(malignant_by_lineage["erythroid"], 0);
  EXPECT_GT(malignant_by_lineage["progenitor"], 100);
  EXPECT_GT(malignant_by_lineage["monocytic"], 100);
}

TEST(Simulator, LibrarySizesVaryAndCountsAreOverdispersed) {
  AnnData a = simulate(small());
  std::vector<double> totals = a.X.row_sums();
  double mean = 0, sq = 0;
  for (double t : totals) mean += t, sq += t * t;
  mean /= totals.size();
  double cv = std::sqrt(sq / totals.size() - mean * mean) / mean;
  EXPECT_GT(cv, 0.25);
  // Within one cell type, the most abundant gene's variance exceeds its mean (negative binomial).
  std::vector<int64_t> t_cells;
  for (size_t i = 0; i < a.obs.rows(); ++i)
    if (a.obs.require("cell_type").text(i) == "T") t_cells.push_back(static_cast<int64_t>(i));
  CsrMatrix t = a.X.select_rows(t_cells);
  std::vector<double> m, v;
  preprocess::gene_mean_var(t, m, v);
  size_t top = std::max_element(m.begin(), m.end()) - m.begin();
  EXPECT_GT(v[top], 1.5 * m[top]);
}

// The planted disease program is recoverable: genes chosen on some patients separate malignant from
// normal progenitors of other patients.
TEST(Simulator, PlantedDiseaseProgramGeneralisesAcrossPatients) {
  AnnData a = simulate(small());
  preprocess::normalize_total(a.X, 1e4);
  preprocess::log1p(a.X);
  const Column& lineage = a.obs.require("lineage");
  const Column& patient = a.obs.require("patient");
  const Column& malignancy = a.obs.require("malignancy");
  std::vector<double> diff(a.n_genes(), 0.0);
  std::vector<float> dense(a.n_genes());
  int n_mal = 0, n_norm = 0;
  for (int64_t i = 0; i < a.n_cells(); ++i) {
    if (lineage.text(i) != "progenitor" || patient.text(i) == "AML01" || patient.text(i) == "BM1") continue;
    a.X.to_dense(i, i + 1, dense.data());
    bool mal = malignancy.text(i) == "malignant";
    (mal ? n_mal : n_norm)++;
    for (int64_t g = 0; g < a.n_genes(); ++g) diff[g] += (mal ? 1.0 : -1.0) * dense[g];
  }
  ASSERT_GT(n_mal, 20);
  ASSERT_GT(n_norm, 20);
  // Marker score: the 30 genes that differ most on the training patients, signed.
  std::vector<int64_t> order(a.n_genes());
  for (int64_t g = 0; g < a.n_genes(); ++g) order[g] = g;
  std::partial_sort(order.begin(), order.begin() + 30, order.end(),
                    [&](int64_t x, int64_t y) { return std::abs(diff[x]) > std::abs(diff[y]); });
  std::vector<double> weight(a.n_genes(), 0.0);
  for (int i = 0; i < 30; ++i) weight[order[i]] = diff[order[i]] > 0 ? 1.0 : -1.0;
  std::vector<std::pair<double, bool>> scored;
  for (int64_t i = 0; i < a.n_cells(); ++i) {
    if (lineage.text(i) != "progenitor" || (patient.text(i) != "AML01" && patient.text(i) != "BM1")) continue;
    a.X.to_dense(i, i + 1, dense.data());
    double s = 0;
    for (int64_t g = 0; g < a.n_genes(); ++g) s += weight[g] * dense[g];
    scored.emplace_back(s, malignancy.text(i) == "malignant");
  }
  int64_t pos = 0, neg = 0, concordant = 0;
  for (auto& [s1, m1] : scored) {
    if (!m1) continue;
    ++pos;
    for (auto& [s2, m2] : scored)
      if (!m2) concordant += s1 > s2;
  }
  for (auto& [_, m] : scored) neg += !m;
  ASSERT_GT(pos, 5);
  ASSERT_GT(neg, 5);
  double auroc = static_cast<double>(concordant) / (pos * neg);
  EXPECT_GT(auroc, 0.9);
}

}  // namespace
}  // namespace marrow::sim
