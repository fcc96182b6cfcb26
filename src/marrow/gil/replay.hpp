#pragma once
// The replay buffer of gene-incremental learning: cells of earlier stages, each kept with its own
// stage (so it is replayed with that stage's genes, never with genes it was not measured on).
//   random          stage-balanced: every finished stage holds capacity / stages cells, drawn at random
//   reservoir       Vitter's algorithm R over the stream of cells: a uniform sample of all cells seen,
//                   so stages are represented in proportion to their size
//   class_balanced  equal shares per class of a label over all cells seen (a class with fewer cells
//                   gives its spare slots to the others)
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "marrow/core/enum_names.hpp"
#include "marrow/core/random.hpp"

namespace marrow::gil {

enum class ReplaySelection { Random, Reservoir, ClassBalanced };

struct ReplayItem {
  int stage = 0;
  int64_t row = 0;  // row of the cell within its stage's cells
  int label = -1;   // class index (class_balanced), -1 = none
  bool operator==(const ReplayItem& o) const { return stage == o.stage && row == o.row; }
};

class ReplayBuffer {
 public:
  ReplayBuffer(int64_t capacity, ReplaySelection selection, uint64_t seed);
  // Offers the cells of a finished stage; labels: one per cell (class_balanced needs them, >= 0).
  void add_stage(int stage, int64_t n_cells, const std::vector<int>& labels = {});
  const std::vector<ReplayItem>& items() const { return items_; }
  int64_t capacity() const { return capacity_; }

 private:
  int64_t capacity_;
  ReplaySelection selection_;
  Rng rng_;
  std::vector<ReplayItem> items_, seen_;  // seen_: every offered cell (class_balanced)
  int64_t stream_position_ = 0;           // reservoir
  int stages_ = 0;
};

}  // namespace marrow::gil

namespace marrow {

template <>
struct EnumNames<gil::ReplaySelection> {
  static constexpr const char* what = "replay selection";
  static constexpr std::array<std::pair<gil::ReplaySelection, const char*>, 3> table{{{gil::ReplaySelection::Random, "random"},
                                                                                      {gil::ReplaySelection::Reservoir, "reservoir"},
                                                                                      {gil::ReplaySelection::ClassBalanced, "class_balanced"}}};
};

}  // namespace marrow
