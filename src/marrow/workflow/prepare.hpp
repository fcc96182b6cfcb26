#pragma once
// Library-level steps the CLI commands are thin wrappers of: load + select cells, split, and fit a
// preprocessor on the training part and write the transformed data. Each takes plain options so
// other programs can run the same steps without the CLI.
#include <optional>
#include <string>

#include "marrow/data/anndata.hpp"
#include "marrow/data/data_spec.hpp"
#include "marrow/data/split.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "marrow/data/parts.hpp"
#include "marrow/preprocess/pipeline.hpp"

namespace marrow::workflow {

// Loads the file and keeps the selected cells (logging how many).
AnnData load_cells(const DataSpec& spec);
// The rows of obs that spec.cells selects (every row when it is empty), logging how many.
std::vector<int64_t> selected_rows(const DataFrame& obs, const DataSpec& spec);
// The same, narrowed to one part of the chosen split (all selected cells where it names none).
AnnData load_part(const DataSpec& spec, const SplitChoice& split, Part part);

// Writes results for the cells `data` holds: a copy of the input .h5ad with the additions when the
// spec selects every cell of an .h5ad as it is, otherwise a new file of those cells.
void write_results(const DataSpec& spec, const AnnData& data, const io::H5adAdditions& additions, const std::string& out);

struct PrepareOptions {
  DataSpec data;
  SplitChoice split;                  // fit on its training part; none: fit on all cells
  preprocess::PreprocessOptions preprocess;
  std::string out;                    // transformed .h5ad (all selected cells passing QC)
  std::string save_preprocessor;      // optional JSON
  std::string save_split;             // optional JSON
  std::string apply;                  // a saved preprocessor: transform with it instead of fitting
  bool case_insensitive = false;      // gene-name matching when applying to new data
};

struct PrepareResult {
  preprocess::Preprocessor preprocessor;
  std::optional<Split> split;
  int64_t cells_written = 0;
  int64_t genes_written = 0;
};

PrepareResult prepare(const PrepareOptions& options);

}  // namespace marrow::workflow
