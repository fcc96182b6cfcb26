#pragma once
// Autoencoder pretraining as a library call (the CLI's `pretrain ae`); embedding goes through the
// encoder interface (workflow/embed.hpp).
#include <string>

#include "marrow/data/row_stream.hpp"
#include "marrow/models/autoencoder_options.hpp"
#include "marrow/preprocess/pipeline.hpp"
#include "marrow/train/train_options.hpp"
#include "marrow/data/parts.hpp"
#include "marrow/workflow/pretrain.hpp"
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
  models::InputLayer input_layer = models::InputLayer::Auto;  // auto: sparse when X is sparse enough
  std::string out;                   // .marrow model file
  // Out-of-core: read the .h5ad a chunk of rows at a time (two passes fit the preprocessing, then
  // every epoch streams the file through a shuffle buffer), so memory is bounded by these sizes,
  // not by the file. Data-parallel ranks each read their own chunks.
  bool stream = false;
  StreamOptions streaming;
};

PretrainSummary pretrain_autoencoder(const PretrainOptions& options);

}  // namespace marrow::workflow
