#pragma once
// Shared by the libFuzzer targets: the fuzzer's bytes written to a fresh file (the readers take
// paths, and the HDF5 check caches by inode, size and time, so each input gets a new name), and
// the rule every target enforces: a reader either succeeds or throws marrow::Error; anything else
// (another exception, a signal, a sanitizer report) is a finding.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "marrow/core/error.hpp"

namespace marrow::fuzz {

inline std::filesystem::path scratch() {
  static std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("marrow-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

// Writes `data` as SCRATCH/N.SUFFIX (or into SCRATCH/N/ as `member` when not empty) and returns the path.
inline std::string write_input(const uint8_t* data, size_t size, const std::string& suffix, const std::string& member = "") {
  static uint64_t counter = 0;
  std::filesystem::path path = scratch() / (std::to_string(counter++) + suffix);
  std::filesystem::path file = path;
  if (!member.empty()) {
    std::filesystem::create_directories(path);
    file = path / member;
  }
  std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path.string();
}

template <typename Read>
int run_reader(const std::string& path, Read read) {
  try {
    read(path);
  } catch (const Error&) {
    // the expected outcome for a damaged file
  } catch (const std::exception& e) {
    std::fprintf(stderr, "non-marrow exception on %s: %s\n", path.c_str(), e.what());
    std::abort();
  }
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  return 0;
}

}  // namespace marrow::fuzz
