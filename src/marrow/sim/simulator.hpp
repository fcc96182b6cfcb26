#pragma once
// A seeded simulator of single-cell count data shaped like the hematopoietic tasks marrow is built
// for, so that the whole pipeline runs (and is tested) without any downloaded data:
//   - a lineage hierarchy: HSC -> Prog -> {GMP -> ProMono -> Mono; ProB -> B; T, NK; earlyEry};
//     each node adds a gene program on top of its parent's, so relatives share expression;
//   - patients (AML and healthy) with their own gene-level offsets and library-size shifts;
//   - a disease program in AML patients: malignant progenitors ("HSC-like", "Prog-like", "GMP-like")
//     carry it fully and their monocytic progeny ("ProMono-like", "Mono-like") partly; lymphoid
//     cells are always normal, as in van Galen et al. 2019;
//   - negative-binomial counts (gamma-Poisson, per-gene dispersion) around library sizes that vary
//     log-normally per cell.
// obs columns follow the van Galen file: patient, condition, cell_type, malignancy, lineage.
#include <cstdint>

#include "marrow/data/anndata.hpp"

namespace marrow::sim {

struct SimulationOptions {
  int64_t cells = 3000;
  int64_t genes = 2000;
  uint64_t seed = 0;
  int64_t aml_patients = 4;
  int64_t healthy_donors = 2;
  double malignant_fraction = 0.7;  // of progenitor and monocytic cells in AML patients
  double program_fraction = 0.02;   // genes in each lineage node's program
  double disease_fraction = 0.05;   // genes in the disease program
  double disease_strength = 1.0;    // log fold change scale of the disease program
  double library_size = 3000;       // median counts per cell
};

AnnData simulate(const SimulationOptions& options);

}  // namespace marrow::sim
