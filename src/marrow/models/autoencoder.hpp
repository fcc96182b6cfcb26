#pragma once
// Fully connected autoencoder over a cell's expression (genes -> 1024 -> 512 -> latent and back),
// the foundation model of marrow's first pipeline. LibTorch style: AutoencoderOptions + module holder.
//
// Losses:
//   mse      the decoder reconstructs the (log-normalised) input; mean squared error.
//   poisson  the decoder gives per-gene logits; rate = library size x softmax(logits), as scVI's
//   nb       decoder does; poisson or negative binomial (per-gene learned inverse dispersion)
//            negative log-likelihood of the raw counts.
//
// Dropout (hidden layers and input) draws each cell's masks from the cell's id and a per-step
// draw of torch's generator (seeded per epoch by the trainer), not from a generator shared by the
// batch: the same command gives the same model on any number of data-parallel ranks.
#include <torch/torch.h>

#include <span>

#include "marrow/models/autoencoder_options.hpp"
#include "marrow/preprocess/pipeline.hpp"

namespace marrow::models {

// One batch of cells, as tensors. The input is either dense ([B, G]) or sparse, given as CSR-style
// gene indices, row offsets and values: the first layer then sums weight rows of expressed genes only.
struct SparseInput {
  torch::Tensor indices;  // [nnz] int64 gene of each stored value
  torch::Tensor offsets;  // [B] int64 start of each cell in indices/values
  torch::Tensor values;   // [nnz] float
  bool defined() const { return indices.defined(); }
};

struct CellBatch {
  torch::Tensor input;    // [B, G] dense input (also the MSE target)
  SparseInput sparse;     // when set, the first layer reads this instead of `input`
  torch::Tensor counts;   // [B, G] raw counts (count losses only)
  torch::Tensor library;  // [B] library sizes (count losses only)
  torch::Tensor batch_codes;  // [B] int64 category of the batch covariate (variational with --batch-key)
  // Lasting id of each row (its position in the training cells): training draws each cell's dropout
  // masks from it, so a cell's masks do not depend on which cells share its batch or rank. Empty:
  // the rows' positions in the batch.
  std::vector<int64_t> cells;
  CellBatch to(const torch::Device& device) const;  // the same batch on a device (a no-op where it is)
};

class AutoencoderImpl : public torch::nn::Module {
 public:
  explicit AutoencoderImpl(AutoencoderOptions options);
  // The embedding: the latent vector (variational: the posterior mean).
  torch::Tensor encode(const CellBatch& batch);
  torch::Tensor decode(const torch::Tensor& latent);
  // Mean reconstruction loss of the batch (per cell and gene); variational: per cell, the negative
  // log-likelihood summed over genes plus the warmed-up KL term. Each training call is one step of
  // the KL warm-up.
  torch::Tensor loss(const CellBatch& batch);
  const AutoencoderOptions& options() const { return options_; }

 private:
  torch::Tensor first_layer(const CellBatch& batch);
  // Input-dropout mask of the batch (dense [B, G] or one value per stored entry).
  torch::Tensor input_mask(const CellBatch& batch);
  // One mask key per row from its cell id and a draw of torch's generator.
  torch::Tensor row_keys(const CellBatch& batch) const;
  // Encoder output before the latent split (variational: [B, 2 x latent], mean then log variance).
  torch::Tensor encoder_output(const CellBatch& batch);
  // Per-entry negative log-likelihood [B, G] of the counts under the decoder's poisson or nb rates.
  torch::Tensor count_nll(const torch::Tensor& logits, const CellBatch& batch);
  torch::Tensor variational_loss(const CellBatch& batch);
  // The decoder's input: the latent, and the batch covariate one-hot where there is one.
  torch::Tensor decoder_input(const torch::Tensor& latent, const CellBatch& batch) const;
  AutoencoderOptions options_;
  // Per-row mask keys of the batch being trained on ([B] int64 on the model's device), read by the
  // dropout layers; undefined outside loss().
  std::shared_ptr<torch::Tensor> row_keys_ = std::make_shared<torch::Tensor>();
  // First layer as genes x width (the transpose of nn::Linear's weight), so that the rows of the
  // expressed genes are contiguous for the sparse path.
  torch::Tensor input_weight, input_bias;
  torch::nn::Sequential encoder_rest{nullptr};
  torch::nn::Sequential decoder{nullptr};
  torch::Tensor log_theta;  // per-gene inverse dispersion (nb)
  torch::Tensor kl_step;    // training steps taken (variational: the KL warm-up; saved in checkpoints)
};
TORCH_MODULE(Autoencoder);

// Normalisation + activation + dropout after a linear layer (shared with the classifiers).
void append_block(torch::nn::Sequential& sequence, int64_t width, Norm norm, Activation activation, double dropout);

// How preprocessed cells become batches, for training and encoding alike: the dense
// (standardised) input, the sparse first-layer input where it pays, and the raw counts and library
// sizes that count losses need.
// How a batch of cells is laid out for the model.
struct BatchLayout {
  bool sparse = false;        // the first layer reads the sparse form (never for scaled input)
  bool counts = false;        // count losses: raw counts and library sizes
  bool dense_target = false;  // MSE: the dense input is also the reconstruction target
};

CellBatch make_batch(const preprocess::Preprocessor& preprocessor, const preprocess::Preprocessor::ModelInput& data,
                     std::span<const int64_t> rows, const BatchLayout& layout);

// Whether the first layer reads sparse input: `mode` dense, sparse or auto (sparse below a measured
// density); never for standardised input, which has no zeros.
bool choose_sparse(InputLayer mode, double density, bool scaled);

// How a saved autoencoder reads cells to embed them: the input layer chosen at pretraining (the model
// file's "input_layer"), no counts or targets.
BatchLayout encoding_layout(const nlohmann::json& model_meta, const preprocess::Preprocessor& preprocessor);

}  // namespace marrow::models
