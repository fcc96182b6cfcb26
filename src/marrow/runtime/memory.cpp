#include "marrow/runtime/memory.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <limits>

#include "marrow/core/error.hpp"

namespace marrow::runtime {

namespace {

int64_t meminfo_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return std::numeric_limits<int64_t>::max();  // not Linux: nothing to compare with
}

// The process's own cgroup (v2) limit minus what it already uses; max when unlimited or absent.
int64_t cgroup_headroom() {
  std::ifstream self("/proc/self/cgroup");
  std::string line, group;
  while (std::getline(self, line))
    if (line.rfind("0::", 0) == 0) group = line.substr(3);
  if (group.empty()) return std::numeric_limits<int64_t>::max();
  std::ifstream limit("/sys/fs/cgroup" + group + "/memory.max");
  std::ifstream current("/sys/fs/cgroup" + group + "/memory.current");
  std::string max_text;
  int64_t used = 0;
  if (!(limit >> max_text) || max_text == "max" || !(current >> used)) return std::numeric_limits<int64_t>::max();
  return std::max<int64_t>(0, std::stoll(max_text) - used);
}

int64_t rlimit_headroom(int resource, const char* status_key) {
  rlimit limit{};
  if (getrlimit(resource, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::numeric_limits<int64_t>::max();
  std::ifstream status("/proc/self/status");
  std::string key;
  int64_t kb = 0;
  std::string rest;
  while (status >> key) {
    if (key == status_key && status >> kb) break;
    std::getline(status, rest);
  }
  return std::max<int64_t>(0, static_cast<int64_t>(limit.rlim_cur) - kb * 1024);
}

}  // namespace

int64_t available_memory() {
  return std::min({meminfo_available(), cgroup_headroom(), rlimit_headroom(RLIMIT_AS, "VmSize:"),
                   rlimit_headroom(RLIMIT_DATA, "VmData:")});
}

std::string format_bytes(double bytes) {
  const char* units[] = {"bytes", "kB", "MB", "GB", "TB", "PB"};
  int u = 0;
  while (bytes >= 1000 && u < 5) bytes /= 1000, ++u;
  return u == 0 ? fmt::format("{:.0f} bytes", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}

void require_memory(const std::string& file, const std::string& what, double bytes, const std::string& hint) {
  // 10% is left for what the caller builds from the values (copies, sorting, the next step).
  int64_t available = available_memory();
  if (bytes >= 0 && bytes <= 0.9 * static_cast<double>(available)) return;
  fail("{}: {} needs {} of memory, more than the {} available; {}", file, what,
       bytes < 0 ? std::string("more than can be counted") : format_bytes(bytes), format_bytes(static_cast<double>(available)), hint);
}

}  // namespace marrow::runtime
