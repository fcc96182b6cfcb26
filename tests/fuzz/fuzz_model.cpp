// libFuzzer target: the .marrow model-file reader: read_model_header (zip record check, archive,
// format tag, header checksum, metadata JSON) and, when that passes, load_model_weights (the weights
// archive, weight checksum, finite check). The model classes need C++20, which clang 14 cannot
// compile against LibTorch's headers, so the weights are loaded into a module that mirrors the
// archive's own tree of tensors (built by the harness, outside what is judged).
#include <torch/torch.h>

#include "fuzz_input.hpp"
#include "marrow/models/model_file.hpp"

namespace {

// A module with one parameter per tensor in `archive` and one submodule per nested archive.
std::shared_ptr<torch::nn::Module> mirror(torch::serialize::InputArchive& archive, int depth) {
  auto module = std::make_shared<torch::nn::Module>();
  for (const std::string& key : archive.keys()) {
    torch::Tensor tensor;
    torch::serialize::InputArchive child;
    if (archive.try_read(key, tensor)) {
      module->register_parameter(key, tensor, tensor.is_floating_point());
    } else if (depth < 8 && archive.try_read(key, child)) {
      module->register_module(key, mirror(child, depth + 1));
    }
  }
  return module;
}

std::shared_ptr<torch::nn::Module> mirror_of(const std::string& path) {
  try {
    torch::serialize::InputArchive archive, weights;
    archive.load_from(path);
    if (!archive.try_read("weights", weights)) return nullptr;
    return mirror(weights, 0);
  } catch (const std::exception&) {
    return nullptr;  // the harness's own view of a file the header check let through
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return marrow::fuzz::run_reader(marrow::fuzz::write_input(data, size, ".marrow"), [](const std::string& path) {
    marrow::models::read_model_header(path);
    if (auto module = mirror_of(path)) marrow::models::load_model_weights(path, *module);
  });
}
