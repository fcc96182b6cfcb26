#pragma once
// A model's gene vocabulary: its ordered gene list. New data is aligned to it by name: genes the
// data lacks are zero-filled, genes the model does not know are dropped, and the overlap is
// reported (a warning below 50% of the vocabulary, an error at 0%). Names match on the var index or
// on any string var column (symbols or Ensembl ids, whichever overlaps most), Ensembl version
// suffixes ignored, optionally case-insensitive.
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "marrow/data/anndata.hpp"

namespace marrow {

struct AlignOptions {
  bool case_insensitive = false;
  std::string var_column;  // "" = try the var index and every string column, keep the best
};

struct GeneAlignment {
  std::vector<int32_t> vocabulary_index;  // per data gene: its vocabulary position, or -1 (dropped)
  int64_t vocabulary_size = 0;
  int64_t matched = 0;
  std::string matched_on;  // "var_names" or the var column used
  double vocabulary_coverage() const { return vocabulary_size ? static_cast<double>(matched) / vocabulary_size : 0; }
  std::string summary() const;
};

class GeneVocabulary {
 public:
  GeneVocabulary() = default;
  explicit GeneVocabulary(std::vector<std::string> genes);
  const std::vector<std::string>& genes() const { return genes_; }
  int64_t size() const { return static_cast<int64_t>(genes_.size()); }

  // Fails when no gene matches; warns when fewer than half of the vocabulary is present.
  GeneAlignment align(const DataFrame& var, const AlignOptions& options = {}, const std::string& source = "") const;
  // The data re-indexed to the vocabulary: n_cells x vocabulary size, var = the vocabulary.
  AnnData apply(const AnnData& data, const GeneAlignment& alignment) const;

  nlohmann::json to_json() const;
  static GeneVocabulary from_json(const nlohmann::json& json);

 private:
  std::vector<std::string> genes_;
};

// The key a gene name is matched on: Ensembl version suffix removed, lower case if asked.
std::string gene_key(const std::string& name, bool case_insensitive);

}  // namespace marrow
