#pragma once
// Reads AnnData .h5ad files as anndata writes them: the current encoding (anndata >= 0.7, with
// encoding-type attributes and categorical groups) and the legacy one (< 0.7: compound obs/var
// records, categories in uns/<column>_categories, h5sparse attributes, raw.X). X may be CSR, CSC
// or dense; values of any numeric type are converted to float32.
#include <optional>
#include <string>
#include <vector>

#include "marrow/data/anndata.hpp"

namespace marrow::io {

struct RowRange {
  int64_t begin = 0;
  int64_t end = 0;  // exclusive
};

struct H5adReadOptions {
  // Which matrix is the cells x genes data: "X", "raw/X" (with raw/var as genes) or "layers/NAME".
  std::string matrix = "X";
  bool read_matrix = true;        // false: obs and var only (X left empty with the right shape)
  bool read_obsm = true;          // the 2-D numeric obsm entries (embeddings)
  std::optional<RowRange> rows;   // a block of cells; CSR and dense read only that block from disk
};

AnnData read_h5ad(const std::string& path, const H5adReadOptions& options = {});

// obsm[key] (cells x k, e.g. an embedding) as float32; fails listing the keys present when absent.
DenseMatrix read_obsm(const std::string& path, const std::string& key);

// What a file holds, read from metadata alone (X is not loaded).
struct H5adLayout {
  int64_t n_cells = 0;
  int64_t n_genes = 0;
  std::string x_format;    // "csr", "csc" or "dense"
  std::string x_dtype;     // "float32", "float64", "int32", ...
  int64_t x_stored = 0;    // stored values (nnz for sparse, cells x genes for dense)
  std::vector<std::string> compression;
  std::string encoding;    // "anndata>=0.7" or "legacy (<0.7)"
  bool has_raw = false;
  std::vector<std::string> layers, obsm, varm, obsp, uns;
};
H5adLayout read_h5ad_layout(const std::string& path);

// Reads blocks of cells from one file without loading the whole matrix (for streaming).
class H5adRowReader {
 public:
  explicit H5adRowReader(std::string path, std::string matrix = "X");
  int64_t n_cells() const { return n_cells_; }
  int64_t n_genes() const { return n_genes_; }
  // "csr", "csc" or "dense": a CSC matrix has to be read whole to get any row.
  const std::string& format() const { return format_; }
  CsrMatrix read_rows(int64_t begin, int64_t end) const;

 private:
  std::string path_, matrix_, format_;
  int64_t n_cells_ = 0, n_genes_ = 0;
};

}  // namespace marrow::io
