#pragma once
// Options of the masked-expression gene model (models/exceiver.hpp), free of torch headers so that
// the workflow and CLI layers can set them without paying for torch at compile time. Choices are
// enums named by one table each (core/enum_names.hpp).
#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "marrow/core/enum_names.hpp"
#include "marrow/models/autoencoder_options.hpp"  // ReconstructionLoss

namespace marrow::models {

// How a token's value enters it: scale (gene embedding x value, as Exceiver), project (gene
// embedding + a learned projection of the value) or norm-scale (the layer-normalised gene embedding
// x value, with the encoder reading the tokens un-normalised: with `scale`, the encoder's pre-norm
// removes the value again, so only this mode lets the encoder see expression levels multiplicatively).
enum class ValueMode { Scale, Project, NormScale };

struct ExceiverOptions {
  int64_t n_genes = 0;        // vocabulary size (the union of the training files' genes)
  // Sizes chosen by masked MSE per second of training on van Galen (docs/results.md: 32/32/1 was
  // as accurate as 64/64/2 at 3 minutes and better at 70 s, at half the time per epoch).
  int64_t dim = 32;           // width of gene tokens, queries and latents
  int64_t latents = 32;       // rows of the learned latent array
  int64_t heads = 4;          // attention heads (dim must divide by it)
  int64_t layers = 1;         // latent self-attention layers between encoder and decoder
  int64_t ff_mult = 2;        // feed-forward width = ff_mult x dim
  double dropout = 0.0;
  ValueMode value_mode = ValueMode::Scale;
  ReconstructionLoss loss = ReconstructionLoss::Mse;  // mse on log-normalised values, or poisson / nb counts
  // Weight of the cell-decoding loss (0: off): the query genes are predicted a second time from the
  // pooled cell embedding alone (a dot product with a projection of each gene's embedding, as
  // scGPT's MVC objective), so that the embedding `embed` writes must itself carry the cell's
  // expression profile instead of whatever the latent array's mean happens to hold.
  double cell_decoding = 0.0;
  // Weight of the contrastive loss (0: off): each cell is encoded a second time from a random half
  // of its visible tokens (a shallower sequencing of the same cell) and the two pooled embeddings
  // are pulled together against the other cells of the batch (InfoNCE through a projection head, as
  // SimCLR), so that the embedding records the cell rather than how many genes it detected.
  double contrastive = 0.0;

  nlohmann::json to_json() const;
  static ExceiverOptions from_json(const nlohmann::json& json);
};

// How a cell becomes a training example: which expressed genes are kept, masked and queried.
struct MaskingOptions {
  int64_t max_tokens = 1024;        // longer cells keep their most expressed genes (0: no cap)
  double mask_fraction = 0.15;      // of each cell's kept expressed genes, hidden and predicted
  double unexpressed_ratio = 1.0;   // unexpressed genes (of the cell's panel) queried per masked gene
};

}  // namespace marrow::models

namespace marrow {

template <>
struct EnumNames<models::ValueMode> {
  static constexpr const char* what = "value mode";
  static constexpr std::array<std::pair<models::ValueMode, const char*>, 3> table{
      {{models::ValueMode::Scale, "scale"}, {models::ValueMode::Project, "project"}, {models::ValueMode::NormScale, "norm-scale"}}};
};

}  // namespace marrow
