#include <iostream>
#include <memory>

#include "cli.hpp"
#include "marrow/report/inspect.hpp"

namespace marrow::cli {

void add_inspect_command(CLI::App& app) {
  struct Options {
    std::string path;
    bool json = false;
    report::InspectOptions inspect;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("inspect", "Shape, sparsity, layers, obs columns and categories of a file");
  cmd->add_option("file", o->path, "Input: .h5ad, 10x .h5, or 10x matrix directory")->required();
  cmd->add_option("--matrix", o->inspect.matrix, "Matrix of an .h5ad: X, raw/X or layers/NAME")->capture_default_str();
  cmd->add_option("--labels", o->inspect.labels, "CSV/TSV of cell labels joined on barcode");
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->callback([o] {
    nlohmann::json summary = report::inspect(o->path, o->inspect);
    std::cout << (o->json ? summary.dump(2) + "\n" : report::format_inspect(summary));
  });
}

}  // namespace marrow::cli
