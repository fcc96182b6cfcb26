#include "marrow/train/progress.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace marrow::train {

namespace {
ProgressObserver& observer() {
  static ProgressObserver instance;
  return instance;
}
}  // namespace

void set_progress_observer(ProgressObserver o) { observer() = std::move(o); }

std::string format_duration(double seconds) {
  auto s = static_cast<int64_t>(std::max(0.0, seconds));
  if (s >= 3600) return fmt::format("{}:{:02d}:{:02d}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02d}", s / 60, s % 60);
}

Progress::Progress(std::string label, int total_epochs, int64_t cells_per_epoch)
    : label_(std::move(label)), total_epochs_(total_epochs), cells_per_epoch_(cells_per_epoch),
      terminal_(isatty(STDERR_FILENO) && spdlog::get_level() <= spdlog::level::info) {
  run_start_ = last_line_ = std::chrono::steady_clock::now();
}

bool Progress::epoch_line_due() {
  const auto now = std::chrono::steady_clock::now();
  const int tenth = total_epochs_ > 0 ? epoch_ * 10 / total_epochs_ : 10;
  const bool due = terminal_ || spdlog::get_level() <= spdlog::level::debug || tenth > last_tenth_ ||
                   epoch_ >= total_epochs_ || now - last_line_ >= std::chrono::seconds(30);
  if (due) last_tenth_ = tenth, last_line_ = now;
  return due;
}

void Progress::begin_epoch(int epoch) {
  epoch_ = epoch;
  epoch_start_ = last_draw_ = std::chrono::steady_clock::now();
}

void Progress::update(int64_t cells_done, double loss) {
  auto now = std::chrono::steady_clock::now();
  if (observer()) {
    if (now - last_draw_ < std::chrono::milliseconds(100) && cells_done < cells_per_epoch_) return;
    last_draw_ = now;
    observer()({label_, epoch_, total_epochs_, cells_done, cells_per_epoch_, loss, NAN, false});
    return;
  }
  if (!terminal_) return;
  if (now - last_draw_ < std::chrono::milliseconds(100) && cells_done < cells_per_epoch_) return;
  last_draw_ = now;
  double elapsed = std::chrono::duration<double>(now - epoch_start_).count();
  double rate = elapsed > 0 ? cells_done / elapsed : 0;
  double fraction = cells_per_epoch_ ? static_cast<double>(cells_done) / cells_per_epoch_ : 1;
  double remaining_epochs = (total_epochs_ - epoch_) + (1 - fraction);
  double eta = rate > 0 ? remaining_epochs * cells_per_epoch_ / rate : 0;
  int filled = static_cast<int>(std::round(fraction * 24));
  std::fprintf(stderr, "\r%s epoch %d/%d [%s%s] %3.0f%%  loss %.4f  %.0f cells/s  left %s   ", label_.c_str(), epoch_,
               total_epochs_, std::string(filled, '#').c_str(), std::string(24 - filled, '.').c_str(), 100 * fraction, loss,
               rate, format_duration(eta).c_str());
  std::fflush(stderr);
}

void Progress::end_epoch(double train_loss, double validation_loss, double seconds) {
  if (observer()) {
    observer()({label_, epoch_, total_epochs_, cells_per_epoch_, cells_per_epoch_, train_loss, validation_loss, true});
    return;
  }
  if (terminal_) std::fprintf(stderr, "\r%*s\r", 110, "");
  double rate = seconds > 0 ? cells_per_epoch_ / seconds : 0;
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start_).count();
  double eta = epoch_ > 0 ? total / epoch_ * (total_epochs_ - epoch_) : 0;
  if (!epoch_line_due()) return;
  std::string validation = std::isnan(validation_loss) ? "" : fmt::format("  validation {:.4f}", validation_loss);
  spdlog::info("{} epoch {}/{}  loss {:.4f}{}  {:.0f} cells/s  {}  (left at most {})", label_, epoch_, total_epochs_,
               train_loss, validation, rate, format_duration(seconds), format_duration(eta));
}

}  // namespace marrow::train
