#include "marrow/models/model_file.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/checksum.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/zip_check.hpp"

namespace marrow::models {

namespace {

// Files written before checksums: still read, with a warning that they cannot be verified.
constexpr const char* kUncheckedFormat = "marrow-model/1";

torch::serialize::InputArchive open_archive(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("{}: model file not found", path);
  check_zip_records(path);  // before torch parses any record (core/zip_check.hpp)
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const std::exception&) {
    fail("{}: not a marrow model file (truncated, damaged, or another kind of file)", path);
  }
  return archive;
}

std::string read_string(torch::serialize::InputArchive& archive, const std::string& key, const std::string& path) {
  c10::IValue value;
  bool found = false;
  try {
    found = archive.try_read(key, value);
  } catch (const c10::Error&) {
    fail("{}: model file is damaged (cannot read '{}')", path, key);
  }
  if (!found || !value.isString()) fail("{}: not a marrow model file (no '{}')", path, key);
  return value.toStringRef();
}

// The format tag: true for a file with checksums, false for an older one without.
bool read_format(torch::serialize::InputArchive& archive, const std::string& path) {
  std::string format = read_string(archive, "marrow_format", path);
  if (format == kModelFormat) return true;
  if (format == kUncheckedFormat) return false;
  fail("{}: model format '{}' is not supported by this marrow (expects {})", path, format, kModelFormat);
}

std::string header_checksum(const std::string& kind, const std::string& meta) {
  Crc32 crc;
  crc.add_text(kModelFormat);
  crc.add_text(kind);
  crc.add_text(meta);
  return crc.hex();
}

// Over every parameter and buffer in the module's order: its name, type, shape and bytes.
std::string weights_checksum(torch::nn::Module& module) {
  Crc32 crc;
  auto add = [&crc](const std::string& name, const torch::Tensor& tensor) {
    crc.add_text(name);
    if (!tensor.defined()) return;
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    crc.add_text(c10::toString(t.scalar_type()));
    for (int64_t extent : t.sizes()) crc.add(&extent, sizeof extent);
    crc.add(t.data_ptr(), t.nbytes());
  };
  for (const auto& p : module.named_parameters(true)) add(p.key(), p.value());
  for (const auto& b : module.named_buffers(true)) add(b.key(), b.value());
  return crc.hex();
}

void check_finite(torch::nn::Module& module, const std::string& path) {
  auto check = [&path](const std::string& name, const torch::Tensor& t) {
    if (t.defined() && t.is_floating_point() && !torch::isfinite(t).all().item<bool>())
      fail("{}: model file is damaged: weight '{}' holds NaN or infinite values", path, name);
  };
  for (const auto& p : module.named_parameters(true)) check(p.key(), p.value());
  for (const auto& b : module.named_buffers(true)) check(b.key(), b.value());
}

void verify(const std::string& expected, const std::string& actual, const std::string& what, const std::string& path) {
  if (expected != actual)
    fail("{}: model file is damaged: its {} do not match their checksum (crc32 {} stored, {} read)", path, what, expected,
         actual);
}

}  // namespace

void save_model(const std::string& path, const std::string& kind, const nlohmann::json& meta, torch::nn::Module& module) {
  AtomicOutput out(path);
  const std::string meta_text = meta.dump();
  torch::serialize::OutputArchive archive;
  archive.write("marrow_format", c10::IValue(std::string(kModelFormat)));
  archive.write("kind", c10::IValue(kind));
  archive.write("meta", c10::IValue(meta_text));
  archive.write("header_crc32", c10::IValue(header_checksum(kind, meta_text)));
  archive.write("weights_crc32", c10::IValue(weights_checksum(module)));
  torch::serialize::OutputArchive weights;
  module.save(weights);
  archive.write("weights", weights);
  try {
    archive.save_to([&out](const void* data, size_t size) { return out.write(data, size); });
  } catch (const c10::Error& e) {
    fail("{}: cannot write model: {}", path, e.what_without_backtrace());
  }
  out.commit();
}

ModelHeader read_model_header(const std::string& path, const std::string& expected_kind) {
  torch::serialize::InputArchive archive = open_archive(path);
  const bool checked = read_format(archive, path);
  ModelHeader header;
  header.kind = read_string(archive, "kind", path);
  const std::string meta_text = read_string(archive, "meta", path);
  if (checked)
    verify(read_string(archive, "header_crc32", path), header_checksum(header.kind, meta_text), "kind and metadata", path);
  else
    spdlog::warn("{}: written by an older marrow without checksums ({}): damage to it cannot be detected", path,
                 kUncheckedFormat);
  if (!expected_kind.empty() && header.kind != expected_kind)
    fail("{}: is a {} model, but a {} model is needed here", path, header.kind, expected_kind);
  try {
    header.meta = nlohmann::json::parse(meta_text);
  } catch (const nlohmann::json::exception&) {
    fail("{}: model metadata is corrupt", path);
  }
  return header;
}

void load_model_weights(const std::string& path, torch::nn::Module& module) {
  torch::serialize::InputArchive archive = open_archive(path);
  const bool checked = read_format(archive, path);
  torch::serialize::InputArchive weights;
  try {
    if (!archive.try_read("weights", weights)) fail("{}: model file has no weights", path);
    torch::NoGradGuard no_grad;
    module.load(weights);
  } catch (const c10::Error& e) {
    fail("{}: weights do not fit the model described in the file: {}", path, e.what_without_backtrace());
  }
  if (checked) verify(read_string(archive, "weights_crc32", path), weights_checksum(module), "weights", path);
  check_finite(module, path);
}

}  // namespace marrow::models
