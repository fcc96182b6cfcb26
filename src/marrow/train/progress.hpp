#pragma once
// Training progress for people: a live bar on a terminal (epoch, loss, cells/s, time left), plain
// log lines otherwise (pipes, CI, files).
#include <chrono>
#include <cstdint>
#include <string>

namespace marrow::train {

class Progress {
 public:
  Progress(std::string label, int total_epochs, int64_t cells_per_epoch);
  void begin_epoch(int epoch);
  void update(int64_t cells_done, double loss);
  void end_epoch(double train_loss, double validation_loss, double seconds);

 private:
  std::string label_;
  int total_epochs_;
  int64_t cells_per_epoch_;
  int epoch_ = 0;
  bool terminal_;
  std::chrono::steady_clock::time_point epoch_start_, run_start_;
  std::chrono::steady_clock::time_point last_draw_;
};

std::string format_duration(double seconds);

}  // namespace marrow::train
