#include "marrow/runtime/blas_env.hpp"

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

namespace marrow::runtime {

namespace {

constexpr const char* kGuardVariable = "MARROW_BLAS_PREPARED";

std::string read_cpuinfo() {
  std::ifstream in("/proc/cpuinfo");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

bool has_flag(const std::string& cpuinfo, const std::string& flag) {
  // Flags are whitespace-separated words on the "flags" lines.
  std::istringstream lines(cpuinfo);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line);
    std::string word;
    while (words >> word)
      if (word == flag) return true;
  }
  return false;
}

// The directory holding the OpenMP build of OpenBLAS, if Debian's libopenblas0-openmp is installed.
std::string openmp_openblas_dir() {
  for (const char* dir : {"/usr/lib/x86_64-linux-gnu/openblas-openmp", "/usr/lib/aarch64-linux-gnu/openblas-openmp"}) {
    if (std::filesystem::exists(std::string(dir) + "/libopenblas.so.0")) return dir;
  }
  return "";
}

std::string loaded_library_containing(const char* symbol) {
  void* address = dlsym(RTLD_DEFAULT, symbol);
  if (!address) return "";
  Dl_info info{};
  if (dladdr(address, &info) == 0 || !info.dli_fname) return "";
  return std::filesystem::weakly_canonical(info.dli_fname).string();
}

// Sets OPENBLAS_CORETYPE and the library path a torch process should start with; true when anything
// changed. `loaded` is the OpenBLAS already in this process ("" for another BLAS); before any BLAS is
// loaded (nullopt) OpenBLAS is assumed, and the OpenMP build goes first unless the path starts with it.
bool adjust_blas_environment(const std::optional<std::string>& loaded) {
  bool change = false;
  if (!std::getenv("OPENBLAS_CORETYPE")) {
    std::string coretype = preferred_openblas_coretype(read_cpuinfo());
    if (!coretype.empty()) {
      setenv("OPENBLAS_CORETYPE", coretype.c_str(), 1);
      change = true;
    }
  }
  std::string openmp_dir = openmp_openblas_dir();
  const char* old_path = std::getenv("LD_LIBRARY_PATH");
  std::string path = old_path ? old_path : "";
  bool wrong_build = loaded ? !loaded->empty() && loaded->find("openblas-openmp") == std::string::npos
                           : path.rfind(openmp_dir + ":", 0) != 0 && path != openmp_dir;
  if (!openmp_dir.empty() && wrong_build) {
    setenv("LD_LIBRARY_PATH", (openmp_dir + (path.empty() ? "" : ":" + path)).c_str(), 1);
    change = true;
  }
  return change;
}

}  // namespace

std::string preferred_openblas_coretype(const std::string& cpuinfo) {
  if (has_flag(cpuinfo, "avx512f")) return "SkylakeX";
  if (has_flag(cpuinfo, "avx2")) return "Haswell";
  return "";
}

void prepare_blas_environment(int argc, char** argv) {
  if (std::getenv(kGuardVariable)) return;  // already re-executed once: never loop
  if (!adjust_blas_environment(loaded_library_containing("openblas_get_config"))) return;
  setenv(kGuardVariable, "1", 1);
  std::vector<char*> args(argv, argv + argc);
  args.push_back(nullptr);
  execv("/proc/self/exe", args.data());
  // execv only returns on failure: carry on with the environment we have, just slower.
}

void set_blas_environment() {
  if (std::getenv(kGuardVariable)) return;
  adjust_blas_environment(std::nullopt);
  setenv(kGuardVariable, "1", 1);
}

BlasLibraryInfo blas_library_info() {
  BlasLibraryInfo info;
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  info.coretype_env = coretype ? coretype : "";
  using StringFn = char* (*)();
  using IntFn = int (*)();
  auto corename = reinterpret_cast<StringFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  auto config = reinterpret_cast<StringFn>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  auto parallel = reinterpret_cast<IntFn>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
  info.library = loaded_library_containing("sgemm_");
  if (corename && config) {
    info.is_openblas = true;
    info.corename = corename();
    info.config = config();
  }
  if (parallel) {
    switch (parallel()) {
      case 0: info.parallel = "sequential"; break;
      case 1: info.parallel = "pthread"; break;
      case 2: info.parallel = "openmp"; break;
      default: info.parallel = "unknown";
    }
  } else {
    info.parallel = "unknown";
  }
  return info;
}

}  // namespace marrow::runtime
