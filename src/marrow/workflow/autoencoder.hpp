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

// The autoencoder's input unless asked otherwise, for `pretrain ae` and `marrow run` alike: the
// 3,000 most variable genes (Seurat v3 on the counts of genes seen in at least 3 training cells),
// log-normalised and standardised: the recipe of issue 14's plain PyTorch script of the same network,
// cross-validated in docs/results.md; `--hvg none` gives the seed's all-genes input.
inline preprocess::PreprocessOptions autoencoder_input_defaults() {
  preprocess::PreprocessOptions options;
  options.qc.min_cells = 3;
  options.hvg = preprocess::HvgFlavor::SeuratV3;
  options.n_top_genes = 3000;
  options.scale = true;
  return options;
}

// `pretrain ae`'s batch size (the recipe's; other training defaults are the trainer's).
inline constexpr int64_t autoencoder_batch_size = 128;

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
  // Variational (`pretrain vae`): epochs over which the KL weight rises from 0 to 1.
  double kl_warmup_epochs = 10;
};

// The autoencoder kinds a pipeline config names (`pretrain.kind`), as the CLI's `pretrain ae|vae`.
enum class AutoencoderKind { Ae, Vae };

// `pretrain vae`'s defaults: an scVI-like negative-binomial VAE (one hidden layer of 128, 32 latent
// dimensions, dropout 0.1 as scVI's encoder) on the 3,000 most variable genes (Seurat v3 on counts),
// log-normalised and not scaled.
inline void set_vae_defaults(models::AutoencoderOptions& model, preprocess::PreprocessOptions& preprocess) {
  model.variational = true;
  model.dropout = 0.1;
  model.loss = models::ReconstructionLoss::NegativeBinomial;
  model.hidden = {128};
  model.latent = 32;
  preprocess.hvg = preprocess::HvgFlavor::SeuratV3;
  preprocess.n_top_genes = 3000;
  preprocess.scale = false;
}

PretrainSummary pretrain_autoencoder(const PretrainOptions& options);

}  // namespace marrow::workflow

namespace marrow {

template <>
struct EnumNames<workflow::AutoencoderKind> {
  static constexpr const char* what = "pretrain kind";
  static constexpr std::array<std::pair<workflow::AutoencoderKind, const char*>, 2> table{
      {{workflow::AutoencoderKind::Ae, "ae"}, {workflow::AutoencoderKind::Vae, "vae"}}};
};

}  // namespace marrow
