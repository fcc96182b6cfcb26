#include "marrow/data/anndata.hpp"

namespace marrow {

AnnData AnnData::select_cells(const std::vector<int64_t>& rows) const {
  AnnData out;
  out.X = X.select_rows(rows);
  out.obs = obs.subset(rows);
  out.var = var;
  for (const auto& [key, m] : obsm) {
    DenseMatrix subset{static_cast<int64_t>(rows.size()), m.cols, {}};
    subset.values.reserve(rows.size() * m.cols);
    for (int64_t r : rows) subset.values.insert(subset.values.end(), m.values.begin() + r * m.cols, m.values.begin() + (r + 1) * m.cols);
    out.obsm[key] = std::move(subset);
  }
  out.source = source;
  out.matrix_source = matrix_source;
  return out;
}

}  // namespace marrow
