#pragma once
// Masked-expression gene model in the style of Exceiver (Connell, Khan and Keiser 2022), built on
// Perceiver IO: genes are tokens and a cell is the set of its expressed genes with their values.
//
//   tokens      gene embedding x value ("scale", Exceiver's) or gene embedding + a learned value
//               projection ("project"); a masked token is replaced by the learned mask embedding,
//               so neither its value nor its gene is visible.
//   encoder     a learned latent array (latents x dim) cross-attends to the tokens; padding is
//               excluded with a boolean key-padding mask (never added to the scores as floats).
//   process     `layers` latent self-attention blocks (pre-norm, residual, feed-forward).
//   decoder     queries = embeddings of the genes to predict; they cross-attend to the latents and a
//               linear head gives one value per query: the log-normalised expression (mse), or the
//               log of the gene's share of the library (poisson / nb, rate = library x exp(output)).
//   class query a learned query that cross-attends to the latents, for supervised fine-tuning.
//
// The cell embedding is the mean of the processed latents (dim values per cell). With cell decoding
// on (ExceiverOptions::cell_decoding), the query genes are also predicted from that embedding alone;
// with the contrastive loss on, it is trained to be the same for a cell and a shallower view of it
// (docs/results.md measured both against PCA).
#include <torch/torch.h>

#include "marrow/models/exceiver_options.hpp"
#include "marrow/models/token_input.hpp"
#include "marrow/models/model_header.hpp"

namespace marrow::models {

// A batch of cells as padded token sets and queries (built by models/token_batching.hpp).
struct TokenBatch {
  torch::Tensor genes;          // [B, T] int64 vocabulary ids of the input tokens
  torch::Tensor values;         // [B, T] float log-normalised values
  torch::Tensor masked;         // [B, T] bool: token hidden behind the mask embedding
  torch::Tensor padding;        // [B, T] bool: true where there is no token
  torch::Tensor query_genes;    // [B, Q] int64 genes to predict (masked + sampled unexpressed)
  torch::Tensor query_padding;  // [B, Q] bool: true where there is no query
  torch::Tensor targets;        // [B, Q] float: log-normalised value (mse) or raw count (poisson / nb)
  torch::Tensor library;        // [B] float library sizes (count losses)
  TokenBatch to(const torch::Device& device) const;  // the same batch on a device (a no-op where it is)
};

// Pre-norm cross-attention block: queries attend to a key/value set, then a feed-forward layer.
class CrossAttentionBlockImpl : public torch::nn::Module {
 public:
  // normalise_keys false: the keys are attended as given (the norm-scale encoder, whose tokens carry
  // their value as their scale); the key norm is still registered so every file has the same modules.
  CrossAttentionBlockImpl(int64_t dim, int64_t heads, int64_t ff_mult, double dropout, bool normalise_keys = true);
  // queries [B, Q, D], keys [B, K, D], key_padding [B, K] bool (true = ignore) or undefined.
  torch::Tensor forward(const torch::Tensor& queries, const torch::Tensor& keys, const torch::Tensor& key_padding);

 private:
  torch::nn::LayerNorm query_norm{nullptr}, key_norm{nullptr}, ff_norm{nullptr};
  torch::nn::MultiheadAttention attention{nullptr};
  torch::nn::Sequential feed_forward{nullptr};
  bool normalise_keys_ = true;
};
TORCH_MODULE(CrossAttentionBlock);

class ExceiverImpl : public torch::nn::Module {
 public:
  explicit ExceiverImpl(ExceiverOptions options);

  // [B, latents, dim] processed latent array.
  torch::Tensor encode(const TokenBatch& batch);
  // [B, dim]: mean of the latents.
  static torch::Tensor cell_embedding(const torch::Tensor& latents);
  // [B, Q] predictions for the query genes.
  torch::Tensor decode(const torch::Tensor& latents, const torch::Tensor& query_genes);
  // [B, Q] predictions for the query genes from the cell embedding [B, dim] alone (cell decoding).
  torch::Tensor decode_from_cell(const torch::Tensor& cell, const torch::Tensor& query_genes);
  // [B, dim]: the class query's view of the latents (fine-tuning heads read this).
  torch::Tensor class_representation(const torch::Tensor& latents);
  // Mean loss over the batch's real queries, plus the weighted cell-decoding and contrastive terms
  // of the objectives that are on.
  torch::Tensor loss(const TokenBatch& batch);
  // The contrastive term (when on): InfoNCE between each cell's embedding (from `latents`, its
  // encoding of `batch`) and that of a shallower view of it, the other cells being negatives.
  torch::Tensor contrastive_loss(const TokenBatch& batch, const torch::Tensor& latents);
  // Per-query loss terms [B, Q] for predictions (no reduction; padded queries are zero).
  torch::Tensor query_loss(const torch::Tensor& predictions, const TokenBatch& batch);

  torch::Tensor gene_embeddings() const { return gene_embedding->weight; }
  // Gene-incremental learning: appends rows for new genes to the gene table and the per-gene
  // buffers (and nb dispersions, at 1), keeping every existing row exactly. rows [n_new, dim]: the
  // new genes' initial embeddings; means / means_expressed [n_new]: their gene-mean baselines.
  void grow_vocabulary(const torch::Tensor& rows, const torch::Tensor& means, const torch::Tensor& means_expressed);
  // Per-gene mean log-normalised value over the training cells that measured the gene (zeros
  // included): stored with the model for the gene-mean imputation baseline.
  torch::Tensor gene_mean;
  // The same over the cells that express the gene (a baseline that knows the value is not zero).
  torch::Tensor gene_mean_expressed;
  const ExceiverOptions& options() const { return options_; }

 private:
  torch::Tensor tokens(const TokenBatch& batch);
  ExceiverOptions options_;
  torch::nn::Embedding gene_embedding{nullptr};
  torch::Tensor mask_embedding, latent_array, class_query;
  torch::nn::Linear value_projection{nullptr};
  CrossAttentionBlock encoder{nullptr}, decoder{nullptr}, class_decoder{nullptr};
  torch::nn::ModuleList process{nullptr};  // latent self-attention blocks
  torch::nn::LayerNorm output_norm{nullptr};
  torch::nn::Linear output{nullptr};
  torch::nn::Linear cell_gene_projection{nullptr};  // cell decoding: gene embedding -> (weights, bias)
  torch::nn::Sequential contrastive_projection{nullptr};  // contrastive: embedding -> compared vector
  torch::Tensor log_theta;  // nb: per-gene inverse dispersion
};
TORCH_MODULE(Exceiver);

// A gene model file loaded: how it reads cells and the model, in eval mode on the CPU.
struct LoadedExceiver : TokenInput {
  Exceiver model{nullptr};
  nlohmann::json meta;
};
LoadedExceiver load_exceiver(const std::string& path);
LoadedExceiver load_exceiver(const std::string& path, const ModelHeader& header);

}  // namespace marrow::models
