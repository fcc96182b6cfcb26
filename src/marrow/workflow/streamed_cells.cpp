#include "marrow/workflow/streamed_cells.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <fmt/ranges.h>

#include "marrow/core/error.hpp"
#include "marrow/data/selection.hpp"
#include "marrow/io/load.hpp"
#include "marrow/preprocess/qc.hpp"
#include "marrow/runtime/distributed.hpp"

namespace marrow::workflow {

StreamedFile open_streamed(const DataSpec& spec) {
  if (io::detect_format(spec.path) != io::InputFormat::H5ad)
    fail("{}: --stream reads .h5ad files (this is a {}); convert it with `marrow preprocess --out FILE.h5ad` first",
         spec.path, io::format_name(io::detect_format(spec.path)));
  if (!spec.labels.empty()) fail("--stream reads the labels from obs; a --labels file is not joined while streaming");
  io::H5adReadOptions options;
  options.matrix = spec.matrix;
  options.read_matrix = false;
  options.read_obsm = false;
  AnnData tables = io::read_h5ad(spec.path, options);
  io::H5adRowReader reader(spec.path, spec.matrix);
  if (reader.format() == "csc")
    fail("{}: {} is stored column-compressed (CSC), which cannot be read a block of cells at a time; "
         "write it as CSR (e.g. adata.X = adata.X.tocsr() in Python) or drop --stream",
         spec.path, spec.matrix);
  StreamedFile file;
  file.path = spec.path;
  file.matrix = spec.matrix;
  file.var = std::move(tables.var);
  file.file_cells = reader.n_cells();
  spdlog::info("{}: {} cells x {} genes ({}), streamed", spec.path, file.file_cells, file.var.rows(), spec.matrix);
  file.rows = selected_rows(tables.obs, spec);
  file.obs = spec.cells.empty() ? std::move(tables.obs) : tables.obs.subset(file.rows);
  return file;
}

StreamedCounts::StreamedCounts(const StreamedFile& file, std::vector<int64_t> file_rows, int64_t chunk_cells)
    : file_(&file), reader_(file.path, file.matrix), file_rows_(std::move(file_rows)),
      chunks_(RowChunks::group(file_rows_, chunk_cells)) {}

StreamedCellSource::StreamedCellSource(StreamedFile file, int64_t chunk_cells)
    : file_(std::make_unique<StreamedFile>(std::move(file))),
      counts_(std::make_unique<StreamedCounts>(*file_, file_->rows, chunk_cells)) {}

void StreamedCellSource::for_each_block(const CellBlockVisitor& visit) const {
  for (size_t k = 0; k < counts_->chunks().size(); ++k) visit(counts_->read_chunk(k), counts_->chunks().positions[k]);
}

CsrMatrix StreamedCounts::read_positions(std::span<const int64_t> positions) const {
  std::vector<int64_t> rows = file_rows(positions);
  if (rows.empty()) return reader_.read_rows(0, 0);
  const auto [low, high] = std::minmax_element(rows.begin(), rows.end());
  const int64_t first = *low;
  CsrMatrix block = reader_.read_rows(first, *high + 1);
  for (int64_t& r : rows) r -= first;
  return block.select_rows(rows);
}

std::vector<int64_t> StreamedCounts::file_rows(std::span<const int64_t> positions) const {
  std::vector<int64_t> rows;
  rows.reserve(positions.size());
  for (int64_t p : positions) rows.push_back(file_rows_[p]);
  return rows;
}

preprocess::CountBlocks StreamedCounts::blocks(std::vector<size_t> which) const {
  preprocess::CountBlocks blocks;
  blocks.genes = file_->var.index;
  blocks.source = file_->path;
  blocks.for_each = [this, which](const std::function<void(const CsrMatrix&)>& visit) {
    for (size_t k : which) visit(read_chunk(k));
  };
  return blocks;
}

ReadAhead::ReadAhead() : thread_([this] { run(); }) {}

ReadAhead::~ReadAhead() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void ReadAhead::submit(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  wake_.notify_all();
}

void ReadAhead::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, nothing left
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

StreamedInputs::StreamedInputs(const StreamedCounts& counts, ChunkTransform transform, int64_t cols, bool keep_counts,
                               std::shared_ptr<ReadAhead> read_ahead)
    : counts_(&counts), transform_(std::move(transform)), cols_(cols), keep_counts_(keep_counts),
      read_ahead_(read_ahead ? std::move(read_ahead) : std::make_shared<ReadAhead>()),
      chunk_of_(static_cast<size_t>(counts.size()), 0), planned_(static_cast<size_t>(counts.size()), 0) {
  const auto& chunks = counts.chunks();
  for (size_t k = 0; k < chunks.size(); ++k)
    for (int64_t p : chunks.positions[k]) chunk_of_[p] = static_cast<int64_t>(k);
}

StreamedInputs::~StreamedInputs() {
  if (pending_.valid()) pending_.wait();
}

void StreamedInputs::plan(std::span<const int64_t> positions) {
  if (pending_.valid()) pending_.wait();  // a prefetch of the last plan that was never fetched
  pending_ = {};
  pending_chunk_ = SIZE_MAX;
  schedule_.clear();
  next_ = 0;
  std::vector<char> scheduled(counts_->chunks().size(), 0);
  for (int64_t p : positions) {
    planned_[p] = 1;
    auto k = static_cast<size_t>(chunk_of_[p]);
    if (!rows_.count(p) && !scheduled[k]) {
      scheduled[k] = 1;
      schedule_.push_back(k);
    }
  }
  prefetch_next();
}

StreamedInputs::Loaded StreamedInputs::load(std::vector<int64_t> wanted) const {
  CsrMatrix block = counts_->read_positions(wanted);
  preprocess::require_counts(block, counts_->source());
  StreamedRows rows = transform_(block, counts_->file_rows(wanted));
  return Loaded{std::move(wanted), std::move(rows)};
}

std::vector<int64_t> StreamedInputs::wanted(size_t chunk) const {
  std::vector<int64_t> positions;
  for (int64_t p : counts_->chunks().positions[chunk])
    if (planned_[p] && !rows_.count(p)) positions.push_back(p);
  return positions;
}

void StreamedInputs::prefetch_next() {
  if (next_ >= schedule_.size()) return;
  pending_chunk_ = schedule_[next_++];
  // What to keep is decided here, on the caller's thread, from the plan.
  auto task = std::make_shared<std::packaged_task<Loaded()>>([this, cells = wanted(pending_chunk_)]() mutable {
    return load(std::move(cells));
  });
  pending_ = task->get_future();
  read_ahead_->submit([task] { (*task)(); });
}

void StreamedInputs::read(size_t chunk) {
  Loaded loaded;
  if (pending_.valid() && pending_chunk_ == chunk) {
    loaded = pending_.get();
    pending_chunk_ = SIZE_MAX;
  } else {  // off the schedule (not planned in this order): read it here
    loaded = load(wanted(chunk));
  }
  const StreamedRows& input = loaded.rows;
  for (size_t i = 0; i < loaded.positions.size(); ++i) {
    Row row;
    const auto begin = input.log_normalised.indptr[i], end = input.log_normalised.indptr[i + 1];
    row.genes.assign(input.log_normalised.indices.begin() + begin, input.log_normalised.indices.begin() + end);
    row.log_normalised.assign(input.log_normalised.data.begin() + begin, input.log_normalised.data.begin() + end);
    if (keep_counts_) row.counts.assign(input.counts.data.begin() + begin, input.counts.data.begin() + end);
    row.library = input.library_size[i];
    rows_.emplace(loaded.positions[i], std::move(row));
  }
  ++chunks_read_;
  peak_ = std::max(peak_, resident());
  if (!pending_.valid()) prefetch_next();
}

StreamedRows StreamedInputs::fetch(std::span<const int64_t> positions) {
  StreamedRows input;
  const int64_t cols = cols_;
  CsrMatrix& x = input.log_normalised;
  CsrMatrix& c = input.counts;
  x.rows = c.rows = static_cast<int64_t>(positions.size());
  x.cols = c.cols = cols;
  for (int64_t p : positions) {
    if (!planned_[p]) fail("internal: cell {} fetched from the stream without being planned", p);
    auto it = rows_.find(p);
    if (it == rows_.end()) {
      read(static_cast<size_t>(chunk_of_[p]));
      it = rows_.find(p);
    }
    // Each cell is dropped as soon as it is copied out, before the next chunk comes in.
    Row& row = it->second;
    x.indices.insert(x.indices.end(), row.genes.begin(), row.genes.end());
    x.data.insert(x.data.end(), row.log_normalised.begin(), row.log_normalised.end());
    if (keep_counts_) c.data.insert(c.data.end(), row.counts.begin(), row.counts.end());
    x.indptr.push_back(static_cast<int64_t>(x.indices.size()));
    input.library_size.push_back(row.library);
    planned_[p] = 0;
    rows_.erase(it);
  }
  if (keep_counts_) {
    c.indices = x.indices;
    c.indptr = x.indptr;
  } else {
    c.rows = 0;  // not kept: the loss does not read counts
  }
  return input;
}

StreamedTraining::StreamedTraining(const DataSpec& spec, const SplitChoice& split, const StreamOptions& options,
                                   std::shared_ptr<runtime::Distributed> group)
    : options_(options), rank_(group ? group->rank() : 0), world_(group ? group->world_size() : 1) {
  if (group) sum_ = [group](std::vector<double>& values) { group->allreduce_sum(values); };
  if (options.chunk_cells <= 0 || options.shuffle_buffer <= 0)
    fail("--chunk-cells and --shuffle-buffer must be positive (got {} and {})", options.chunk_cells, options.shuffle_buffer);
  file_ = open_streamed(spec);
  parts_ = resolve_parts(file_.obs, split, spec.path);
  auto file_rows = [&](const std::vector<int64_t>& part) {
    std::vector<int64_t> rows;
    rows.reserve(part.size());
    for (int64_t i : part) rows.push_back(file_.rows[i]);
    return rows;
  };
  train_ = std::make_unique<StreamedCounts>(file_, file_rows(parts_.train), options.chunk_cells);
  validation_ = std::make_unique<StreamedCounts>(file_, file_rows(parts_.validation), options.chunk_cells);
  if (train_->size() == 0) fail("{}: no training cells", spec.path);
  // The cell table has served (selection, split): its memory goes back before the buffer fills.
  file_.obs = DataFrame{};
  file_.rows = {};
}

void StreamedTraining::set_transform(const ChunkTransform& transform, int64_t cols, bool keep_counts) {
  train_inputs_ = std::make_unique<StreamedInputs>(*train_, transform, cols, keep_counts, read_ahead_);
  validation_inputs_ = std::make_unique<StreamedInputs>(*validation_, transform, cols, keep_counts, read_ahead_);
}

std::vector<int64_t> StreamedTraining::epoch_order(uint64_t epoch_seed, int64_t batch_size) {
  std::vector<int64_t> order = stream_order(train_->chunks(), options_, batch_size, world_, epoch_seed);
  train_inputs_->plan(rank_positions(order, batch_size, rank_, world_));
  return order;
}

double StreamedTraining::validate(int64_t batch_size,
                                  const std::function<double(const StreamedRows&, std::span<const int64_t>)>& batch_loss) {
  std::vector<int64_t> mine;
  for (size_t k : rank_chunks(validation_->chunks().size(), rank_, world_))
    mine.insert(mine.end(), validation_->chunks().positions[k].begin(), validation_->chunks().positions[k].end());
  validation_inputs_->plan(mine);
  const double mean = mean_over_batches(mine, batch_size, [&](std::span<const int64_t> batch) {
    return batch_loss(validation_inputs_->fetch(batch), batch);
  });
  const auto cells = static_cast<double>(mine.size());
  std::vector<double> sums{cells > 0 ? mean * cells : 0.0, cells};  // loss x cells, cells (over ranks)
  if (sum_) sum_(sums);
  return sums[1] > 0 ? sums[0] / sums[1] : NAN;
}

std::string StreamedTraining::summary() const {
  std::vector<double> chunks(static_cast<size_t>(world_), 0.0);  // training chunks each rank read
  chunks[rank_] = static_cast<double>(train_inputs_ ? train_inputs_->chunks_read() : 0);
  if (sum_) sum_(chunks);
  return fmt::format("streamed {} training chunks (per rank: {}) of up to {} cells; at most {} training cells held at once "
                     "(shuffle buffer {}); peak resident memory {:.0f} MB",
                     chunks[rank_], fmt::join(chunks, ", "), options_.chunk_cells,
                     train_inputs_ ? train_inputs_->peak_resident() : 0, options_.shuffle_buffer, peak_resident_mb());
}

double peak_resident_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

}  // namespace marrow::workflow
