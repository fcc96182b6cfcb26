#include "marrow/workflow/demo.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "marrow/core/error.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "marrow/report/inspect.hpp"
#include "marrow/sim/simulator.hpp"
#include "marrow/workflow/pipeline.hpp"

namespace marrow::workflow {

std::string run_demo(const DemoOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) fail("{}: cannot create the demo output directory: {}", options.out_dir, ec.message());

  spdlog::info("[demo] simulating {} cells x {} genes (seed {})", options.cells, options.genes, options.seed);
  sim::SimulationOptions sim_options;
  sim_options.cells = options.cells;
  sim_options.genes = options.genes;
  sim_options.seed = options.seed;
  std::string simulated = (fs::path(options.out_dir) / "simulated.h5ad").string();
  io::write_h5ad(simulated, sim::simulate(sim_options));

  // The van Galen protocol on simulated cells: whole patients (AML and healthy) held out of every
  // step, the autoencoder pretrained on every training cell (all lineages: cells of lineages an
  // encoder never saw land off its manifold, docs/results.md), malignant-vs-normal heads on progenitors
  // against the PCA baseline, then zero-shot on monocytic and lymphoid cells.
  PipelineConfig config;
  config.data = simulated;
  config.out = options.out_dir;
  config.seed = options.seed;
  config.split.spec = "group:patient";
  config.split.stratify = "condition";
  config.split.seed = options.seed;
  config.model.hidden = {256, 128};
  config.model.latent = 32;
  config.pretrain.epochs = 20;
  config.pretrain.batch_size = 32;
  config.pretrain.seed = options.seed;
  config.classify.epochs = 60;
  config.classify.batch_size = 32;
  config.classify.patience = 10;
  config.classify.seed = options.seed;
  config.transformer_width = 64;  // the demo's embedding has 32 dimensions
  TaskConfig task;
  task.name = "malignancy";
  task.label = "malignancy";
  task.cells = "lineage=progenitor";
  task.positive = "malignant";
  task.baseline_heads = {models::Head::Linear, models::Head::Mlp};
  task.zeroshot = {{"monocytic", "lineage=monocytic"}, {"lymphoid", "lineage=lymphoid"}};
  config.tasks = {task};
  config.report_preamble = "Simulated data (`marrow simulate`): a lineage hierarchy, AML patients and healthy donors, and a "
                           "disease program in malignant progenitors and part of their monocytic progeny.\n\n```\n" +
                           report::format_inspect(report::inspect(simulated)) + "```\n\n";
  return run_pipeline(config);
}

}  // namespace marrow::workflow
