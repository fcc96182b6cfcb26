#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace marrow {

// Reads a JSON file, failing with the file name and the parser's position on error.
nlohmann::json read_json_file(const std::string& path);
// Writes pretty-printed JSON atomically.
void write_json_file(const std::string& path, const nlohmann::json& value);

}  // namespace marrow
