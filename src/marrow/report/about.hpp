#pragma once
// What `marrow info` reports: versions (marrow, torch, HDF5), the BLAS kernel actually in use,
// threads, and optionally the measured matmul speed.
#include <nlohmann/json.hpp>
#include <string>

namespace marrow::report {

nlohmann::json about(int matmul_size = 0, int matmul_repeats = 5);
std::string format_about(const nlohmann::json& info);

}  // namespace marrow::report
