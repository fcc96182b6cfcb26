#pragma once
// Output a person wants to read from a long job (`marrow run`, `demo`, `cv`): each step says what
// it does in one line, and the detail its own commands log (cells read, genes kept, every epoch's
// loss) is shown only with --verbose. A StepLog logs its line, then raises the log threshold to
// warnings for its lifetime (unless the log is at debug level); warnings and errors always show.
#include <spdlog/spdlog.h>

#include <string>

namespace marrow {

class StepLog {
 public:
  explicit StepLog(const std::string& line) : previous_(spdlog::get_level()) {
    spdlog::info("{}", line);
    if (previous_ > spdlog::level::debug && previous_ < spdlog::level::warn) spdlog::set_level(spdlog::level::warn);
  }
  ~StepLog() { spdlog::set_level(previous_); }
  StepLog(const StepLog&) = delete;
  StepLog& operator=(const StepLog&) = delete;

 private:
  spdlog::level::level_enum previous_;
};

}  // namespace marrow
