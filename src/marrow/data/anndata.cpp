#include "marrow/data/anndata.hpp"

namespace marrow {

AnnData AnnData::select_cells(const std::vector<int64_t>& rows) const {
  AnnData out;
  out.X = X.select_rows(rows);
  out.obs = obs.subset(rows);
  out.var = var;
  out.source = source;
  out.matrix_source = matrix_source;
  return out;
}

}  // namespace marrow
