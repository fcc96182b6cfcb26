#pragma once
// Cells as sets of (gene, value) tokens over a model's gene vocabulary, the input of the
// masked-expression model. Each file keeps its own panel (the vocabulary genes it measured): a
// gene outside a cell's panel is unknown for that cell, never a zero. Values are log-normalised
// over the file's own genes (normalize_total to target_sum, then log1p), raw counts kept beside
// them for the count losses.
#include <functional>
#include <string>
#include <vector>

#include "marrow/data/anndata.hpp"
#include "marrow/data/vocabulary.hpp"

namespace marrow::preprocess {

struct TokenCells {
  CsrMatrix values;                          // cells x vocabulary, log-normalised, sorted columns
  CsrMatrix counts;                          // the same pattern, raw counts
  std::vector<double> library;               // per cell: total counts over all of its file's genes
  std::vector<int32_t> panel_of_cell;        // per cell: index into panels
  std::vector<std::vector<int32_t>> panels;  // per file: sorted vocabulary ids it measured

  int64_t n_cells() const { return values.rows; }
  // Appends another set over the same vocabulary (its panels are added after ours).
  void append(const TokenCells& other);
  TokenCells select_cells(const std::vector<int64_t>& rows) const;
  // The same cells seeing only the genes with keep[gene] != 0: other values are dropped and every
  // panel is narrowed to them (gene-incremental stages; library sizes stay the whole cell's).
  TokenCells restrict_genes(const std::vector<uint8_t>& keep) const;
  // Rows with at least one expressed gene (a cell with none cannot be encoded).
  std::vector<int64_t> rows_with_tokens() const;
};

// The vocabulary of several files: the union of their gene names (var_names) in first-seen order.
GeneVocabulary union_vocabulary(const std::vector<const AnnData*>& files);

// Tokens of `data` (raw counts) over `vocabulary`, aligned by name (AlignOptions as embed uses).
TokenCells tokenize(const AnnData& data, const GeneVocabulary& vocabulary, double target_sum = 1e4,
                    const AlignOptions& align = {});
// The vocabulary genes a file measured (its panel), sorted: those its genes align to.
std::vector<int32_t> panel_of(const GeneAlignment& alignment);

// The same for counts whose genes are already aligned (blocks of one file share an alignment);
// cell_name(i) names row i in errors.
TokenCells tokenize(const CsrMatrix& counts, const GeneAlignment& alignment, int64_t vocabulary_size, double target_sum,
                    const std::string& source, const std::function<std::string(int64_t)>& cell_name);

}  // namespace marrow::preprocess
