#pragma once
// Outputs are written to a temporary name beside the target and renamed into place only when
// complete, so a failed or killed run never leaves a half-written file under the final name.
#include <filesystem>
#include <string>

namespace marrow {

class AtomicOutput {
 public:
  explicit AtomicOutput(std::filesystem::path target);
  ~AtomicOutput();  // removes the temporary file unless commit() ran
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  // Where to write; in the same directory as the target so that rename() is atomic.
  const std::filesystem::path& temp_path() const { return temp_; }
  const std::filesystem::path& target() const { return target_; }
  void commit();

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  bool committed_ = false;
};

// Writes `contents` to `target` atomically.
void write_file_atomic(const std::filesystem::path& target, const std::string& contents);

// Fails with a clear error if the directory that would hold `target` does not exist.
void check_output_directory(const std::filesystem::path& target);

}  // namespace marrow
