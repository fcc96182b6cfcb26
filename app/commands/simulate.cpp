#include <spdlog/spdlog.h>

#include <memory>

#include "cli.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "marrow/sim/simulator.hpp"

namespace marrow::cli {

void add_simulate_command(CLI::App& app) {
  struct Options {
    sim::SimulationOptions sim;
    std::string out;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("simulate", "Write seeded simulated counts (lineages, patients, disease) as .h5ad");
  cmd->add_option("--cells", o->sim.cells, "Cells")->capture_default_str()->check(CLI::Range(int64_t{10}, int64_t{100000000}));
  cmd->add_option("--genes", o->sim.genes, "Genes")->capture_default_str()->check(CLI::Range(int64_t{100}, int64_t{1000000}));
  cmd->add_option("--seed", o->sim.seed, "Random seed")->capture_default_str();
  cmd->add_option("--aml-patients", o->sim.aml_patients, "AML patients")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--healthy-donors", o->sim.healthy_donors, "Healthy donors")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--malignant-fraction", o->sim.malignant_fraction, "Malignant share of progenitor/monocytic cells in AML")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--disease-strength", o->sim.disease_strength, "Scale of the disease program")->capture_default_str();
  cmd->add_option("--out,-o", o->out, "Output .h5ad")->required();
  cmd->callback([o] {
    io::write_h5ad(o->out, sim::simulate(o->sim));
    spdlog::info("wrote {} cells x {} genes to {}", o->sim.cells, o->sim.genes, o->out);
  });
}

}  // namespace marrow::cli
