#pragma once
// Quality-control filters with scanpy's definitions: a cell's genes are those with a non-zero
// count (filter_cells min_genes), a gene's cells likewise (filter_genes min_cells), and a cell's
// counts are its total (max_counts / min_counts).
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "marrow/data/csr_matrix.hpp"

namespace marrow::preprocess {

struct QcOptions {
  int64_t min_genes = 0;   // per cell
  int64_t min_cells = 0;   // per gene, counted on the training cells
  double min_counts = 0;   // per cell
  double max_counts = std::numeric_limits<double>::infinity();  // per cell
};

// Rows passing the cell filters.
std::vector<int64_t> cells_passing(const CsrMatrix& counts, const QcOptions& options);
// Columns passing the gene filter (computed on the given cells).
std::vector<int32_t> genes_passing(const CsrMatrix& counts, const QcOptions& options);
// The same from each gene's number of expressing cells (counted block by block when streaming).
std::vector<int32_t> genes_passing(const std::vector<int64_t>& cells_per_gene, const QcOptions& options);

// Fails with a clear message on negative, NaN or infinite values where raw counts are required.
void require_counts(const CsrMatrix& counts, const std::string& source);
// True when every stored value is a non-negative integer (checked on up to `max_rows` rows).
bool looks_like_counts(const CsrMatrix& matrix, int64_t max_rows = 2000);

}  // namespace marrow::preprocess
