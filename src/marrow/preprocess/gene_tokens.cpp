#include "marrow/preprocess/gene_tokens.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "marrow/core/error.hpp"
#include "marrow/preprocess/normalize.hpp"

namespace marrow::preprocess {

namespace {

void append_rows(CsrMatrix& to, const CsrMatrix& from) {
  if (to.cols != from.cols) fail("token sets over different vocabularies ({} and {} genes)", to.cols, from.cols);
  int64_t base = to.indptr.back();
  for (int64_t r = 1; r <= from.rows; ++r) to.indptr.push_back(base + from.indptr[r]);
  to.indices.insert(to.indices.end(), from.indices.begin(), from.indices.end());
  to.data.insert(to.data.end(), from.data.begin(), from.data.end());
  to.rows += from.rows;
}

}  // namespace

void TokenCells::append(const TokenCells& other) {
  if (values.rows == 0 && panels.empty()) {
    *this = other;
    return;
  }
  append_rows(values, other.values);
  append_rows(counts, other.counts);
  library.insert(library.end(), other.library.begin(), other.library.end());
  int32_t offset = static_cast<int32_t>(panels.size());
  for (int32_t p : other.panel_of_cell) panel_of_cell.push_back(p + offset);
  panels.insert(panels.end(), other.panels.begin(), other.panels.end());
}

TokenCells TokenCells::select_cells(const std::vector<int64_t>& rows) const {
  TokenCells out;
  out.values = values.select_rows(rows);
  out.counts = counts.select_rows(rows);
  out.panels = panels;
  for (int64_t r : rows) {
    out.library.push_back(library[r]);
    out.panel_of_cell.push_back(panel_of_cell[r]);
  }
  return out;
}

TokenCells TokenCells::restrict_genes(const std::vector<uint8_t>& keep) const {
  if (static_cast<int64_t>(keep.size()) != values.cols) fail("restrict_genes: {} flags for {} genes", keep.size(), values.cols);
  TokenCells out = *this;
  for (CsrMatrix* m : {&out.values, &out.counts}) {
    const CsrMatrix& from = m == &out.values ? values : counts;
    m->indices.clear(), m->data.clear();
    m->indptr.assign(1, 0);
    for (int64_t r = 0; r < from.rows; ++r) {
      for (int64_t k = from.indptr[r]; k < from.indptr[r + 1]; ++k)
        if (keep[static_cast<size_t>(from.indices[k])]) m->indices.push_back(from.indices[k]), m->data.push_back(from.data[k]);
      m->indptr.push_back(static_cast<int64_t>(m->indices.size()));
    }
  }
  for (auto& panel : out.panels) std::erase_if(panel, [&](int32_t g) { return !keep[static_cast<size_t>(g)]; });
  return out;
}

std::vector<int64_t> TokenCells::rows_with_tokens() const {
  std::vector<int64_t> rows;
  for (int64_t r = 0; r < values.rows; ++r) {
    bool any = false;
    for (int64_t k = values.indptr[r]; k < values.indptr[r + 1] && !any; ++k) any = values.data[k] > 0;
    if (any) rows.push_back(r);
  }
  return rows;
}

GeneVocabulary union_vocabulary(const std::vector<const AnnData*>& files) {
  std::vector<std::string> genes;
  std::unordered_set<std::string> seen;
  for (const AnnData* file : files)
    for (const std::string& name : file->gene_names())
      if (seen.insert(gene_key(name, false)).second) genes.push_back(name);
  if (genes.empty()) fail("no genes in the input files");
  return GeneVocabulary(std::move(genes));
}

std::vector<int32_t> panel_of(const GeneAlignment& alignment) {
  std::vector<int32_t> panel;
  for (int32_t v : alignment.vocabulary_index)
    if (v >= 0) panel.push_back(v);
  std::sort(panel.begin(), panel.end());
  panel.erase(std::unique(panel.begin(), panel.end()), panel.end());
  return panel;
}

TokenCells tokenize(const AnnData& data, const GeneVocabulary& vocabulary, double target_sum, const AlignOptions& align) {
  return tokenize(data.X, vocabulary.align(data.var, align, data.source), vocabulary.size(), target_sum, data.source,
                  [&](int64_t i) { return data.cell_names()[i]; });
}

TokenCells tokenize(const CsrMatrix& counts, const GeneAlignment& alignment, int64_t vocabulary_size, double target_sum,
                    const std::string& source, const std::function<std::string(int64_t)>& cell_name) {
  TokenCells t;
  // The library is the cell's total over every gene of its file, as normalize_total uses it.
  t.library = counts.row_sums();
  for (size_t i = 0; i < t.library.size(); ++i)
    if (!std::isfinite(t.library[i]) || t.library[i] < 0)
      fail("{}: cell {} has a negative or non-finite total count; token models need raw counts", source, cell_name(static_cast<int64_t>(i)));
  CsrMatrix normalised = counts;
  normalize_total(normalised, target_sum, t.library);
  log1p(normalised);
  t.values = normalised.remap_columns(alignment.vocabulary_index, vocabulary_size);
  t.counts = counts.remap_columns(alignment.vocabulary_index, vocabulary_size);
  // A cell without a single expressed vocabulary gene has no tokens: nothing to encode or mask.
  std::vector<int64_t> with_tokens = t.rows_with_tokens();
  const int64_t empty = t.values.rows - static_cast<int64_t>(with_tokens.size());
  int64_t first_empty = 0;
  while (first_empty < static_cast<int64_t>(with_tokens.size()) && with_tokens[first_empty] == first_empty) ++first_empty;
  if (empty > 0)
    fail("{}: {} cell{} no expressed gene of the model's vocabulary (first: '{}'); select cells with counts "
         "(e.g. --cells \"n_genes>0\") or check the gene names",
         source, empty, empty == 1 ? " has" : "s have", cell_name(first_empty));
  t.panels = {panel_of(alignment)};
  t.panel_of_cell.assign(static_cast<size_t>(counts.rows), 0);
  return t;
}

}  // namespace marrow::preprocess
