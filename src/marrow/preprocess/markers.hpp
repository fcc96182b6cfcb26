#pragma once
// Marker genes of labelled classes: for each class, the genes whose mean log-normalised value is
// higher in the class than in the other labelled cells, ranked by Welch's t-statistic. `marrow genes
// --markers-from` scores gene embeddings against them; `marrow gil plan --auto-plan markers:COL`
// builds stage gene sets from them.
#include <cstdint>
#include <vector>

#include "marrow/data/csr_matrix.hpp"

namespace marrow::preprocess {

struct RankedGene {
  double t = 0;        // Welch t of the class against the rest (positive: higher in the class)
  int32_t column = 0;  // column of the matrix
};

// values: cells x genes, log-normalised. cls: class per row in [0, n_classes), -1 = not used.
// Per class, its up-regulated columns, largest t first (classes or rest with fewer than 2 cells: none).
std::vector<std::vector<RankedGene>> rank_markers(const CsrMatrix& values, const std::vector<int>& cls, int n_classes);

// The `count` columns that best separate the classes: the classes take turns, each adding its best
// column not yet taken and not `excluded` (per column, nonzero = excluded), until `count` are taken
// or the ranked columns run out. Returned in the order taken.
std::vector<int32_t> separating_genes(const std::vector<std::vector<RankedGene>>& ranked, int64_t count,
                                      const std::vector<uint8_t>& excluded);

}  // namespace marrow::preprocess
