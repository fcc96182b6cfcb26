#pragma once
// The training loop every marrow model uses: seeded shuffling into mini-batches, AdamW with linear
// warm-up and cosine decay, early stopping on a validation loss (the best weights are restored),
// a progress bar, a metrics file (one JSON line per epoch) and a checkpoint written atomically
// after every epoch, from which --resume continues a killed run.
//
// Reproducibility: batch order and torch's RNG (dropout) are seeded from (seed, epoch), so a run
// resumed from the checkpoint of epoch k matches the uninterrupted run.
#include <torch/torch.h>

#include "marrow/train/train_options.hpp"

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace marrow::train {

// Mean loss of the batch made of these training rows (the module is in training mode).
using BatchLoss = std::function<torch::Tensor(const std::vector<int64_t>& rows)>;
// The same with the number of terms the mean is over (cells, or masked values). Data-parallel ranks
// each take a share of a global batch; the global gradient is the weight-averaged gradient of
// their means, so it equals the one-process gradient of the whole batch.
struct WeightedLoss {
  torch::Tensor loss;
  double weight = 1;
};
using WeightedBatchLoss = std::function<WeightedLoss(const std::vector<int64_t>& rows)>;
// Validation loss (called in eval mode under no_grad); return NaN when there is no validation set.
using ValidationLoss = std::function<double()>;

// The order of the training rows in an epoch, a permutation of 0..n_train-1 drawn from the epoch's
// seed (the trainer derives it from the run's seed and the epoch, so every rank and a resumed run
// draw the same); empty = a plain shuffle. Streaming gives one that reads the file chunk by chunk
// (data/row_stream.hpp).
using EpochOrder = std::function<std::vector<int64_t>(uint64_t epoch_seed)>;

TrainResult fit(torch::nn::Module& module, int64_t n_train, const WeightedBatchLoss& batch_loss,
                const ValidationLoss& validation_loss, const TrainOptions& options, const EpochOrder& order = {});
// Each cell weighs the same (weight = number of rows).
TrainResult fit(torch::nn::Module& module, int64_t n_train, const BatchLoss& batch_loss,
                const ValidationLoss& validation_loss, const TrainOptions& options, const EpochOrder& order = {});

// Mean of a per-batch loss over all rows, in batches, in eval mode without gradients.
double evaluate_in_batches(torch::nn::Module& module, const std::vector<int64_t>& rows, int64_t batch_size,
                           const std::function<torch::Tensor(const std::vector<int64_t>&)>& batch_loss);

}  // namespace marrow::train
