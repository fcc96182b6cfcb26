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

// The expression programs, drawn in this order from one generator: per gene a baseline log
// expression (a long-tailed spread of abundances, as in real data) and a dispersion; per cell type
// its parent's log expression shifted on a random set of genes (children inherit the parent's
// shifts); the disease program.
struct Programs {
  std::vector<double> theta;                            // variance = mu + mu^2 / theta
  std::map<std::string, std::vector<double>> type_log;  // per cell type: log expression
  std::vector<double> disease;                          // shift of a fully malignant cell
};

std::vector<std::pair<int64_t, double>> random_program(Rng& rng, int64_t genes, double fraction, double scale) {
  std::vector<std::pair<int64_t, double>> program;
  const int64_t n = std::max<int64_t>(5, static_cast<int64_t>(fraction * genes));
  for (int64_t i = 0; i < n; ++i) {
    const double sign = uniform01(rng) < 0.8 ? 1.0 : -1.0;  // mostly markers that switch on
    program.emplace_back(static_cast<int64_t>(uniform_index(rng, genes)), sign * scale * (1.0 + 0.5 * standard_normal(rng)));
  }
  return program;
}

Programs draw_programs(const SimulationOptions& o, Rng& rng) {
  const int64_t G = o.genes;
  Programs p;
  std::vector<double> base(G);
  p.theta.resize(G);
  for (int64_t g = 0; g < G; ++g) {
    base[g] = std::log(gamma_sample(rng, 0.6) + 0.02);
    p.theta[g] = 1.0 + 9.0 * uniform01(rng);
  }
  for (const auto& t : kTypes) {
    std::vector<double> expr = t.parent ? p.type_log.at(t.parent) : base;
    for (auto [g, shift] : random_program(rng, G, o.program_fraction, 2.0)) expr[g] += shift;
    p.type_log[t.name] = std::move(expr);
  }
  p.disease.assign(G, 0.0);
  for (auto [g, shift] : random_program(rng, G, o.disease_fraction, 1.2 * o.disease_strength)) p.disease[g] += shift;
  return p;
}

// Patients (AML first, then healthy donors): gene-level offsets (batch and biology) and a
// library-size shift each.
struct Patients {
  std::vector<std::string> names;
  std::vector<bool> aml;
  std::vector<std::vector<double>> offset;
  std::vector<double> depth;
};

Patients draw_patients(const SimulationOptions& o, Rng& rng) {
  const int64_t P = o.aml_patients + o.healthy_donors;
  Patients patients;
  patients.offset.assign(P, std::vector<double>(o.genes));
  patients.depth.resize(P);
  for (int64_t p = 0; p < P; ++p) {
    const bool aml = p < o.aml_patients;
    patients.aml.push_back(aml);
    patients.names.push_back(aml ? fmt::format("AML{:02d}", p + 1) : fmt::format("BM{}", p - o.aml_patients + 1));
    for (int64_t g = 0; g < o.genes; ++g) patients.offset[p][g] = 0.25 * standard_normal(rng);
    patients.depth[p] = 0.3 * standard_normal(rng);
  }
  return patients;
}

// The obs columns of the cells drawn so far.
struct CellColumns {
  std::vector<std::string> patient, condition, type, malignancy, lineage;
};

// One cell: its patient, type (by the types' weights) and malignancy, then negative-binomial
// counts around its expected expression, appended to data.X and the columns.
void draw_cell(const SimulationOptions& o, const Programs& programs, const Patients& patients, int64_t c, Rng& rng, AnnData& data,
               CellColumns& columns) {
  const int64_t G = o.genes;
  double total_weight = 0;
  for (const auto& t : kTypes) total_weight += t.weight;
  const int64_t p = static_cast<int64_t>(uniform_index(rng, patients.names.size()));
  double pick = uniform01(rng) * total_weight;
  size_t ti = 0;
  while (ti + 1 < std::size(kTypes) && pick >= kTypes[ti].weight) pick -= kTypes[ti++].weight;
  const CellTypeSpec& type = kTypes[ti];
  const bool malignant = patients.aml[p] && type.can_be_malignant && uniform01(rng) < o.malignant_fraction;
  const std::vector<double>& expr = programs.type_log.at(type.name);
  const double load = malignant ? type.disease_load * (0.8 + 0.4 * uniform01(rng)) : 0.0;
  std::vector<double> mu(G);
  double norm = 0;
  for (int64_t g = 0; g < G; ++g) {
    mu[g] = std::exp(expr[g] + patients.offset[p][g] + load * programs.disease[g]);
    norm += mu[g];
  }
  const double library = o.library_size * std::exp(patients.depth[p] + 0.4 * standard_normal(rng));
  for (int64_t g = 0; g < G; ++g) {
    const int64_t count = negative_binomial_sample(rng, library * mu[g] / norm, programs.theta[g]);
    if (count > 0) {
      data.X.indices.push_back(static_cast<int32_t>(g));
      data.X.data.push_back(static_cast<float>(count));
    }
  }
  data.X.indptr.push_back(static_cast<int64_t>(data.X.data.size()));
  data.obs.index.push_back(fmt::format("cell{:06d}-{}", c, patients.names[p]));
  columns.patient.push_back(patients.names[p]);
  columns.condition.push_back(patients.aml[p] ? "AML" : "healthy");
  columns.type.push_back(malignant ? std::string(type.name) + "-like" : type.name);
  columns.malignancy.push_back(malignant ? "malignant" : "normal");
  columns.lineage.push_back(type.lineage);
}

void set_obs(AnnData& data, const CellColumns& columns, const std::vector<std::string>& patient_names) {
  std::vector<std::string> type_categories;
  for (const auto& t : kTypes) {
    type_categories.push_back(t.name);
    if (t.can_be_malignant) type_categories.push_back(std::string(t.name) + "-like");
  }
  data.obs.set(Column::make_categorical("patient", columns.patient, patient_names));
  data.obs.set(Column::make_categorical("condition", columns.condition, {"AML", "healthy"}));
  data.obs.set(Column::make_categorical("cell_type", columns.type, type_categories));
  data.obs.set(Column::make_categorical("malignancy", columns.malignancy, {"malignant", "normal"}));
  data.obs.set(Column::make_categorical("lineage", columns.lineage, {"progenitor", "monocytic", "lymphoid", "erythroid"}));
  const int64_t n = data.X.rows;
  std::vector<double> n_counts(n);
  std::vector<int64_t> n_genes(n);
  for (int64_t c = 0; c < n; ++c) {
    n_genes[c] = data.X.row_nnz(c);
    for (auto k = data.X.indptr[c]; k < data.X.indptr[c + 1]; ++k) n_counts[c] += data.X.data[k];
  }
  data.obs.set(Column::make_ints("n_genes", n_genes));
  data.obs.set(Column::make_floats("n_counts", n_counts));
}

void set_var(AnnData& data, int64_t genes) {
  std::vector<std::string> symbols(genes), ids(genes);
  for (int64_t g = 0; g < genes; ++g) {
    symbols[g] = fmt::format("SIM{:05d}", g + 1);
    ids[g] = fmt::format("ENSSIM{:011d}", g + 1);
  }
  data.var.index = symbols;
  data.var.set(Column::make_strings("gene_ids", ids));
}

}  // namespace

AnnData simulate(const SimulationOptions& o) {
  if (o.cells < 10) fail("simulate: need at least 10 cells, got {}", o.cells);
  if (o.genes < 100) fail("simulate: need at least 100 genes, got {}", o.genes);
  if (o.aml_patients < 1 || o.healthy_donors < 1) fail("simulate: need at least one AML patient and one healthy donor");
  Rng rng(o.seed);
  const Programs programs = draw_programs(o, rng);
  const Patients patients = draw_patients(o, rng);
  AnnData data;
  data.source = "simulated";
  data.matrix_source = "X";
  data.X.cols = o.genes;
  CellColumns columns;
  for (int64_t c = 0; c < o.cells; ++c) draw_cell(o, programs, patients, c, rng, data, columns);
  data.X.rows = o.cells;
  set_obs(data, columns, patients.names);
  set_var(data, o.genes);
  return data;
}

}  // namespace marrow::sim
