#include "marrow/workflow/embed.hpp"

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/version.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "marrow/models/encoder.hpp"
#include "marrow/workflow/prepare.hpp"
#include "marrow/workflow/streamed_cells.hpp"

namespace marrow::workflow {

namespace {

void write_embedding(const EmbedOptions& options, const AnnData& data, DenseMatrix embedding,
                     const models::CellEncoder& encoder) {
  io::H5adAdditions additions;
  additions.obsm[options.key] = std::move(embedding);
  const nlohmann::json& meta = encoder.meta();
  additions.uns["marrow_embed"] = {{"model", options.model},
                                   {"key", options.key},
                                   {"marrow_version", kVersion},
                                   {"model_input", meta.contains("run") ? meta["run"].value("input", "") : ""},
                                   {"genes", static_cast<int64_t>(encoder.genes().size())}};
  write_results(options.data, data, additions, options.out);
}

// embed --stream: the whole input file (its copy gets the embedding), read a chunk at a time.
StreamedCellSource open_whole_file(const EmbedOptions& options) {
  if (!options.data.cells.empty())
    fail("embed --stream writes a copy of the whole input file with the embedding added; --cells would need the "
         "selected cells' matrix written out whole. Select the cells in a separate file first, or drop --stream");
  return StreamedCellSource(open_streamed(options.data), options.streaming.chunk_cells);
}

}  // namespace

int64_t embed(const EmbedOptions& options) {
  if (options.out.empty()) fail("embed: --out is required");
  check_output_directory(options.out);
  auto encoder = models::load_encoder(options.model, {options.device, options.case_insensitive});
  if (options.stream) {
    StreamedCellSource cells = open_whole_file(options);
    write_embedding(options, AnnData{}, encoder->encode(cells), *encoder);
    return cells.n_cells();
  }
  AnnData data = load_cells(options.data);
  write_embedding(options, data, encoder->encode(InMemoryCells(data)), *encoder);
  return data.n_cells();
}

}  // namespace marrow::workflow
