#include "marrow/models/model_file.hpp"

#include <filesystem>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"

namespace marrow::models {

namespace {

torch::serialize::InputArchive open_archive(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("{}: model file not found", path);
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error&) {
    fail("{}: not a marrow model file (truncated, or another kind of file)", path);
  }
  return archive;
}

std::string read_string(torch::serialize::InputArchive& archive, const std::string& key, const std::string& path) {
  c10::IValue value;
  if (!archive.try_read(key, value) || !value.isString()) fail("{}: not a marrow model file (no '{}')", path, key);
  return value.toStringRef();
}

}  // namespace

void save_model(const std::string& path, const std::string& kind, const nlohmann::json& meta, torch::nn::Module& module) {
  AtomicOutput out(path);
  torch::serialize::OutputArchive archive;
  archive.write("marrow_format", c10::IValue(std::string(kModelFormat)));
  archive.write("kind", c10::IValue(kind));
  archive.write("meta", c10::IValue(meta.dump()));
  torch::serialize::OutputArchive weights;
  module.save(weights);
  archive.write("weights", weights);
  try {
    archive.save_to(out.temp_path().string());
  } catch (const c10::Error& e) {
    fail("{}: cannot write model: {}", path, e.what_without_backtrace());
  }
  out.commit();
}

ModelHeader read_model_header(const std::string& path, const std::string& expected_kind) {
  torch::serialize::InputArchive archive = open_archive(path);
  std::string format = read_string(archive, "marrow_format", path);
  if (format != kModelFormat) fail("{}: model format '{}' is not supported by this marrow (expects {})", path, format, kModelFormat);
  ModelHeader header;
  header.kind = read_string(archive, "kind", path);
  if (!expected_kind.empty() && header.kind != expected_kind)
    fail("{}: is a {} model, but a {} model is needed here", path, header.kind, expected_kind);
  try {
    header.meta = nlohmann::json::parse(read_string(archive, "meta", path));
  } catch (const nlohmann::json::exception&) {
    fail("{}: model metadata is corrupt", path);
  }
  return header;
}

void load_model_weights(const std::string& path, torch::nn::Module& module) {
  torch::serialize::InputArchive archive = open_archive(path);
  torch::serialize::InputArchive weights;
  if (!archive.try_read("weights", weights)) fail("{}: model file has no weights", path);
  try {
    torch::NoGradGuard no_grad;
    module.load(weights);
  } catch (const c10::Error& e) {
    fail("{}: weights do not fit the model described in the file: {}", path, e.what_without_backtrace());
  }
}

}  // namespace marrow::models
