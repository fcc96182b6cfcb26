#pragma once
// Helpers shared by the tests: fixture paths, the real datasets beside the project (skipping
// visibly where they are absent), scratch directories, and running the marrow binary.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "marrow/data/csr_matrix.hpp"

namespace marrow::test {

inline std::string fixture(const std::string& name) { return std::string(MARROW_SOURCE_DIR) + "/tests/fixtures/" + name; }

// ../shared/data beside the checkout (or $MARROW_SHARED_DATA); "" when absent.
inline std::string shared_data(const std::string& relative) {
  const char* env = std::getenv("MARROW_SHARED_DATA");
  std::filesystem::path root = env ? env : std::filesystem::path(MARROW_SOURCE_DIR) / ".." / "shared" / "data";
  std::filesystem::path p = root / relative;
  return std::filesystem::exists(p) ? p.string() : "";
}

#define MARROW_REQUIRE_SHARED(var, relative)                                                       \
  const std::string var = ::marrow::test::shared_data(relative);                                  \
  if (var.empty()) GTEST_SKIP() << "real dataset ../shared/data/" << relative << " not present; skipping"

// A whole text file ("" when it cannot be read).
inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "marrow-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `marrow ARGS` (or another program) through the shell, capturing stdout+stderr.
inline CommandResult run_marrow(const std::string& args, const std::string& env = "",
                                const std::string& program = MARROW_BINARY) {
  std::string command = env + (env.empty() ? "" : " ") + program + " " + args + " 2>&1";
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline int count_lines(const std::string& text) {
  int n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

// Runs a command that must fail on bad input and checks the contract.
inline void expect_bad_input(const std::string& args, const std::string& names, const std::string& fragment,
                      const std::string& output_path) {
  CommandResult r = run_marrow("--quiet " + args);
  EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
  EXPECT_EQ(count_lines(r.output), 1) << "one line: " << r.output;
  EXPECT_EQ(r.output.rfind("marrow: error: ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find(names), std::string::npos) << "must name " << names << ": " << r.output;
  EXPECT_NE(r.output.find(fragment), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(output_path)) << "wrote " << output_path;
  auto dir = std::filesystem::path(output_path).parent_path();
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << "left " << entry.path();
}

// The 6 x 5 matrix every reader fixture holds (tests/fixtures/make_fixtures.py).
inline std::vector<float> fixture_dense() {
  return {0, 1, 0, 3, 0,  //
          2, 0, 0, 0, 1,  //
          0, 0, 5, 0, 0,  //
          1, 1, 1, 1, 1,  //
          0, 7, 0, 0, 2,  //
          4, 0, 0, 6, 0};
}

inline std::vector<float> dense(const CsrMatrix& m) {
  std::vector<float> out(m.rows * m.cols);
  m.to_dense(0, m.rows, out.data());
  return out;
}

}  // namespace marrow::test
