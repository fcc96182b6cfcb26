#include "marrow/core/atomic_file.hpp"

#include <unistd.h>

#include <fstream>
#include <system_error>

#include "marrow/core/error.hpp"

namespace marrow {

namespace fs = std::filesystem;

void check_output_directory(const fs::path& target) {
  fs::path dir = target.parent_path();
  if (dir.empty()) return;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("{}: output directory {} does not exist", target.string(), dir.string());
}

AtomicOutput::AtomicOutput(fs::path target) : target_(std::move(target)) {
  check_output_directory(target_);
  temp_ = target_;
  temp_ += fmt::format(".tmp.{}", ::getpid());
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicOutput::commit() {
  std::error_code ec;
  fs::rename(temp_, target_, ec);
  if (ec) fail("{}: cannot move finished output into place: {}", target_.string(), ec.message());
  committed_ = true;
}

void write_file_atomic(const fs::path& target, const std::string& contents) {
  AtomicOutput out(target);
  {
    std::ofstream stream(out.temp_path(), std::ios::binary);
    if (!stream) fail("{}: cannot open for writing", target.string());
    stream << contents;
    stream.flush();
    if (!stream) fail("{}: write failed", target.string());
  }
  out.commit();
}

}  // namespace marrow
