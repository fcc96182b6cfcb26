#pragma once
// The end-to-end pipeline on embedded simulated data: what `marrow demo` runs. It simulates a
// dataset and runs workflow/pipeline on it with a built-in config: patient-held-out split ->
// autoencoder on the training patients' progenitors -> embed every cell -> malignant-vs-normal
// heads (linear, mlp, transformer, gcn) and the PCA baseline -> zero-shot on other lineages -> report.
#include <cstdint>
#include <string>

namespace marrow::workflow {

struct DemoOptions {
  std::string out_dir = "marrow-demo";
  int64_t cells = 3000;
  int64_t genes = 2000;
  uint64_t seed = 0;
};

// Returns the path of the report it wrote.
std::string run_demo(const DemoOptions& options);

}  // namespace marrow::workflow
