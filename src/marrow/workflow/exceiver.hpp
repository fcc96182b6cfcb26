#pragma once
// The masked-expression gene model as library calls: `marrow pretrain exceiver`, `marrow genes`
// (embeddings and marker neighbourhoods) and `marrow impute` (embedding goes through the encoder
// interface: models/encoder.hpp).
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "marrow/data/csr_matrix.hpp"
#include "marrow/data/row_stream.hpp"
#include "marrow/data/vocabulary.hpp"
#include "marrow/models/exceiver_options.hpp"
#include "marrow/preprocess/gene_tokens.hpp"
#include "marrow/models/token_input.hpp"
#include "marrow/train/train_options.hpp"
#include "marrow/workflow/pretrain.hpp"
#include "marrow/data/parts.hpp"
#include "marrow/workflow/prepare.hpp"

namespace marrow::workflow {

struct ExceiverPretrainOptions {
  std::vector<std::string> files;  // one or more inputs; the vocabulary is the union of their genes
  DataSpec data;                   // matrix, labels and cell selection, applied to every file
  SplitChoice split;               // applied to the first file; the other files train whole
  double target_sum = 1e4;
  models::ExceiverOptions model;   // n_genes is set from the vocabulary
  models::MaskingOptions masking;
  train::TrainOptions train;
  std::string out;
  // Out-of-core (one .h5ad file): read a chunk of rows at a time, as `pretrain ae --stream` does.
  bool stream = false;
  StreamOptions streaming;
};

PretrainSummary pretrain_exceiver(const ExceiverPretrainOptions& options);

// `pretrain exceiver`'s defaults for a cell embedding that records the cell (issue 14, chosen on
// Kang validation patients and pbmc3k validation cells: docs/results.md): the contrastive objective
// at weight 1, each cell read as its 128 most expressed genes (equal token counts, so no cell is
// told apart by its depth), and at least 600 optimizer steps (a small dataset gets more epochs; Kang's
// 7,000 training cells already take 780 steps in 30 epochs). The library's own defaults
// (ExceiverOptions, MaskingOptions, TrainOptions) stay the plain masked model, which gene-incremental
// learning was measured with.
inline void set_cell_embedding_defaults(models::ExceiverOptions& model, models::MaskingOptions& masking,
                                        train::TrainOptions& train) {
  model.contrastive = 1.0;
  masking.max_tokens = 128;
  train.min_steps = 600;
}

// `marrow genes`: the gene embedding table, as TSV (gene, then dim columns) or .h5ad (varm).
int64_t write_gene_embeddings(const std::string& model, const std::string& out);

// Do gene embeddings group the marker genes of a cell type? Markers: for each value of `label`, the
// `top` genes with the largest Welch t-statistic of log-normalised expression against the other
// cells (training part of the split only; a gene goes to the type where it ranks highest). For each
// marker, the share of its `neighbours` nearest markers (cosine) that mark the same type, against
// the same share with the types shuffled among the markers (`shuffles` times).
struct MarkerOptions {
  std::string model;
  DataSpec data;
  std::string label;
  SplitChoice split;  // markers from its training part (all cells without a split)
  int64_t top = 50;
  int64_t neighbours = 10;
  int64_t shuffles = 200;
};
nlohmann::json marker_neighbourhoods(const MarkerOptions& options);

struct ImputeOptions {
  std::string model;
  DataSpec data;
  SplitChoice split;         // evaluate only the cells of `part` of this split (all cells without one);
  Part part = Part::Test;    // its seed also draws the masks
  double mask_fraction = 0.15;
  int64_t max_cells = 0;     // 0: all selected cells; else a seeded sample of this many
  int64_t neighbours = 15;   // kNN baseline
  bool case_insensitive = false;
  std::string compare;       // an MSE autoencoder (.marrow) imputing the same masked values
};

// Masks expressed genes of the cells, predicts them, and returns {"n_cells", "n_masked", "mse",
// "pearson", "baseline_gene_mean_mse", "baseline_knn_mse", ...} on the same masked entries.
nlohmann::json impute(const ImputeOptions& options);

}  // namespace marrow::workflow
