#pragma once
// Options and results of the training loop (train/trainer.hpp), free of torch headers.
#include <cmath>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace marrow::runtime {
class Distributed;
}

namespace marrow::train {

struct TrainOptions {
  int epochs = 30;
  // Train at least this many optimizer steps: on a small training set `epochs` is raised to reach
  // it (a step budget, as scvi-tools scales its default epochs with the number of cells); 0 = off.
  int64_t min_steps = 0;
  int64_t batch_size = 256;
  double learning_rate = 1e-3;
  double weight_decay = 1e-4;
  double warmup_fraction = 0.05;  // of all steps
  int patience = 5;               // epochs without validation improvement before stopping; 0 = never
  double min_delta = 1e-4;        // relative improvement that counts
  uint64_t seed = 0;
  std::string checkpoint;         // written after each epoch ("" = none)
  bool resume = false;            // continue from `checkpoint` if it exists
  std::string metrics;            // JSON lines, one per epoch ("" = none)
  int stop_after = 0;             // stop after this many epochs in this run (as if killed); 0 = no
  std::string label = "train";
  std::string device = "cpu";     // cpu, cuda, cuda:N (runtime::check_device); the module trains there
  // Parameters whose name starts with a prefix here learn at learning_rate x its factor (the first
  // matching prefix; others at learning_rate): fine-tuning trains a pretrained encoder slower than
  // the new head on top of it.
  std::vector<std::pair<std::string, double>> learning_rate_factors;
  bool bf16 = false;              // bfloat16 autocast of the forward pass (CPU or CUDA)
  // Data-parallel group (runtime/distributed.hpp); null = one process. Every rank computes its share
  // of each global batch of batch_size cells; gradients are averaged; rank 0 alone writes the
  // checkpoint and metrics file.
  std::shared_ptr<runtime::Distributed> distributed;
};

// Optimizer steps in one epoch over `n_train` cells: one per (global) batch, the last one partial.
inline int64_t steps_per_epoch(int64_t n_train, int64_t batch_size) { return (n_train + batch_size - 1) / batch_size; }

// The epochs the trainer runs on `n_train` cells: `epochs`, raised where needed to reach `min_steps`.
int epochs_for_steps(const TrainOptions& options, int64_t n_train);

struct EpochRecord {
  int epoch = 0;
  double train_loss = 0, validation_loss = NAN, learning_rate = 0, seconds = 0, cells_per_second = 0;
  nlohmann::json to_json() const;
};

struct TrainResult {
  std::vector<EpochRecord> history;
  int best_epoch = 0;
  double best_validation = NAN;
  bool stopped_early = false;
  bool completed = true;  // false when stop_after ended the run before the last epoch
};

}  // namespace marrow::train
