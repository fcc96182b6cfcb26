#pragma once
// Training progress for people: a live bar on a terminal (epoch, loss, cells/s, time left) and a
// line per epoch; elsewhere (pipes, CI logs, notebooks, `| tee`) a line at every tenth of the run's
// epochs or after 30 s without one, and the last epoch (every epoch with --verbose).
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
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
  std::chrono::steady_clock::time_point last_draw_, last_line_;
  int last_tenth_ = -1;
  // Whether this epoch's line is printed (always on a terminal).
  bool epoch_line_due();
};

std::string format_duration(double seconds);

// Where a program that embeds the library shows progress itself (the Python module: a tqdm bar, plain
// lines or nothing) it installs an observer: every Progress then reports to it instead of drawing,
// and nothing is printed. The observer runs on the training thread; an exception it throws (Ctrl-C
// in Python) ends the run there, as a failed epoch would: the last checkpoint stays intact.
struct ProgressEvent {
  std::string label;        // "pretrain", "classifier" ...
  int epoch = 0, total_epochs = 0;
  int64_t cells_done = 0, cells_per_epoch = 0;
  double loss = 0;               // running training loss of the epoch
  double validation_loss = NAN;  // at the end of an epoch, NaN without validation cells
  bool epoch_end = false;
};
using ProgressObserver = std::function<void(const ProgressEvent&)>;
// Installs (or, with an empty function, removes) the process-wide observer.
void set_progress_observer(ProgressObserver observer);

}  // namespace marrow::train
