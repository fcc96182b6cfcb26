#include "marrow/preprocess/pipeline.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <optional>
#include <nlohmann/json.hpp>

#include "marrow/core/error.hpp"
#include "marrow/preprocess/normalize.hpp"

namespace marrow::preprocess {

namespace {

std::vector<int32_t> keep_map(const std::vector<int32_t>& kept, int64_t total) {
  std::vector<int32_t> map(total, -1);
  for (size_t i = 0; i < kept.size(); ++i) map[kept[i]] = static_cast<int32_t>(i);
  return map;
}

}  // namespace

Preprocessor Preprocessor::fit(const AnnData& train, const PreprocessOptions& options) {
  CountBlocks blocks;
  blocks.genes = train.gene_names();
  blocks.source = train.source;
  blocks.for_each = [&](const std::function<void(const CsrMatrix&)>& visit) { visit(train.X); };
  return fit(blocks, options);
}

namespace {

// Sums statistics over data-parallel ranks through one flat vector of doubles.
void sum_over_ranks(const CountBlocks& blocks, std::vector<std::vector<double>*> parts) {
  if (!blocks.sum_over_ranks) return;
  std::vector<double> flat;
  for (auto* p : parts) flat.insert(flat.end(), p->begin(), p->end());
  blocks.sum_over_ranks(flat);
  size_t offset = 0;
  for (auto* p : parts) {
    std::copy(flat.begin() + static_cast<std::ptrdiff_t>(offset), flat.begin() + static_cast<std::ptrdiff_t>(offset + p->size()), p->begin());
    offset += p->size();
  }
}

}  // namespace

Preprocessor Preprocessor::fit(const CountBlocks& blocks, const PreprocessOptions& options) {
  if (options.target_sum <= 0) fail("target sum must be positive, got {}", options.target_sum);
  Preprocessor p;
  p.options_ = options;
  const auto n_genes = static_cast<int64_t>(blocks.genes.size());
  const bool v3 = options.hvg == HvgFlavor::SeuratV3;

  // Pass 1: cell QC, each gene's expressing cells, and (seurat_v3) the count moments.
  std::vector<double> cells{0.0}, cells_per_gene(n_genes, 0.0);
  GeneMoments count_moments(v3 ? n_genes : 0);
  blocks.for_each([&](const CsrMatrix& block) {
    require_counts(block, blocks.source);
    CsrMatrix counts = block.select_rows(cells_passing(block, options.qc));
    cells[0] += static_cast<double>(counts.rows);
    std::vector<int64_t> expressing = counts.col_nnz_counts();
    for (int64_t g = 0; g < n_genes; ++g) cells_per_gene[g] += static_cast<double>(expressing[g]);
    if (v3) count_moments.add(counts);
  });
  sum_over_ranks(blocks, {&cells, &cells_per_gene, &count_moments.sum, &count_moments.sum_sq});
  count_moments.rows = cells[0];
  if (cells[0] == 0) fail("{}: no training cell passes the QC filters", blocks.source);
  std::vector<int64_t> per_gene(cells_per_gene.begin(), cells_per_gene.end());
  std::vector<int32_t> genes = genes_passing(per_gene, options.qc);
  if (genes.empty()) fail("{}: no gene passes the QC filter (min cells {})", blocks.source, options.qc.min_cells);
  std::vector<std::string> names;
  for (int32_t g : genes) names.push_back(blocks.genes[g]);
  p.qc_genes_ = GeneVocabulary(names);
  const auto n_qc = static_cast<int64_t>(genes.size());
  std::vector<int32_t> to_qc = keep_map(genes, n_genes);

  std::vector<int32_t> selected(genes.size());
  for (size_t i = 0; i < genes.size(); ++i) selected[i] = static_cast<int32_t>(i);
  const bool hvg = options.hvg != HvgFlavor::None && options.n_top_genes < n_qc;
  if (hvg || options.scale) {
    // Pass 2: the normalised values' moments (scaling, seurat) or the clipped counts (seurat_v3).
    GeneMoments log_moments(options.scale ? n_qc : 0), expm1_moments(hvg && !v3 ? n_qc : 0);
    std::optional<SeuratV3Clipping> clipping;
    if (hvg && v3) {
      std::vector<double> means, variances;
      count_moments.subset(genes).mean_var(means, variances);
      clipping.emplace(std::move(means), std::move(variances), cells[0]);
    }
    blocks.for_each([&](const CsrMatrix& block) {
      CsrMatrix counts = block.select_rows(cells_passing(block, options.qc)).remap_columns(to_qc, n_qc);
      if (clipping) clipping->add(counts);
      CsrMatrix normalised = p.normalise(counts, counts.row_sums());
      if (options.scale) log_moments.add(normalised);
      if (hvg && !v3) {
        for (float& v : normalised.data) v = static_cast<float>(std::expm1(static_cast<double>(v)));
        expm1_moments.add(normalised);
      }
    });
    std::vector<double> unused;
    sum_over_ranks(blocks, {&log_moments.sum, &log_moments.sum_sq, &expm1_moments.sum, &expm1_moments.sum_sq,
                            clipping ? &clipping->clipped_sum : &unused, clipping ? &clipping->clipped_sq : &unused});
    log_moments.rows = expm1_moments.rows = cells[0];
    if (hvg) {
      HvgScores scores;
      if (clipping) {
        scores = clipping->scores();
      } else {
        std::vector<double> means, variances;
        expm1_moments.mean_var(means, variances);
        scores = seurat_scores_from_moments(std::move(means), std::move(variances));
      }
      selected = top_genes(scores.score, options.n_top_genes);
    }
    if (options.scale) {
      std::vector<double> means, variances;
      log_moments.subset(selected).mean_var(means, variances);
      p.scaler_ = GeneScaler::from_moments(means, variances, options.scale_clip);
    }
  }
  p.output_columns_ = selected;
  for (int32_t c : selected) p.output_genes_.push_back(names[c]);
  return p;
}

std::vector<int64_t> Preprocessor::qc_cells(const AnnData& data) const { return cells_passing(data.X, options_.qc); }

CsrMatrix Preprocessor::normalise(const CsrMatrix& counts, const std::vector<double>& totals) const {
  CsrMatrix m = counts;
  normalize_total(m, options_.target_sum, totals);
  if (options_.log1p) log1p(m);
  return m;
}

CsrMatrix Preprocessor::transform(const AnnData& data, const AlignOptions& align) const {
  return model_input(data, align).log_normalised;
}

Preprocessor::ModelInput Preprocessor::model_input(const AnnData& data, const AlignOptions& align) const {
  require_counts(data.X, data.source);
  return model_input(data.X, qc_genes_.align(data.var, align, data.source));
}

Preprocessor::ModelInput Preprocessor::model_input(const CsrMatrix& aligned, const GeneAlignment& alignment) const {
  ModelInput input;
  CsrMatrix counts = aligned.remap_columns(alignment.vocabulary_index, qc_genes_.size());
  input.library_size = counts.row_sums();
  input.log_normalised = normalise(counts, input.library_size);
  if (static_cast<int64_t>(output_columns_.size()) != qc_genes_.size()) {
    std::vector<int32_t> map = keep_map(output_columns_, qc_genes_.size());
    auto n = static_cast<int64_t>(output_columns_.size());
    input.log_normalised = input.log_normalised.remap_columns(map, n);
    counts = counts.remap_columns(map, n);
  }
  input.counts = std::move(counts);
  return input;
}

void Preprocessor::scale_rows(float* values, int64_t rows) const {
  if (options_.scale) scaler_.apply(values, rows);
}

nlohmann::json Preprocessor::to_json() const {
  nlohmann::json j;
  j["qc"] = {{"min_genes", options_.qc.min_genes},
             {"min_cells", options_.qc.min_cells},
             {"min_counts", options_.qc.min_counts},
             {"max_counts", std::isinf(options_.qc.max_counts) ? nlohmann::json(nullptr) : nlohmann::json(options_.qc.max_counts)}};
  j["target_sum"] = options_.target_sum;
  j["log1p"] = options_.log1p;
  j["hvg"] = {{"flavor", options_.hvg}, {"n_top_genes", options_.n_top_genes}};
  j["qc_genes"] = qc_genes_.to_json();
  j["output_columns"] = output_columns_;
  j["scale"] = {{"enabled", options_.scale}, {"clip", options_.scale_clip}, {"mean", scaler_.mean}, {"sd", scaler_.sd}};
  return j;
}

Preprocessor Preprocessor::from_json(const nlohmann::json& j) {
  try {
    Preprocessor p;
    const auto& qc = j.at("qc");
    p.options_.qc.min_genes = qc.at("min_genes").get<int64_t>();
    p.options_.qc.min_cells = qc.at("min_cells").get<int64_t>();
    p.options_.qc.min_counts = qc.at("min_counts").get<double>();
    p.options_.qc.max_counts = qc.at("max_counts").is_null() ? INFINITY : qc.at("max_counts").get<double>();
    p.options_.target_sum = j.at("target_sum").get<double>();
    p.options_.log1p = j.at("log1p").get<bool>();
    p.options_.hvg = j.at("hvg").at("flavor");
    p.options_.n_top_genes = j.at("hvg").at("n_top_genes").get<int64_t>();
    p.qc_genes_ = GeneVocabulary::from_json(j.at("qc_genes"));
    p.output_columns_ = j.at("output_columns").get<std::vector<int32_t>>();
    for (int32_t c : p.output_columns_) {
      if (c < 0 || c >= p.qc_genes_.size()) fail("output column {} outside the {} genes", c, p.qc_genes_.size());
      p.output_genes_.push_back(p.qc_genes_.genes()[c]);
    }
    const auto& scale = j.at("scale");
    p.options_.scale = scale.at("enabled").get<bool>();
    p.options_.scale_clip = scale.at("clip").get<double>();
    p.scaler_.clip = p.options_.scale_clip;
    p.scaler_.mean = scale.at("mean").get<std::vector<double>>();
    p.scaler_.sd = scale.at("sd").get<std::vector<double>>();
    if (p.options_.scale && p.scaler_.mean.size() != p.output_genes_.size())
      fail("scaler has {} genes, expected {}", p.scaler_.mean.size(), p.output_genes_.size());
    return p;
  } catch (const nlohmann::json::exception& e) {
    fail("not a marrow preprocessor: {}", e.what());
  }
}

std::string Preprocessor::summary() const {
  return fmt::format("QC keeps {} genes; normalise to {:g}{}; {} output genes (hvg: {}){}", qc_genes_.size(),
                     options_.target_sum, options_.log1p ? ", log1p" : "", output_genes_.size(),
                     options_.hvg, options_.scale ? fmt::format(", scaled (clip {:g})", options_.scale_clip) : "");
}

}  // namespace marrow::preprocess
