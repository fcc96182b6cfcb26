#pragma once
// Writes AnnData .h5ad files in the encoding anndata >= 0.8 reads (and scanpy with it): either a
// whole new file from an AnnData, or a copy of an input file with marrow's results added (obsm
// embeddings, obs prediction columns, varm gene embeddings, uns run metadata). The copy keeps every
// element marrow does not understand. Output goes to a temporary name and is renamed when complete.
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "marrow/data/anndata.hpp"

namespace marrow::io {

struct H5adAdditions {
  std::map<std::string, DenseMatrix> obsm;  // cells x k
  std::map<std::string, DenseMatrix> varm;  // genes x k
  std::vector<Column> obs_columns;          // added, or replacing a column of the same name
  nlohmann::json uns = nlohmann::json::object();  // each top-level key becomes uns/<key>
  bool empty() const { return obsm.empty() && varm.empty() && obs_columns.empty() && uns.empty(); }
};

// A new file holding `data` (X as CSR float32) plus the additions.
void write_h5ad(const std::string& path, const AnnData& data, const H5adAdditions& additions = {});

// A copy of `input` (an .h5ad) with the additions. Where the input uses the legacy (< 0.7) layout,
// it is rewritten in the current encoding from what marrow reads of it.
void write_h5ad_with_additions(const std::string& input, const std::string& output, const H5adAdditions& additions);

}  // namespace marrow::io
