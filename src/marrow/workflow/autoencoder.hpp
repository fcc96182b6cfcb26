#pragma once
// Autoencoder pretraining and embedding as library calls (the CLI's `pretrain ae` and `embed`).
#include <string>

#include "marrow/data/row_stream.hpp"
#include "marrow/models/autoencoder_options.hpp"
#include "marrow/preprocess/pipeline.hpp"
#include "marrow/train/train_options.hpp"
#include "marrow/data/parts.hpp"
#include "marrow/workflow/prepare.hpp"

namespace marrow::workflow {

// The autoencoder's input unless asked otherwise, for `pretrain ae` and `marrow run` alike: every
// gene seen in at least 3 training cells, log-normalised and standardised (standardising measured
// better: docs/results.md).
inline preprocess::PreprocessOptions autoencoder_input_defaults() {
  preprocess::PreprocessOptions options;
  options.qc.min_cells = 3;
  options.scale = true;
  return options;
}

struct PretrainOptions {
  DataSpec data;
  SplitChoice split;  // pretrain on the training part only; validation part for early stopping
  preprocess::PreprocessOptions preprocess;
  models::AutoencoderOptions model;  // n_genes is set from the preprocessing
  train::TrainOptions train;
  std::string input_layer = "auto";  // dense, sparse, or auto (sparse when X is sparse enough)
  std::string out;                   // .marrow model file
  // Out-of-core: read the .h5ad a chunk of rows at a time (two passes fit the preprocessing, then
  // every epoch streams the file through a shuffle buffer), so memory is bounded by these sizes,
  // not by the file. Data-parallel ranks each read their own chunks.
  bool stream = false;
  StreamOptions streaming;
};

// What a pretraining run reports (autoencoder and gene model alike).
struct PretrainSummary {
  int64_t train_cells = 0, validation_cells = 0, genes = 0;
  int epochs_run = 0, best_epoch = 0;
  double best_validation = 0;
  bool completed = true;
};

PretrainSummary pretrain_autoencoder(const PretrainOptions& options);

struct EmbedOptions {
  std::string model;
  DataSpec data;
  std::string out;            // .h5ad: the input with obsm[key] (and the selected cells only, if --cells)
  std::string key = "X_marrow";
  bool case_insensitive = false;
  int64_t batch_size = 1024;
  std::string device = "cpu";  // cpu, cuda or cuda:N
  bool stream = false;         // read the matrix a chunk of rows at a time (chunk_cells; no shuffling)
  StreamOptions streaming;
};

// Returns the number of cells embedded.
int64_t embed(const EmbedOptions& options);

// Imputation by an MSE autoencoder, for comparison with the gene model on the same masked values:
// each cell's masked genes (masked[cell] = gene names) are set to zero in its input, the cell is
// reconstructed, and the reconstruction is read at those genes as log1p(count / total x target_sum)
// with the given per-cell totals (so that it is on the caller's normalisation). Genes the model
// does not know give NaN.
std::vector<std::vector<double>> autoencoder_impute(const std::string& model, const AnnData& data,
                                                    const std::vector<std::vector<std::string>>& masked,
                                                    const std::vector<double>& totals, double target_sum);

}  // namespace marrow::workflow
