#pragma once
// Outputs are written to a temporary name beside the target and renamed into place only when
// complete, so a failed or killed run never leaves a half-written file under the final name. Every
// failure names the path the user gave (not the temporary name) and removes the temporary file;
// temporary files left by killed runs (NAME.tmp.PID of a process that no longer exists) are removed
// by the next run that writes in the same directory.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

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
  // Appends bytes to the temporary file (opened on first use). A failure (disk full, I/O error) is
  // kept and reported by commit(); `size` is always returned, so a serialiser that writes through a
  // callback (torch's archives) runs to its end instead of failing half-way inside a destructor.
  size_t write(const void* data, size_t size);
  // Runs `writer(temporary path)` for writers that open the file themselves (HDF5); an Error it
  // raises names the target instead of the temporary file.
  void write_with(const std::function<void(const std::string&)>& writer);
  // Fails naming the target if a write failed or the file cannot be moved into place.
  void commit();

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  int fd_ = -1;
  int write_errno_ = 0;
  bool committed_ = false;
};

// Writes `contents` to `target` atomically.
void write_file_atomic(const std::filesystem::path& target, const std::string& contents);

// "memory:NAME" is an in-memory output of a program that embeds the library (io/memory.hpp): the
// checks below pass it, and nothing is written under that name.
inline bool is_memory_path(const std::string& path) { return path.rfind("memory:", 0) == 0; }

// Before any work: fails with a clear error naming `target` if the directory that would hold it does
// not exist, cannot be written (permissions, a read-only file system) or has less than
// `needed_bytes` (at least 1 MiB) free; removes stale temporary files of dead processes there.
void check_output_directory(const std::filesystem::path& target, uint64_t needed_bytes = 0);

// Fails if `output` is the same file as one of `inputs` (also through another path or a link):
// writing it would destroy the input it is computed from.
void check_not_an_input(const std::filesystem::path& output, const std::vector<std::string>& inputs);

// Appends one line to a text file (JSON-lines logs such as --metrics); fails naming the file.
void append_line(const std::filesystem::path& path, const std::string& line);
// Creates (or empties) such a file; fails naming it.
void truncate_file(const std::filesystem::path& path);

}  // namespace marrow
