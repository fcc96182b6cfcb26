#pragma once
// A cell encoder, as faiss has one Index: anything that turns cells' raw counts into one vector of
// a fixed width per cell. The autoencoder, the gene model and the PCA baseline each implement it;
// `embed` (and so `marrow run` and `demo`) and `impute --compare` use only this interface; classifier
// features and `embedding-metrics` read what `embed` wrote (an obsm key) or fit the PCA baseline
// (PcaEncoder::fit). A new model kind's encoder is its own files plus one line in
// models/encoder_kinds.def (docs/architecture.md lists what else training a kind needs).
//
// load_encoder(path) reads a .marrow file's header and returns the implementation of its kind.
// An encoder reads the genes it knows from any CellSource (in memory or streamed), matched by name,
// and applies its own preprocessing (fitted at training time, stored in the file).
//
// Torch-free: each implementation lives in its kind's model file (models/autoencoder.cpp,
// models/exceiver.cpp, models/pca.cpp).
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "marrow/data/cell_source.hpp"

namespace marrow::models {

// How an encoder runs, chosen by the caller (not stored in the model).
struct EncodeSettings {
  std::string device = "cpu";     // cpu, cuda or cuda:N
  bool case_insensitive = false;  // gene-name matching
};

class CellEncoder {
 public:
  virtual ~CellEncoder() = default;
  // The model kind as the file names it ("autoencoder", "exceiver", "pca").
  virtual const char* kind() const = 0;
  // Columns of the embedding.
  virtual int64_t width() const = 0;
  // The genes it reads (its vocabulary), in its column order.
  virtual std::vector<std::string> genes() const = 0;
  // Its input in words (preprocessing or tokenisation), for logs and reports.
  virtual std::string input_summary() const = 0;
  // Embeds every cell of the source: row p of the result is the cell at position p.
  virtual DenseMatrix encode(const CellSource& cells) const = 0;

  // Imputation of masked values (impute --compare): for each cell of `data`, its masked genes
  // (gene names) are hidden from the input and predicted, on the scale log1p(count / total x
  // target_sum) with the given per-cell totals; genes it does not know give NaN. Kinds that do not
  // reconstruct expression refuse with a clear error (the default).
  virtual std::vector<std::vector<double>> impute_masked(const AnnData& data,
                                                         const std::vector<std::vector<std::string>>& masked,
                                                         const std::vector<double>& totals, double target_sum) const;

  // The model file's metadata (run, options), as stored.
  const nlohmann::json& meta() const { return meta_; }
  const std::string& path() const { return path_; }

 protected:
  CellEncoder(std::string path, nlohmann::json meta) : meta_(std::move(meta)), path_(std::move(path)) {}

 private:
  nlohmann::json meta_;
  std::string path_;
};

// Opens a model file as an encoder; a file whose kind does not embed cells (a classifier) or is
// unknown is a clear error naming the kinds that do.
std::unique_ptr<CellEncoder> load_encoder(const std::string& path, const EncodeSettings& settings = {});

// The kinds load_encoder knows, in registration order.
std::vector<std::string> encoder_kinds();

}  // namespace marrow::models
