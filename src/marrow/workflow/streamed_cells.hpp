#pragma once
// Cells of an .h5ad read in blocks of rows instead of whole (--stream): obs and var are read up
// front (a few bytes per cell), the matrix a chunk at a time. Memory is then bounded by the chunk
// and shuffle-buffer sizes (data/row_stream.hpp), not by the file.
#include <functional>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <string>
#include <unordered_map>
#include <vector>

#include "marrow/data/cell_source.hpp"
#include "marrow/data/frame.hpp"
#include "marrow/data/row_stream.hpp"
#include "marrow/io/h5ad_reader.hpp"
#include "marrow/preprocess/pipeline.hpp"
#include "marrow/data/parts.hpp"
#include "marrow/workflow/prepare.hpp"

namespace marrow::runtime {
class Distributed;
}

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
  const std::string& source() const { return file_->path; }
  const RowChunks& chunks() const { return chunks_; }
  // Counts of chunk k's cells, in chunks().positions[k] order.
  CsrMatrix read_chunk(size_t k) const { return read_positions(chunks_.positions[k]); }
  // Counts of these cells, which lie in one chunk, in this order (one read of the rows they span).
  CsrMatrix read_positions(std::span<const int64_t> positions) const;
  // The file rows of these positions (to name cells in errors).
  std::vector<int64_t> file_rows(std::span<const int64_t> positions) const;
  // The given chunks as blocks for Preprocessor::fit.
  preprocess::CountBlocks blocks(std::vector<size_t> which) const;

 private:
  const StreamedFile* file_;
  io::H5adRowReader reader_;
  std::vector<int64_t> file_rows_;
  RowChunks chunks_;
};

// The selected cells of a streamed file as a CellSource (embed --stream): one chunk of rows per
// block, read when visited. Movable: the file lives on the heap, where the reader points.
class StreamedCellSource final : public CellSource {
 public:
  StreamedCellSource(StreamedFile file, int64_t chunk_cells);
  int64_t n_cells() const override { return counts_->size(); }
  const DataFrame& genes() const override { return file_->var; }
  const std::string& name() const override { return file_->path; }
  const std::string& cell_name(int64_t position) const override { return file_->obs.index[position]; }
  void for_each_block(const CellBlockVisitor& visit) const override;

 private:
  std::unique_ptr<StreamedFile> file_;
  std::unique_ptr<StreamedCounts> counts_;
};

// One background thread that runs jobs in turn for as long as it lives; chunks are read and
// transformed there. One lasting thread rather than one per chunk: a new thread may get a new malloc
// arena, and every arena keeps the memory of the chunks it once held (measured: a second arena of
// 61 MB on the 400k-cell file, none on the 50k one).
class ReadAhead {
 public:
  ReadAhead();
  ~ReadAhead();  // finishes the queued jobs
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;
  void submit(std::function<void()> job);

 private:
  void run();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

// Model inputs of streamed cells, served in a planned order: plan() says which positions the next
// fetches ask for, in order; reading a chunk keeps only those of its cells, and a fetched cell is
// dropped. Memory holds the cells read but not yet fetched (bounded by the stream order) plus the
// next chunk, which a background thread reads and transforms while the model trains on the current
// one. Raw counts are kept only where the loss needs them.
//
// The transform turns a chunk's raw counts (file genes) into rows over the model's genes: the
// autoencoder's preprocessing (log_normalised = its input), or the gene model's tokens
// (log_normalised = token values over the vocabulary); file_rows name its rows in errors. It runs on
// the read-ahead thread.
using StreamedRows = preprocess::Preprocessor::ModelInput;
using ChunkTransform = std::function<StreamedRows(const CsrMatrix& counts, std::span<const int64_t> file_rows)>;

class StreamedInputs {
 public:
  // read_ahead: the thread to read on (shared by the training and validation inputs of one run);
  // null = a thread of its own.
  StreamedInputs(const StreamedCounts& counts, ChunkTransform transform, int64_t cols, bool keep_counts = true,
                 std::shared_ptr<ReadAhead> read_ahead = nullptr);
  ~StreamedInputs();
  StreamedInputs(const StreamedInputs&) = delete;
  StreamedInputs& operator=(const StreamedInputs&) = delete;
  void plan(std::span<const int64_t> positions);
  // The rows of these positions (each planned and not yet fetched), in this order.
  StreamedRows fetch(std::span<const int64_t> positions);
  int64_t resident() const { return static_cast<int64_t>(rows_.size()); }
  int64_t peak_resident() const { return peak_; }
  int64_t chunks_read() const { return chunks_read_; }

 private:
  struct Row {
    std::vector<int32_t> genes;
    std::vector<float> log_normalised, counts;
    double library = 0;
  };
  // A chunk's wanted cells, transformed, as one block. The prefetch thread hands over blocks, and
  // the cells are cut into rows here on the caller's thread: rows that live long (in the shuffle
  // buffer) then come from the caller's malloc arena, which reuses what it freed (e.g. the cell
  // table) instead of growing a second arena.
  struct Loaded {
    std::vector<int64_t> positions;
    StreamedRows rows;
  };
  // Reads the cells at these positions (of one chunk) and transforms them (runs on the prefetch thread).
  Loaded load(std::vector<int64_t> positions) const;
  void read(size_t chunk);
  void prefetch_next();
  // The planned cells of a chunk not yet read (what reading it must keep).
  std::vector<int64_t> wanted(size_t chunk) const;
  const StreamedCounts* counts_;
  ChunkTransform transform_;
  int64_t cols_;
  bool keep_counts_;
  std::vector<size_t> schedule_;      // chunks in the order the plan first needs them
  size_t next_ = 0;                   // next entry of schedule_ to prefetch
  size_t pending_chunk_ = SIZE_MAX;
  std::future<Loaded> pending_;
  std::shared_ptr<ReadAhead> read_ahead_;
  std::vector<int64_t> chunk_of_;     // per position: its chunk
  std::vector<char> planned_;         // per position: fetch will ask for it
  std::unordered_map<int64_t, Row> rows_;
  int64_t peak_ = 0, chunks_read_ = 0;
};

// What streamed pretraining does the same for every model: the file's training and validation
// parts (the split resolved on the cell table, which is then released, so that what is held per
// cell of the file is a few integers), this rank's chunks, the epoch order, and the validation cells
// this rank scores. group: the data-parallel ranks (null: one process).
class StreamedTraining {
 public:
  using SumOverRanks = std::function<void(std::vector<double>&)>;
  StreamedTraining(const DataSpec& spec, const SplitChoice& split, const StreamOptions& options,
                   std::shared_ptr<runtime::Distributed> group);
  StreamedTraining(const StreamedTraining&) = delete;  // the readers point into it
  StreamedTraining& operator=(const StreamedTraining&) = delete;
  const StreamedFile& file() const { return file_; }
  const Parts& parts() const { return parts_; }
  const StreamedCounts& train() const { return *train_; }
  const StreamOptions& options() const { return options_; }
  // Sums statistics over the ranks in place (empty with one process).
  const SumOverRanks& sum_over_ranks() const { return sum_; }
  // The training chunks this rank reads in a statistics pass (Preprocessor::fit, value sums).
  std::vector<size_t> own_train_chunks() const { return rank_chunks(train_->chunks().size(), rank_, world_); }

  // How chunks become model inputs (for both parts); called once, before the first epoch.
  void set_transform(const ChunkTransform& transform, int64_t cols, bool keep_counts);
  // The epoch's order of the training cells (the same on every rank); plans this rank's fetches.
  std::vector<int64_t> epoch_order(uint64_t epoch_seed, int64_t batch_size);
  StreamedRows fetch_train(std::span<const int64_t> positions) { return train_inputs_->fetch(positions); }
  // This rank's validation cells (its chunks, in file order) in batches: batch_loss(rows, positions)
  // gives a batch's mean loss; returns the mean over all validation cells of all ranks (NaN: none).
  double validate(int64_t batch_size, const std::function<double(const StreamedRows&, std::span<const int64_t>)>& batch_loss);
  // The closing log line: training chunks read per rank, most cells held, peak memory. Every rank
  // must call it (it sums over ranks).
  std::string summary() const;

 private:
  StreamOptions options_;
  int rank_, world_;
  SumOverRanks sum_;
  StreamedFile file_;
  Parts parts_;
  std::unique_ptr<StreamedCounts> train_, validation_;
  std::shared_ptr<ReadAhead> read_ahead_ = std::make_shared<ReadAhead>();
  std::unique_ptr<StreamedInputs> train_inputs_, validation_inputs_;
};

// Peak resident memory of this process so far (VmHWM), in MB; 0 where /proc is not there.
double peak_resident_mb();

}  // namespace marrow::workflow
