#include "marrow/data/vocabulary.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <unordered_map>

#include "marrow/core/error.hpp"
#include "marrow/core/strings.hpp"

namespace marrow {

std::string gene_key(const std::string& name, bool case_insensitive) {
  std::string key = name;
  if (key.rfind("ENS", 0) == 0) {  // ENSG00000141510.16 -> ENSG00000141510
    size_t dot = key.find('.');
    if (dot != std::string::npos) key.resize(dot);
  }
  return case_insensitive ? to_lower(key) : key;
}

std::string GeneAlignment::summary() const {
  return fmt::format("{} of {} model genes found in the data ({:.1f}%, matched on {})", matched, vocabulary_size,
                     100.0 * vocabulary_coverage(), matched_on);
}

GeneVocabulary::GeneVocabulary(std::vector<std::string> genes) : genes_(std::move(genes)) {}

GeneAlignment GeneVocabulary::align(const DataFrame& var, const AlignOptions& options, const std::string& source) const {
  std::unordered_map<std::string, int32_t> position;
  for (size_t i = 0; i < genes_.size(); ++i) position.emplace(gene_key(genes_[i], options.case_insensitive), static_cast<int32_t>(i));

  auto try_names = [&](const std::vector<std::string>& names, const std::string& label) {
    GeneAlignment a;
    a.vocabulary_size = size();
    a.matched_on = label;
    a.vocabulary_index.assign(names.size(), -1);
    std::vector<uint8_t> used(genes_.size(), 0);
    for (size_t g = 0; g < names.size(); ++g) {
      auto it = position.find(gene_key(names[g], options.case_insensitive));
      if (it == position.end() || used[it->second]) continue;  // a duplicate name maps once
      used[it->second] = 1;
      a.vocabulary_index[g] = it->second;
      ++a.matched;
    }
    return a;
  };

  GeneAlignment best;
  if (!options.var_column.empty()) {
    if (options.var_column == "var_names" || options.var_column == "index") {
      best = try_names(var.index, "var_names");
    } else {
      const Column& column = var.require(options.var_column, "var");
      std::vector<std::string> names(column.size());
      for (size_t i = 0; i < names.size(); ++i) names[i] = column.text(i);
      best = try_names(names, options.var_column);
    }
  } else {
    best = try_names(var.index, "var_names");
    for (const auto& column : var.columns) {
      if (column.kind != ColumnKind::String && column.kind != ColumnKind::Categorical) continue;
      std::vector<std::string> names(column.size());
      for (size_t i = 0; i < names.size(); ++i) names[i] = column.text(i);
      GeneAlignment candidate = try_names(names, column.name);
      if (candidate.matched > best.matched) best = std::move(candidate);
    }
  }
  std::string prefix = source.empty() ? "" : source + ": ";
  if (best.matched == 0)
    fail("{}no gene of the data matches the model's {} genes (model genes e.g. {}; data genes e.g. {}){}", prefix, size(),
         join_limited(genes_, 3), join_limited(var.index, 3),
         options.case_insensitive ? "" : "; try case-insensitive matching");
  if (best.vocabulary_coverage() < 0.5) spdlog::warn("{}only {}", prefix, best.summary());
  else spdlog::info("{}{}", prefix, best.summary());
  return best;
}

AnnData GeneVocabulary::apply(const AnnData& data, const GeneAlignment& alignment) const {
  AnnData out;
  out.X = data.X.remap_columns(alignment.vocabulary_index, size());
  out.obs = data.obs;
  out.var.index = genes_;
  out.source = data.source;
  out.matrix_source = data.matrix_source;
  return out;
}

nlohmann::json GeneVocabulary::to_json() const { return genes_; }

GeneVocabulary GeneVocabulary::from_json(const nlohmann::json& json) {
  if (!json.is_array()) fail("gene vocabulary must be a JSON array of names");
  return GeneVocabulary(json.get<std::vector<std::string>>());
}

}  // namespace marrow
