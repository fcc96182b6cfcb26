#include "marrow/core/json_util.hpp"

#include <filesystem>
#include <fstream>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"

namespace marrow {

nlohmann::json read_json_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("{}: file not found", path);
  std::ifstream in(path);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
}

void write_json_file(const std::string& path, const nlohmann::json& value) {
  write_file_atomic(path, value.dump(2) + "\n");
}

}  // namespace marrow
