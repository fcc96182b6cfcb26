#include "marrow/data/cell_source.hpp"

#include "marrow/data/selection.hpp"

namespace marrow {

void InMemoryCells::for_each_block(const CellBlockVisitor& visit) const {
  const std::vector<int64_t> positions = all_rows(data_->n_cells());
  visit(data_->X, positions);
}

}  // namespace marrow
