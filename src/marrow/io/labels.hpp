#pragma once
// Cell annotations kept beside the matrix in a CSV/TSV (e.g. pbmc3k/cell_types.csv), joined onto
// obs by barcode. The key is the column named barcode/cell/cell_id/obs_names/index, else the first.
#include <string>

#include "marrow/data/anndata.hpp"

namespace marrow::io {

struct LabelJoinReport {
  int64_t matched = 0;
  int64_t unmatched_cells = 0;   // cells with no row in the table (missing values)
  int64_t unused_rows = 0;       // rows naming no cell of the data
  std::vector<std::string> columns;
};

// Reads a delimited table (delimiter from the extension: .tsv/.txt tab, otherwise comma; quotes
// honoured); text columns become categorical, all-numeric ones numeric.
DataFrame read_table(const std::string& path);

// Adds the table's columns to data.obs. Fails when no barcode matches.
LabelJoinReport join_labels(AnnData& data, const std::string& table_path);

}  // namespace marrow::io
