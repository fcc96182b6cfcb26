#pragma once
// In-memory inputs and outputs, for programs that embed the library (the Python module): a dataset
// registered here is read by every command as if it were a file named "memory:NAME", and a command
// writing its .h5ad results to "memory:NAME" leaves the additions (obsm, varm, obs columns, uns) here
// instead of writing a file. So the Python module runs the very same commands as the CLI on AnnData
// objects in memory, with no temporary file.
//
// Registered datasets are shared, not copied; reading one copies it once (load_cells selects cells on
// that copy, as it does on a file it has read). Thread-safe; names are the caller's.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "marrow/core/atomic_file.hpp"
#include "marrow/data/anndata.hpp"
#include "marrow/io/h5ad_writer.hpp"

namespace marrow::io {

inline constexpr std::string_view kMemoryPrefix = "memory:";  // is_memory_path: core/atomic_file.hpp

// Registers `data` under "memory:NAME" (replacing what that name held); returns the path.
std::string register_memory_dataset(const std::string& name, std::shared_ptr<const AnnData> data);
// The dataset of a "memory:" path; fails with a clear error when nothing is registered under it.
std::shared_ptr<const AnnData> memory_dataset(const std::string& path);
// Forgets the dataset and any output stored under the path.
void release_memory(const std::string& path);

// What a command would have written to an .h5ad: its additions, for these cells and genes.
struct MemoryOutput {
  H5adAdditions additions;
  std::vector<std::string> obs_names, var_names;
};
void store_memory_output(const std::string& path, MemoryOutput output);
// Takes (and forgets) the output stored under `path`, if any.
std::optional<MemoryOutput> take_memory_output(const std::string& path);

}  // namespace marrow::io
