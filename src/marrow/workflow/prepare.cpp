#include "marrow/workflow/prepare.hpp"

#include <spdlog/spdlog.h>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/json_util.hpp"
#include "marrow/core/version.hpp"
#include "marrow/data/selection.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "marrow/io/load.hpp"

namespace marrow::workflow {

AnnData load_cells(const DataSpec& spec) {
  io::LoadOptions load;
  load.matrix = spec.matrix;
  load.labels = spec.labels;
  AnnData data = io::load_dataset(spec.path, load);
  spdlog::info("{}: {} cells x {} genes ({})", spec.path, data.n_cells(), data.n_genes(), data.matrix_source);
  if (spec.cells.empty()) return data;
  return data.select_cells(selected_rows(data.obs, spec));
}

std::vector<int64_t> selected_rows(const DataFrame& obs, const DataSpec& spec) {
  if (spec.cells.empty()) return all_rows(static_cast<int64_t>(obs.rows()));
  CellSelection selection = parse_selection(spec.cells);
  std::vector<int64_t> rows = select_rows(obs, selection, spec.path);
  spdlog::info("{}: selected {} of {} cells ({})", spec.path, rows.size(), obs.rows(), selection.describe());
  return rows;
}

AnnData load_part(const DataSpec& spec, const SplitChoice& split, Part part) {
  AnnData data = load_cells(spec);
  if (split.file.empty() && split.spec.empty()) return data;
  return data.select_cells(part_rows(data.obs, split, part, spec.path));
}

void write_results(const DataSpec& spec, const AnnData& data, const io::H5adAdditions& additions, const std::string& out) {
  // An in-memory output (io/memory.hpp) keeps the additions only, whatever the input.
  bool whole_h5ad = spec.cells.empty() && spec.labels.empty() && !is_memory_path(out) &&
                    io::detect_format(spec.path) == io::InputFormat::H5ad;
  if (whole_h5ad) {
    io::write_h5ad_with_additions(spec.path, out, additions);
  } else {
    check_not_an_input(out, {spec.path});  // a subset or a conversion would replace the input
    io::write_h5ad(out, data, additions);
  }
}

PrepareResult prepare(const PrepareOptions& options) {
  if (options.out.empty()) fail("preprocess: --out is required");
  AnnData data = load_cells(options.data);

  PrepareResult result;
  if (!options.apply.empty()) {
    result.preprocessor = preprocess::Preprocessor::from_json(read_json_file(options.apply));
    spdlog::info("applying the preprocessing saved in {}: {}", options.apply, result.preprocessor.summary());
  } else {
    Parts parts = resolve_parts(data.obs, options.split, options.data.path);
    result.split = parts.split;
    AnnData train = data.select_cells(parts.train);
    result.preprocessor = preprocess::Preprocessor::fit(train, options.preprocess);
    spdlog::info("preprocessing fitted on {} training cells: {}", train.n_cells(), result.preprocessor.summary());
  }

  AnnData kept = data.select_cells(result.preprocessor.qc_cells(data));
  if (kept.n_cells() == 0) fail("{}: no cell passes the QC filters", options.data.path);
  AnnData out;
  AlignOptions align;
  align.case_insensitive = options.case_insensitive;
  out.X = result.preprocessor.transform(kept, align);
  out.obs = kept.obs;
  out.var.index = result.preprocessor.output_genes();
  if (result.split) {  // which part each cell belongs to, for later steps and for the user
    std::vector<std::string> part(out.obs.rows(), "unused");
    for (const char* name : {"train", "validation", "test"})
      for (int64_t r : result.split->rows(out.obs, name)) part[r] = name;
    out.obs.set(Column::make_categorical("marrow_split", part, {"train", "validation", "test", "unused"}));
  }
  io::H5adAdditions additions;
  additions.uns["marrow"] = {{"version", kVersion}, {"step", "preprocess"}, {"source", options.data.path},
                             {"cells", options.data.cells}, {"preprocessing", result.preprocessor.summary()},
                             {"split", result.split ? result.split->summary() : "none"}};
  io::write_h5ad(options.out, out, additions);
  result.cells_written = out.n_cells();
  result.genes_written = out.n_genes();
  if (!options.save_preprocessor.empty() && options.apply.empty()) write_json_file(options.save_preprocessor, result.preprocessor.to_json());
  if (!options.save_split.empty() && result.split) write_json_file(options.save_split, result.split->to_json());
  return result;
}

}  // namespace marrow::workflow
