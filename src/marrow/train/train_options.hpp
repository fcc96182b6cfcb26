#pragma once
// Options of the training loop (train/trainer.hpp), free of torch headers.
#include <cstdint>
#include <string>

namespace marrow::train {

struct TrainOptions {
  int epochs = 30;
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
};

}  // namespace marrow::train
