#include "marrow/sim/simulator.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "marrow/core/error.hpp"
#include "marrow/core/random.hpp"

namespace marrow::sim {

namespace {

struct CellTypeSpec {
  const char* name;
  const char* parent;   // nullptr for the root
  const char* lineage;
  double weight;        // share of normal cells
  bool can_be_malignant;
  double disease_load;  // how much of the disease program a malignant cell of this type carries
};

// Shares loosely follow a bone-marrow aspirate: many progenitors and monocytes, fewer lymphoid cells.
const CellTypeSpec kTypes[] = {
    {"HSC", nullptr, "progenitor", 0.08, true, 1.0},
    {"Prog", "HSC", "progenitor", 0.14, true, 1.0},
    {"GMP", "Prog", "progenitor", 0.10, true, 1.0},
    {"ProMono", "GMP", "monocytic", 0.10, true, 0.7},
    {"Mono", "ProMono", "monocytic", 0.18, true, 0.6},
    {"ProB", "Prog", "lymphoid", 0.05, false, 0},
    {"B", "ProB", "lymphoid", 0.07, false, 0},
    {"T", "Prog", "lymphoid", 0.12, false, 0},
    {"NK", "T", "lymphoid", 0.06, false, 0},
    {"earlyEry", "Prog", "erythroid", 0.10, false, 0},
};

}  // namespace

AnnData simulate(const SimulationOptions& o) {
  if (o.cells < 10) fail("simulate: need at least 10 cells, got {}", o.cells);
  if (o.genes < 100) fail("simulate: need at least 100 genes, got {}", o.genes);
  if (o.aml_patients < 1 || o.healthy_donors < 1) fail("simulate: need at least one AML patient and one healthy donor");
  Rng rng(o.seed);
  const int64_t G = o.genes;
  const size_t T = std::size(kTypes);

  // Baseline log expression: a long-tailed spread of gene abundances, as in real data.
  std::vector<double> base(G), theta(G);
  for (int64_t g = 0; g < G; ++g) {
    base[g] = std::log(gamma_sample(rng, 0.6) + 0.02);
    theta[g] = 1.0 + 9.0 * uniform01(rng);  // dispersion: variance = mu + mu^2 / theta
  }
  // Programs: each lineage node shifts a random set of genes; children inherit the parent's shifts.
  auto random_program = [&](double fraction, double scale) {
    std::vector<std::pair<int64_t, double>> program;
    int64_t n = std::max<int64_t>(5, static_cast<int64_t>(fraction * G));
    for (int64_t i = 0; i < n; ++i) {
      double sign = uniform01(rng) < 0.8 ? 1.0 : -1.0;  // mostly markers that switch on
      program.emplace_back(static_cast<int64_t>(uniform_index(rng, G)), sign * scale * (1.0 + 0.5 * standard_normal(rng)));
    }
    return program;
  };
  std::map<std::string, std::vector<double>> type_log;
  for (const auto& t : kTypes) {
    std::vector<double> expr = t.parent ? type_log.at(t.parent) : base;
    for (auto [g, shift] : random_program(o.program_fraction, 2.0)) expr[g] += shift;
    type_log[t.name] = std::move(expr);
  }
  std::vector<double> disease(G, 0.0);
  for (auto [g, shift] : random_program(o.disease_fraction, 1.2 * o.disease_strength)) disease[g] += shift;

  // Patients: gene-level offsets (batch/biology) and library-size shifts.
  const int64_t P = o.aml_patients + o.healthy_donors;
  std::vector<std::string> patient_names;
  std::vector<bool> is_aml;
  std::vector<std::vector<double>> patient_offset(P, std::vector<double>(G));
  std::vector<double> patient_depth(P);
  for (int64_t p = 0; p < P; ++p) {
    bool aml = p < o.aml_patients;
    is_aml.push_back(aml);
    patient_names.push_back(aml ? fmt::format("AML{:02d}", p + 1) : fmt::format("BM{}", p - o.aml_patients + 1));
    for (int64_t g = 0; g < G; ++g) patient_offset[p][g] = 0.25 * standard_normal(rng);
    patient_depth[p] = 0.3 * standard_normal(rng);
  }

  double total_weight = 0;
  for (const auto& t : kTypes) total_weight += t.weight;
  AnnData data;
  data.source = "simulated";
  data.matrix_source = "X";
  data.X.cols = G;
  std::vector<std::string> patient_col, condition_col, type_col, malignancy_col, lineage_col;
  std::vector<double> mu(G);
  for (int64_t c = 0; c < o.cells; ++c) {
    int64_t p = static_cast<int64_t>(uniform_index(rng, P));
    double pick = uniform01(rng) * total_weight;
    size_t ti = 0;
    while (ti + 1 < T && pick >= kTypes[ti].weight) pick -= kTypes[ti++].weight;
    const CellTypeSpec& type = kTypes[ti];
    bool malignant = is_aml[p] && type.can_be_malignant && uniform01(rng) < o.malignant_fraction;

    const std::vector<double>& expr = type_log.at(type.name);
    double load = malignant ? type.disease_load * (0.8 + 0.4 * uniform01(rng)) : 0.0;
    double norm = 0;
    for (int64_t g = 0; g < G; ++g) {
      double value = expr[g] + patient_offset[p][g] + load * disease[g];
      mu[g] = std::exp(value);
      norm += mu[g];
    }
    double library = o.library_size * std::exp(patient_depth[p] + 0.4 * standard_normal(rng));
    for (int64_t g = 0; g < G; ++g) {
      int64_t count = negative_binomial_sample(rng, library * mu[g] / norm, theta[g]);
      if (count > 0) {
        data.X.indices.push_back(static_cast<int32_t>(g));
        data.X.data.push_back(static_cast<float>(count));
      }
    }
    data.X.indptr.push_back(static_cast<int64_t>(data.X.data.size()));
    data.obs.index.push_back(fmt::format("cell{:06d}-{}", c, patient_names[p]));
    patient_col.push_back(patient_names[p]);
    condition_col.push_back(is_aml[p] ? "AML" : "healthy");
    type_col.push_back(malignant ? std::string(type.name) + "-like" : type.name);
    malignancy_col.push_back(malignant ? "malignant" : "normal");
    lineage_col.push_back(type.lineage);
  }
  data.X.rows = o.cells;

  std::vector<std::string> type_categories;
  for (const auto& t : kTypes) {
    type_categories.push_back(t.name);
    if (t.can_be_malignant) type_categories.push_back(std::string(t.name) + "-like");
  }
  data.obs.set(Column::make_categorical("patient", patient_col, patient_names));
  data.obs.set(Column::make_categorical("condition", condition_col, {"AML", "healthy"}));
  data.obs.set(Column::make_categorical("cell_type", type_col, type_categories));
  data.obs.set(Column::make_categorical("malignancy", malignancy_col, {"malignant", "normal"}));
  data.obs.set(Column::make_categorical("lineage", lineage_col, {"progenitor", "monocytic", "lymphoid", "erythroid"}));
  std::vector<double> n_counts(o.cells);
  std::vector<int64_t> n_genes(o.cells);
  for (int64_t c = 0; c < o.cells; ++c) {
    n_genes[c] = data.X.row_nnz(c);
    for (auto k = data.X.indptr[c]; k < data.X.indptr[c + 1]; ++k) n_counts[c] += data.X.data[k];
  }
  data.obs.set(Column::make_ints("n_genes", n_genes));
  data.obs.set(Column::make_floats("n_counts", n_counts));

  std::vector<std::string> symbols(G), ids(G);
  for (int64_t g = 0; g < G; ++g) {
    symbols[g] = fmt::format("SIM{:05d}", g + 1);
    ids[g] = fmt::format("ENSSIM{:011d}", g + 1);
  }
  data.var.index = symbols;
  data.var.set(Column::make_strings("gene_ids", ids));
  return data;
}

}  // namespace marrow::sim
