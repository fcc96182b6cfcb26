#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>

#include "cli.hpp"
#include "marrow/workflow/demo.hpp"

namespace marrow::cli {

void add_demo_command(CLI::App& app) {
  auto o = std::make_shared<workflow::DemoOptions>();
  auto* cmd = app.add_subcommand("demo", "Run the whole pipeline on embedded simulated data");
  cmd->add_option("--out,-o", o->out_dir, "Output directory")->capture_default_str();
  cmd->add_option("--cells", o->cells, "Simulated cells")->capture_default_str()->check(CLI::Range(int64_t{100}, int64_t{10000000}));
  cmd->add_option("--genes", o->genes, "Simulated genes")->capture_default_str()->check(CLI::Range(int64_t{200}, int64_t{100000}));
  cmd->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  cmd->callback([o] {
    std::string report = workflow::run_demo(*o);
    std::cout << "marrow demo finished. Outputs in " << o->out_dir << "/; report: " << report << "\n";
  });
}

}  // namespace marrow::cli
