#pragma once
// Cells of an .h5ad read in blocks of rows instead of whole (--stream): obs and var are read up
// front (a few bytes per cell), the matrix a chunk at a time. Memory is then bounded by the chunk
// and shuffle-buffer sizes (data/row_stream.hpp), not by the file.
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "marrow/data/frame.hpp"
#include "marrow/data/row_stream.hpp"
#include "marrow/io/h5ad_reader.hpp"
#include "marrow/preprocess/pipeline.hpp"
#include "marrow/workflow/prepare.hpp"

namespace marrow::workflow {

// An .h5ad opened for streaming: its cell and gene tables and the rows --cells selects (ascending).
struct StreamedFile {
  std::string path, matrix;
  DataFrame obs;  // the selected cells only
  DataFrame var;
  std::vector<int64_t> rows;  // file row of each selected cell
  int64_t file_cells = 0;
};
// Fails clearly where streaming cannot work: not an .h5ad, a labels file to join, or a
// column-compressed (CSC) matrix, which cannot be read by rows.
StreamedFile open_streamed(const DataSpec& spec);

// The raw counts of some of the file's cells, chunk by chunk.
class StreamedCounts {
 public:
  StreamedCounts(const StreamedFile& file, std::vector<int64_t> file_rows, int64_t chunk_cells);
  int64_t size() const { return static_cast<int64_t>(file_rows_.size()); }
  int64_t file_row(int64_t position) const { return file_rows_[position]; }
  const std::string& source() const { return file_->path; }
  const RowChunks& chunks() const { return chunks_; }
  // Counts of chunk k's cells, in chunks().positions[k] order.
  CsrMatrix read_chunk(size_t k) const;
  // The given chunks as blocks for Preprocessor::fit.
  preprocess::CountBlocks blocks(std::vector<size_t> which) const;

 private:
  const StreamedFile* file_;
  io::H5adRowReader reader_;
  std::vector<int64_t> file_rows_;
  RowChunks chunks_;
};

// Model inputs (preprocessed rows) of streamed cells, served in a planned order: plan() says which
// positions the next fetches ask for; reading a chunk keeps only those of its cells, and a fetched
// cell is dropped. Memory holds the cells read but not yet fetched (bounded by the stream order).
class StreamedInputs {
 public:
  StreamedInputs(const StreamedCounts& counts, const preprocess::Preprocessor& preprocessor, GeneAlignment alignment);
  void plan(std::span<const int64_t> positions);
  // The rows of these positions (each planned and not yet fetched), in this order.
  preprocess::Preprocessor::ModelInput fetch(std::span<const int64_t> positions);
  int64_t resident() const { return static_cast<int64_t>(rows_.size()); }
  int64_t peak_resident() const { return peak_; }
  int64_t chunks_read() const { return chunks_read_; }

 private:
  struct Row {
    std::vector<int32_t> genes;
    std::vector<float> log_normalised, counts;
    double library = 0;
  };
  void read(size_t chunk);
  const StreamedCounts* counts_;
  const preprocess::Preprocessor* preprocessor_;
  GeneAlignment alignment_;
  std::vector<int64_t> chunk_of_;     // per position: its chunk
  std::vector<char> planned_;         // per position: fetch will ask for it
  std::unordered_map<int64_t, Row> rows_;
  int64_t peak_ = 0, chunks_read_ = 0;
};

}  // namespace marrow::workflow
