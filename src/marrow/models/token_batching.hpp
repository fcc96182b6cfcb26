#pragma once
// Cells of a TokenCells set as training examples of the masked-expression model, and examples as
// padded tensors. An example keeps the cell's expressed genes (its most expressed max_tokens when it
// has more), hides mask_fraction of them behind the mask embedding and queries them, and queries as
// many unexpressed genes of the cell's panel per masked gene as unexpressed_ratio says (target 0).
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "marrow/core/random.hpp"
#include "marrow/models/exceiver.hpp"
#include "marrow/preprocess/gene_tokens.hpp"

namespace marrow::models {

struct CellExample {
  std::vector<int32_t> genes;         // input tokens
  std::vector<float> values;          // log-normalised
  std::vector<uint8_t> masked;        // token hidden
  std::vector<int32_t> query_genes;   // masked expressed genes first, then unexpressed ones
  std::vector<float> query_values;    // log-normalised truth (0 for unexpressed)
  std::vector<float> query_counts;    // raw count truth
  std::vector<uint8_t> query_masked;  // 1: a masked expressed gene, 0: a sampled unexpressed one
  double library = 0;
};

// With mask_fraction 0 the example is the whole (capped) cell with no queries: what embedding reads.
// maskable (per vocabulary gene, nonzero = may be masked or queried): restricts masking and queries
// to a gene set, e.g. one stage's genes in gene-incremental evaluation; null = every gene.
CellExample make_example(const preprocess::TokenCells& cells, int64_t row, const MaskingOptions& masking, Rng& rng,
                         const std::vector<uint8_t>* maskable = nullptr);

// Per gene of the vocabulary: the mean log-normalised value over the cells whose panel has the gene
// (zeros included), and over the cells that express it (the imputation baselines a model keeps).
std::pair<torch::Tensor, torch::Tensor> gene_value_means(const preprocess::TokenCells& cells, int64_t n_genes);
// The same summed over blocks of cells (streaming): add every block, sum over data-parallel ranks
// (the three vectors, elementwise), then means().
struct GeneValueSums {
  std::vector<double> sum, cells, expressing;  // per gene
  explicit GeneValueSums(int64_t n_genes);
  void add(const preprocess::TokenCells& cells);
  std::pair<torch::Tensor, torch::Tensor> means() const;
};

// Training examples of these rows with fresh masks. The masks come from torch's generator (which
// the trainer seeds per epoch, so a resumed run draws the same masks) and are drawn per row, so a
// cell's mask does not depend on which other cells share its batch or rank.
// The generator of one cell's mask: from a base seed and the cell's lasting id, so that the mask
// does not depend on which cells share its batch or rank.
inline Rng cell_rng(uint64_t base, int64_t id) { return Rng(base ^ (0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(id + 1))); }

// ids: what each cell's mask is seeded from where rows are not the cells' lasting positions
// (streamed batches are fetched as rows 0..k-1); null = the rows themselves.
std::vector<CellExample> training_examples(const preprocess::TokenCells& cells, const std::vector<int64_t>& rows,
                                           const MaskingOptions& masking, const std::vector<int64_t>* ids = nullptr);

// Pads examples to their longest token set and query list. count_targets: targets are raw counts.
TokenBatch to_batch(const std::vector<CellExample>& examples, bool count_targets);

// Every cell whole (`whole` masks and queries nothing) in batches, each batch through `read` (e.g.
// encode + cell embedding); the per-cell rows stacked [n, k], computed without gradients.
torch::Tensor over_whole_cells(const preprocess::TokenCells& cells, const MaskingOptions& whole, int64_t batch_size,
                               const std::function<torch::Tensor(const TokenBatch&)>& read);

}  // namespace marrow::models
