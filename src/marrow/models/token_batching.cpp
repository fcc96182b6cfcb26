#include "marrow/models/token_batching.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_set>

namespace marrow::models {

CellExample make_example(const preprocess::TokenCells& cells, int64_t row, const MaskingOptions& masking, Rng& rng,
                         const std::vector<uint8_t>* maskable) {
  CellExample e;
  e.library = cells.library[row];
  const CsrMatrix& v = cells.values;
  const CsrMatrix& c = cells.counts;
  std::vector<int64_t> order;
  for (int64_t k = v.indptr[row]; k < v.indptr[row + 1]; ++k)
    if (v.data[k] > 0) order.push_back(k);
  if (masking.max_tokens > 0 && static_cast<int64_t>(order.size()) > masking.max_tokens) {
    // Most expressed first; ties by gene id, so the cap is deterministic.
    std::partial_sort(order.begin(), order.begin() + masking.max_tokens, order.end(), [&](int64_t a, int64_t b) {
      return v.data[a] != v.data[b] ? v.data[a] > v.data[b] : v.indices[a] < v.indices[b];
    });
    order.resize(static_cast<size_t>(masking.max_tokens));
    std::sort(order.begin(), order.end());
  }
  const size_t n = order.size();
  for (int64_t k : order) {
    e.genes.push_back(v.indices[k]);
    e.values.push_back(v.data[k]);
  }
  e.masked.assign(n, 0);
  // The tokens that may be masked: all, or those of the maskable genes.
  std::vector<size_t> positions;
  for (size_t p = 0; p < n; ++p)
    if (!maskable || (*maskable)[static_cast<size_t>(e.genes[p])]) positions.push_back(p);
  const size_t candidates = positions.size();
  // Masked share of the candidates, at least one, leaving at least one token visible.
  size_t n_masked = static_cast<size_t>(std::lround(masking.mask_fraction * static_cast<double>(candidates)));
  if (masking.mask_fraction > 0 && n >= 2 && candidates > 0) n_masked = std::clamp<size_t>(n_masked, 1, std::min(candidates, n - 1));
  else n_masked = 0;
  if (n_masked > 0) {
    for (size_t i = 0; i < n_masked; ++i) std::swap(positions[i], positions[i + uniform_index(rng, candidates - i)]);
    std::sort(positions.begin(), positions.begin() + static_cast<std::ptrdiff_t>(n_masked));
    for (size_t i = 0; i < n_masked; ++i) {
      size_t p = positions[i];
      e.masked[p] = 1;
      e.query_genes.push_back(e.genes[p]);
      e.query_values.push_back(e.values[p]);
      e.query_counts.push_back(c.data[order[p]]);
      e.query_masked.push_back(1);
    }
  }
  // Unexpressed genes of the cell's panel: any gene of the panel the cell has no count for.
  const auto& panel = cells.panels[cells.panel_of_cell[row]];
  size_t wanted = static_cast<size_t>(std::lround(masking.unexpressed_ratio * static_cast<double>(n_masked)));
  if (wanted > 0 && !panel.empty()) {
    std::unordered_set<int32_t> taken;
    for (int64_t k = v.indptr[row]; k < v.indptr[row + 1]; ++k) taken.insert(v.indices[k]);
    size_t available = panel.size() > taken.size() ? panel.size() - taken.size() : 0;
    wanted = std::min(wanted, available);
    for (size_t tries = 0; e.query_genes.size() < n_masked + wanted && tries < 20 * wanted + 100; ++tries) {
      int32_t g = panel[uniform_index(rng, panel.size())];
      if ((maskable && !(*maskable)[static_cast<size_t>(g)]) || !taken.insert(g).second) continue;
      e.query_genes.push_back(g);
      e.query_values.push_back(0.0f);
      e.query_counts.push_back(0.0f);
      e.query_masked.push_back(0);
    }
  }
  return e;  // never without tokens: tokenize() refuses cells with no expressed vocabulary gene
}

// Per-gene mean of the log-normalised values over the cells whose panel has the gene, and over the
// cells that express it.
GeneValueSums::GeneValueSums(int64_t n_genes)
    : sum(static_cast<size_t>(n_genes), 0.0), cells(static_cast<size_t>(n_genes), 0.0), expressing(static_cast<size_t>(n_genes), 0.0) {}

void GeneValueSums::add(const preprocess::TokenCells& block) {
  std::vector<int64_t> cells_per_panel(block.panels.size(), 0);
  for (int32_t p : block.panel_of_cell) ++cells_per_panel[p];
  for (size_t p = 0; p < block.panels.size(); ++p)
    for (int32_t g : block.panels[p]) cells[g] += static_cast<double>(cells_per_panel[p]);
  const CsrMatrix& v = block.values;
  for (int64_t k = 0; k < v.nnz(); ++k) {
    sum[v.indices[k]] += v.data[k];
    expressing[v.indices[k]] += v.data[k] > 0;
  }
}

std::pair<torch::Tensor, torch::Tensor> GeneValueSums::means() const {
  const auto n_genes = static_cast<int64_t>(sum.size());
  torch::Tensor all = torch::zeros({n_genes}), expressed = torch::zeros({n_genes});
  auto a = all.accessor<float, 1>();
  auto e = expressed.accessor<float, 1>();
  for (int64_t g = 0; g < n_genes; ++g) {
    a[g] = cells[g] > 0 ? static_cast<float>(sum[g] / cells[g]) : 0.0f;
    e[g] = expressing[g] > 0 ? static_cast<float>(sum[g] / expressing[g]) : 0.0f;
  }
  return {all, expressed};
}

std::pair<torch::Tensor, torch::Tensor> gene_value_means(const preprocess::TokenCells& cells, int64_t n_genes) {
  GeneValueSums sums(n_genes);
  sums.add(cells);
  return sums.means();
}

std::vector<CellExample> training_examples(const preprocess::TokenCells& cells, const std::vector<int64_t>& rows,
                                           const MaskingOptions& masking, const std::vector<int64_t>* ids) {
  const uint64_t base = static_cast<uint64_t>(torch::randint(std::numeric_limits<int64_t>::max(), {1}, torch::kInt64).item<int64_t>());
  std::vector<CellExample> examples;
  examples.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t id = ids ? (*ids)[i] : rows[i];
    Rng rng = cell_rng(base, id);
    examples.push_back(make_example(cells, rows[i], masking, rng));
  }
  return examples;
}

TokenBatch to_batch(const std::vector<CellExample>& examples, bool count_targets) {
  const int64_t b = static_cast<int64_t>(examples.size());
  int64_t t = 1, q = 1;
  for (const auto& e : examples) {
    t = std::max<int64_t>(t, static_cast<int64_t>(e.genes.size()));
    q = std::max<int64_t>(q, static_cast<int64_t>(e.query_genes.size()));
  }
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  auto boolean = torch::TensorOptions().dtype(torch::kBool);
  TokenBatch batch;
  batch.genes = torch::zeros({b, t}, i64);
  batch.values = torch::zeros({b, t});
  batch.masked = torch::zeros({b, t}, boolean);
  batch.padding = torch::ones({b, t}, boolean);
  batch.query_genes = torch::zeros({b, q}, i64);
  batch.query_padding = torch::ones({b, q}, boolean);
  batch.targets = torch::zeros({b, q});
  batch.library = torch::zeros({b});
  auto genes = batch.genes.accessor<int64_t, 2>();
  auto values = batch.values.accessor<float, 2>();
  auto masked = batch.masked.accessor<bool, 2>();
  auto padding = batch.padding.accessor<bool, 2>();
  auto query_genes = batch.query_genes.accessor<int64_t, 2>();
  auto query_padding = batch.query_padding.accessor<bool, 2>();
  auto targets = batch.targets.accessor<float, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const CellExample& e = examples[i];
    for (size_t k = 0; k < e.genes.size(); ++k) {
      genes[i][k] = e.genes[k];
      values[i][k] = e.values[k];
      masked[i][k] = e.masked[k] != 0;
      padding[i][k] = false;
    }
    for (size_t k = 0; k < e.query_genes.size(); ++k) {
      query_genes[i][k] = e.query_genes[k];
      query_padding[i][k] = false;
      targets[i][k] = count_targets ? e.query_counts[k] : e.query_values[k];
    }
    batch.library[i] = e.library;
  }
  return batch;
}

torch::Tensor over_whole_cells(const preprocess::TokenCells& cells, const MaskingOptions& whole, int64_t batch_size,
                               const std::function<torch::Tensor(const TokenBatch&)>& read) {
  torch::NoGradGuard no_grad;
  Rng rng(0);  // unused: nothing is masked or queried
  std::vector<torch::Tensor> parts;
  for (int64_t start = 0; start < cells.n_cells(); start += batch_size) {
    std::vector<CellExample> examples;
    for (int64_t r = start; r < std::min(cells.n_cells(), start + batch_size); ++r) examples.push_back(make_example(cells, r, whole, rng));
    parts.push_back(read(to_batch(examples, false)).cpu());
  }
  return torch::cat(parts).contiguous();
}

}  // namespace marrow::models
