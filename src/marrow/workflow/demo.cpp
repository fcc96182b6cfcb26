#include "marrow/workflow/demo.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "marrow/report/inspect.hpp"
#include "marrow/sim/simulator.hpp"
#include "marrow/workflow/prepare.hpp"

namespace marrow::workflow {

std::string run_demo(const DemoOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) fail("{}: cannot create the demo output directory: {}", options.out_dir, ec.message());
  fs::path dir(options.out_dir);

  spdlog::info("[1/4] simulating {} cells x {} genes (seed {})", options.cells, options.genes, options.seed);
  sim::SimulationOptions sim_options;
  sim_options.cells = options.cells;
  sim_options.genes = options.genes;
  sim_options.seed = options.seed;
  std::string simulated = (dir / "simulated.h5ad").string();
  io::write_h5ad(simulated, sim::simulate(sim_options));

  spdlog::info("[2/4] inspecting {}", simulated);
  std::string summary = report::format_inspect(report::inspect(simulated));

  spdlog::info("[3/4] splitting by patient and fitting preprocessing on the training patients");
  PrepareOptions prepare_options;
  prepare_options.data.path = simulated;
  prepare_options.split.spec = "group:patient";
  prepare_options.split.stratify = "condition";  // AML patients and healthy donors on both sides
  prepare_options.split.seed = options.seed;
  prepare_options.preprocess.qc.min_genes = 50;
  prepare_options.preprocess.qc.min_cells = 3;
  prepare_options.preprocess.hvg = preprocess::HvgFlavor::SeuratV3;
  prepare_options.preprocess.n_top_genes = std::min<int64_t>(1000, options.genes / 2);
  prepare_options.out = (dir / "preprocessed.h5ad").string();
  prepare_options.save_preprocessor = (dir / "preprocessor.json").string();
  prepare_options.save_split = (dir / "split.json").string();
  PrepareResult prepared = prepare(prepare_options);

  spdlog::info("[4/4] writing the report");
  std::string report_path = (dir / "report.md").string();
  std::string text = "# marrow demo\n\n## Input (simulated)\n\n```\n" + summary + "```\n\n";
  text += fmt::format("## Split\n\n{}\n\n## Preprocessing\n\n{}\n\nWrote {} cells x {} genes to `{}`.\n",
                      prepared.split->summary(), prepared.preprocessor.summary(), prepared.cells_written,
                      prepared.genes_written, prepare_options.out);
  write_file_atomic(report_path, text);
  return report_path;
}

}  // namespace marrow::workflow
