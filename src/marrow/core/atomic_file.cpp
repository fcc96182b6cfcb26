#include "marrow/core/atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "marrow/core/error.hpp"

namespace marrow {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMinimumFreeBytes = uint64_t{1} << 20;

fs::path directory_of(const fs::path& target) {
  fs::path dir = target.parent_path();
  return dir.empty() ? fs::path(".") : dir;
}

// The PID in a temporary file's name "NAME.tmp.PID"; 0 when the name is not of that form.
pid_t temporary_owner(const std::string& name) {
  size_t dot = name.rfind(".tmp.");
  if (dot == std::string::npos || dot == 0 || dot + 5 == name.size()) return 0;
  pid_t pid = 0;
  for (size_t i = dot + 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || pid > 100000000) return 0;
    pid = pid * 10 + (name[i] - '0');
  }
  return pid;
}

// Removes NAME.tmp.PID files in `dir` whose process no longer exists (a killed run's leftovers).
void remove_stale_temporaries(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
       it.increment(ec)) {
    pid_t pid = temporary_owner(it->path().filename().string());
    if (pid <= 0 || pid == ::getpid() || !it->is_regular_file(ec)) continue;
    if (::kill(pid, 0) == -1 && errno == ESRCH) fs::remove(it->path(), ec);
  }
}

std::string size_text(uint64_t bytes) {
  return bytes >= (uint64_t{1} << 30) ? fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1 << 30))
                                      : fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20));
}

// Writes all of `size` bytes to `fd`; 0 or the errno of the failure.
int write_all(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

// Opens `path` for writing with `flags` added, writes `text` and closes it; fails naming `path`.
void write_text(const fs::path& path, int flags, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
  if (fd < 0) fail("{}: cannot open for writing: {}", path.string(), std::strerror(errno));
  int error = write_all(fd, text.data(), text.size());
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error != 0) fail("{}: cannot write: {}", path.string(), std::strerror(error));
}

}  // namespace

void check_output_directory(const fs::path& target, uint64_t needed_bytes) {
  if (target.empty() || is_memory_path(target.string())) return;
  const fs::path dir = directory_of(target);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("{}: output directory {} does not exist", target.string(), dir.string());
  remove_stale_temporaries(dir);
  // A probe under the temporary name this process would use: permission bits alone do not tell
  // (root ignores them, a read-only file system does not show in them).
  fs::path probe = target;
  probe += fmt::format(".tmp.{}", ::getpid());
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 && errno != EEXIST) fail("{}: cannot write in {}: {}", target.string(), dir.string(), std::strerror(errno));
  if (fd >= 0) {
    ::close(fd);
    fs::remove(probe, ec);
  }
  struct statvfs s {};
  if (::statvfs(dir.c_str(), &s) == 0) {
    const uint64_t free_bytes = static_cast<uint64_t>(s.f_bavail) * s.f_frsize;
    const uint64_t needed = std::max(needed_bytes, kMinimumFreeBytes);
    if (free_bytes < needed)
      fail("{}: only {} free in {} ({} needed)", target.string(), size_text(free_bytes), dir.string(), size_text(needed));
  }
}

void check_not_an_input(const fs::path& output, const std::vector<std::string>& inputs) {
  if (is_memory_path(output.string())) return;
  std::error_code ec;
  for (const std::string& input : inputs) {
    if (input.empty() || !fs::exists(output, ec) || !fs::exists(input, ec)) continue;
    if (fs::equivalent(output, input, ec))
      fail("{}: is the input {} itself; writing it would destroy the input: choose another output", output.string(), input);
  }
}

void append_line(const fs::path& path, const std::string& line) { write_text(path, O_APPEND, line + "\n"); }

void truncate_file(const fs::path& path) { write_text(path, O_TRUNC, ""); }

AtomicOutput::AtomicOutput(fs::path target) : target_(std::move(target)) {
  check_output_directory(target_);
  temp_ = target_;
  temp_ += fmt::format(".tmp.{}", ::getpid());
}

AtomicOutput::~AtomicOutput() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

size_t AtomicOutput::write(const void* data, size_t size) {
  if (write_errno_ != 0) return size;
  if (fd_ < 0) {
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      write_errno_ = errno;
      return size;
    }
  }
  write_errno_ = write_all(fd_, data, size);
  return size;
}

void AtomicOutput::write_with(const std::function<void(const std::string&)>& writer) {
  try {
    writer(temp_.string());
  } catch (const Error& e) {
    std::string message = e.what();
    const std::string temp = temp_.string(), target = target_.string();
    for (size_t at = message.find(temp); at != std::string::npos; at = message.find(temp, at + target.size()))
      message.replace(at, temp.size(), target);
    throw Error(message);
  }
}

void AtomicOutput::commit() {
  if (fd_ >= 0) {
    if (::close(fd_) != 0 && write_errno_ == 0) write_errno_ = errno;
    fd_ = -1;
  }
  if (write_errno_ != 0) fail("{}: cannot write: {}", target_.string(), std::strerror(write_errno_));
  std::error_code ec;
  fs::rename(temp_, target_, ec);
  if (ec) fail("{}: cannot move finished output into place: {}", target_.string(), ec.message());
  committed_ = true;
}

void write_file_atomic(const fs::path& target, const std::string& contents) {
  AtomicOutput out(target);
  out.write(contents.data(), contents.size());
  out.commit();
}

}  // namespace marrow
