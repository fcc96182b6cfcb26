// libFuzzer target: the .marrow model-file reader (header, metadata, weights archive).
#include "fuzz_input.hpp"
#include "marrow/models/model_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return marrow::fuzz::run_reader(marrow::fuzz::write_input(data, size, ".marrow"), [](const std::string& path) {
    marrow::models::read_model_header(path);
  });
}
