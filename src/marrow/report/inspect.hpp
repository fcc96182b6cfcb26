#pragma once
// What a user wants to know about a file before using it: shape, sparsity, storage, layers, obs
// columns with their categories and counts, and whether X looks like raw counts.
#include <nlohmann/json.hpp>
#include <string>

namespace marrow::report {

struct InspectOptions {
  std::string matrix = "X";
  std::string labels;             // optional CSV/TSV joined on barcode
  size_t max_categories = 40;     // listed per column; the rest are summarised
};

nlohmann::json inspect(const std::string& path, const InspectOptions& options = {});
std::string format_inspect(const nlohmann::json& summary);

}  // namespace marrow::report
