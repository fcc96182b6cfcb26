#include "marrow/io/memory.hpp"

#include <map>
#include <mutex>

#include "marrow/core/error.hpp"

namespace marrow::io {

namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<const AnnData>> datasets;
  std::map<std::string, MemoryOutput> outputs;
};

Registry& registry() {
  static Registry instance;
  return instance;
}

}  // namespace

std::string register_memory_dataset(const std::string& name, std::shared_ptr<const AnnData> data) {
  if (!data) fail("memory dataset '{}': no data", name);
  std::string path = std::string(kMemoryPrefix) + name;
  std::lock_guard lock(registry().mutex);
  registry().datasets[path] = std::move(data);
  return path;
}

std::shared_ptr<const AnnData> memory_dataset(const std::string& path) {
  std::lock_guard lock(registry().mutex);
  auto it = registry().datasets.find(path);
  if (it == registry().datasets.end())
    fail("{}: no dataset in memory under this name (in-memory data is passed from Python, not named on a command line)", path);
  return it->second;
}

void release_memory(const std::string& path) {
  std::lock_guard lock(registry().mutex);
  registry().datasets.erase(path);
  registry().outputs.erase(path);
}

void store_memory_output(const std::string& path, MemoryOutput output) {
  std::lock_guard lock(registry().mutex);
  registry().outputs[path] = std::move(output);
}

std::optional<MemoryOutput> take_memory_output(const std::string& path) {
  std::lock_guard lock(registry().mutex);
  auto it = registry().outputs.find(path);
  if (it == registry().outputs.end()) return std::nullopt;
  MemoryOutput output = std::move(it->second);
  registry().outputs.erase(it);
  return output;
}

}  // namespace marrow::io
