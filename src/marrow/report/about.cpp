#include "marrow/report/about.hpp"

#include <fmt/format.h>
#include <thread>

#include "marrow/core/version.hpp"
#include "marrow/io/hdf5.hpp"
#include "marrow/runtime/blas_env.hpp"
#include "marrow/runtime/torch_runtime.hpp"

namespace marrow::report {

nlohmann::json about(int matmul_size, int matmul_repeats) {
  runtime::BlasLibraryInfo blas = runtime::blas_library_info();
  nlohmann::json j;
  j["marrow_version"] = kVersion;
  j["torch_version"] = runtime::torch_version();
  j["cuda_available"] = runtime::cuda_available();
  j["hdf5_version"] = h5::library_version();
  j["threads"] = runtime::torch_threads();
  j["hardware_threads"] = std::thread::hardware_concurrency();
  j["blas"] = {{"openblas", blas.is_openblas}, {"kernel", blas.corename}, {"parallel", blas.parallel},
               {"library", blas.library}, {"coretype_env", blas.coretype_env}, {"config", blas.config}};
  if (matmul_size > 0) {
    runtime::MatmulResult m = runtime::measure_matmul(matmul_size, matmul_repeats);
    j["matmul"] = {{"size", m.size}, {"repeats", m.repeats}, {"best_seconds", m.best_seconds}, {"gflops", m.gflops}};
  }
  return j;
}

std::string format_about(const nlohmann::json& j) {
  const auto& b = j["blas"];
  std::string out = fmt::format(
      "marrow {}\n  torch    {} (CUDA {})\n  HDF5     {}\n  threads  {} of {} hardware threads\n"
      "  BLAS     {} kernel '{}', {} threading\n           {}\n",
      j["marrow_version"].get<std::string>(), j["torch_version"].get<std::string>(),
      j["cuda_available"].get<bool>() ? "available" : "not available", j["hdf5_version"].get<std::string>(),
      j["threads"].get<int>(), j["hardware_threads"].get<unsigned>(), b["openblas"].get<bool>() ? "OpenBLAS" : "non-OpenBLAS",
      b["kernel"].get<std::string>(), b["parallel"].get<std::string>(), b["library"].get<std::string>());
  if (j.contains("matmul"))
    out += fmt::format("  matmul   {0}x{0} float32: {1:.1f} GFLOP/s\n", j["matmul"]["size"].get<int>(),
                       j["matmul"]["gflops"].get<double>());
  return out;
}

}  // namespace marrow::report
