// libFuzzer target: the .h5ad reader (metadata, obs/var, X in every layout) on arbitrary bytes.
#include "fuzz_input.hpp"
#include "marrow/io/h5ad_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return marrow::fuzz::run_reader(marrow::fuzz::write_input(data, size, ".h5ad"), [](const std::string& path) {
    marrow::io::read_h5ad_layout(path);
    marrow::io::read_h5ad(path);
  });
}
