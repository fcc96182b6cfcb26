#include "marrow/models/encoder.hpp"

#include <fmt/ranges.h>

#include "marrow/core/error.hpp"
#include "marrow/models/model_header.hpp"

namespace marrow::models {

// A kind's loader: builds the encoder from the file's header (kind and metadata already read).
using EncoderLoader = std::unique_ptr<CellEncoder> (*)(const std::string& path, const ModelHeader& header,
                                                      const EncodeSettings& settings);

#define MARROW_ENCODER_KIND(name, loader) \
  std::unique_ptr<CellEncoder> loader(const std::string&, const ModelHeader&, const EncodeSettings&);
#include "marrow/models/encoder_kinds.def"
#undef MARROW_ENCODER_KIND

namespace {

struct Registration {
  const char* kind;
  EncoderLoader load;
};

constexpr Registration kRegistry[] = {
#define MARROW_ENCODER_KIND(name, loader) {name, &loader},
#include "marrow/models/encoder_kinds.def"
#undef MARROW_ENCODER_KIND
};

}  // namespace

std::vector<std::string> encoder_kinds() {
  std::vector<std::string> kinds;
  for (const auto& r : kRegistry) kinds.emplace_back(r.kind);
  return kinds;
}

std::unique_ptr<CellEncoder> load_encoder(const std::string& path, const EncodeSettings& settings) {
  ModelHeader header = read_model_header(path);
  for (const auto& r : kRegistry)
    if (header.kind == r.kind) {
      try {
        return r.load(path, header, settings);
      } catch (const nlohmann::json::exception& e) {
        fail("{}: {} model metadata is incomplete: {}", path, header.kind, e.what());
      }
    }
  fail("{}: a '{}' model does not embed cells ({} models do)", path, header.kind, fmt::join(encoder_kinds(), ", "));
}

std::vector<std::vector<double>> CellEncoder::impute_masked(const AnnData&, const std::vector<std::vector<std::string>>&,
                                                            const std::vector<double>&, double) const {
  fail("{}: a {} model does not impute expression", path(), kind());
}

}  // namespace marrow::models
