#pragma once
// `marrow embed`: any model that embeds cells (models/encoder.hpp: autoencoder, gene model, PCA
// baseline) writes obsm[key] of a copy of the input, reading the cells in memory or streamed.
#include <cstdint>
#include <string>

#include "marrow/data/data_spec.hpp"
#include "marrow/data/row_stream.hpp"

namespace marrow::workflow {

struct EmbedOptions {
  std::string model;
  DataSpec data;
  std::string out;            // .h5ad: the input with obsm[key] (and the selected cells only, if --cells)
  std::string key = "X_marrow";
  bool case_insensitive = false;
  std::string device = "cpu";  // cpu, cuda or cuda:N
  bool stream = false;         // read the matrix a chunk of rows at a time (chunk_cells; no shuffling)
  StreamOptions streaming;
};

// Returns the number of cells embedded.
int64_t embed(const EmbedOptions& options);

}  // namespace marrow::workflow
