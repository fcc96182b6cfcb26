#include <spdlog/spdlog.h>

#include <memory>

#include "cli.hpp"

namespace marrow::cli {

void add_preprocess_command(CLI::App& app) {
  auto o = std::make_shared<workflow::PrepareOptions>();
  auto& p = o->preprocess;
  auto* cmd = app.add_subcommand("preprocess",
                                 "Fit QC, normalisation, HVG and scaling on training cells; write the transformed data");
  add_data_options(*cmd, o->data);
  add_split_options(*cmd, o->split, false);
  cmd->add_option("--min-genes", p.qc.min_genes, "QC: minimum genes per cell")->capture_default_str();
  cmd->add_option("--min-cells", p.qc.min_cells, "QC: minimum cells per gene (training cells)")->capture_default_str();
  cmd->add_option("--min-counts", p.qc.min_counts, "QC: minimum counts per cell")->capture_default_str();
  cmd->add_option("--max-counts", p.qc.max_counts, "QC: maximum counts per cell");
  cmd->add_option("--target-sum", p.target_sum, "Library-size normalisation target")->capture_default_str();
  add_enum_option(*cmd, "--hvg", p.hvg, "Highly variable genes: none, by counts (seurat_v3) or by dispersion (seurat)");
  cmd->add_option("--n-top-genes", p.n_top_genes, "Highly variable genes kept")->capture_default_str();
  cmd->add_flag("--scale", p.scale, "Store per-gene standardisation (applied to model inputs)");
  cmd->add_option("--scale-clip", p.scale_clip, "Clip standardised values to [-c, c]")->capture_default_str();
  cmd->add_option("--apply", o->apply, "Transform with a saved preprocessor (JSON) instead of fitting");
  cmd->add_flag("--case-insensitive", o->case_insensitive, "Match gene names ignoring case (with --apply)");
  cmd->add_option("--out,-o", o->out, "Output .h5ad (log-normalised X over the selected genes)")->required();
  cmd->add_option("--save-preprocessor", o->save_preprocessor, "Write the fitted preprocessing as JSON");
  cmd->add_option("--save-split", o->save_split, "Write the split as JSON");
  cmd->callback([o] {
    workflow::PrepareResult result = workflow::prepare(*o);
    spdlog::info("wrote {} cells x {} genes to {}", result.cells_written, result.genes_written, o->out);
  });
}

}  // namespace marrow::cli
