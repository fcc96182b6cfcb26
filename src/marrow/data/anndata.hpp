#pragma once
// The in-memory form of one single-cell dataset, whatever file it came from: a cells x genes
// matrix with its cell table (obs) and gene table (var), as AnnData holds them.
#include <map>
#include <string>

#include "marrow/data/csr_matrix.hpp"
#include "marrow/data/frame.hpp"

namespace marrow {

struct AnnData {
  CsrMatrix X;
  DataFrame obs;  // one row per cell; index = cell barcodes / obs_names
  DataFrame var;  // one row per gene; index = var_names (symbols or Ensembl ids)
  std::map<std::string, DenseMatrix> obsm;  // per-cell matrices (embeddings), cells x k
  std::string source;         // file or directory it was read from
  std::string matrix_source;  // "X", "raw/X", "layers/counts", "matrix.mtx" ...

  int64_t n_cells() const { return X.rows; }
  int64_t n_genes() const { return X.cols; }
  const std::vector<std::string>& gene_names() const { return var.index; }
  const std::vector<std::string>& cell_names() const { return obs.index; }
  // Keeps the given cells (rows of X and obs), in order.
  AnnData select_cells(const std::vector<int64_t>& rows) const;
};

}  // namespace marrow
