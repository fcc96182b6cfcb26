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
  if (spec.cells.empty()) {
    file.rows.resize(static_cast<size_t>(file.file_cells));
    for (int64_t r = 0; r < file.file_cells; ++r) file.rows[r] = r;
    file.obs = std::move(tables.obs);
  } else {
    CellSelection selection = parse_selection(spec.cells);
    file.rows = select_rows(tables.obs, selection, spec.path);
    spdlog::info("{}: selected {} of {} cells ({})", spec.path, file.rows.size(), file.file_cells, selection.describe());
    file.obs = tables.obs.subset(file.rows);
  }
  spdlog::info("{}: {} cells x {} genes ({}), streamed", spec.path, file.file_cells, file.var.rows(), spec.matrix);
  return file;
}

StreamedCounts::StreamedCounts(const StreamedFile& file, std::vector<int64_t> file_rows, int64_t chunk_cells)
    : file_(&file), reader_(file.path, file.matrix), file_rows_(std::move(file_rows)),
      chunks_(RowChunks::group(file_rows_, chunk_cells)) {}

CsrMatrix StreamedCounts::read_chunk(size_t k) const {
  const auto& positions = chunks_.positions[k];
  const int64_t first = file_rows_[positions.front()], last = file_rows_[positions.back()];
  CsrMatrix block = reader_.read_rows(first, last + 1);
  std::vector<int64_t> rows;
  rows.reserve(positions.size());
  for (int64_t p : positions) rows.push_back(file_rows_[p] - first);
  return block.select_rows(rows);
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

StreamedInputs::StreamedInputs(const StreamedCounts& counts, ChunkTransform transform, int64_t cols, bool keep_counts)
    : counts_(&counts), transform_(std::move(transform)), cols_(cols), keep_counts_(keep_counts),
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

StreamedInputs::Loaded StreamedInputs::load(size_t chunk, std::vector<int64_t> wanted) const {
  const auto& positions = counts_->chunks().positions[chunk];
  std::vector<int64_t> local;
  for (size_t i = 0, j = 0; i < positions.size() && j < wanted.size(); ++i)
    if (positions[i] == wanted[j]) local.push_back(static_cast<int64_t>(i)), ++j;
  CsrMatrix block = counts_->read_chunk(chunk).select_rows(local);
  preprocess::require_counts(block, counts_->source());
  std::vector<int64_t> file_rows;
  for (int64_t p : wanted) file_rows.push_back(counts_->file_row(p));
  return Loaded{std::move(wanted), transform_(block, file_rows)};
}

void StreamedInputs::prefetch_next() {
  if (next_ >= schedule_.size()) return;
  size_t chunk = schedule_[next_++];
  std::vector<int64_t> wanted;  // decided here, on the caller's thread, from the plan
  for (int64_t p : counts_->chunks().positions[chunk])
    if (planned_[p] && !rows_.count(p)) wanted.push_back(p);
  pending_chunk_ = chunk;
  pending_ = std::async(std::launch::async, [this, chunk, wanted = std::move(wanted)]() mutable {
    return load(chunk, std::move(wanted));
  });
}

void StreamedInputs::read(size_t chunk) {
  Loaded loaded;
  if (pending_.valid() && pending_chunk_ == chunk) {
    loaded = pending_.get();
    pending_chunk_ = SIZE_MAX;
  } else {  // off the schedule (not planned in this order): read it here
    std::vector<int64_t> wanted;
    for (int64_t p : counts_->chunks().positions[chunk])
      if (planned_[p] && !rows_.count(p)) wanted.push_back(p);
    loaded = load(chunk, std::move(wanted));
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
  train_inputs_ = std::make_unique<StreamedInputs>(*train_, transform, cols, keep_counts);
  validation_inputs_ = std::make_unique<StreamedInputs>(*validation_, transform, cols, keep_counts);
}

std::vector<int64_t> StreamedTraining::epoch_order(int epoch, int64_t batch_size, uint64_t seed) {
  std::vector<int64_t> order = stream_order(train_->chunks(), options_, batch_size, world_, seed * 7919ULL + static_cast<uint64_t>(epoch));
  train_inputs_->plan(rank_positions(order, batch_size, rank_, world_));
  return order;
}

double StreamedTraining::validate(int64_t batch_size,
                                  const std::function<double(const StreamedRows&, std::span<const int64_t>)>& batch_loss) {
  std::vector<int64_t> mine;
  for (size_t k : rank_chunks(validation_->chunks().size(), rank_, world_))
    mine.insert(mine.end(), validation_->chunks().positions[k].begin(), validation_->chunks().positions[k].end());
  validation_inputs_->plan(mine);
  std::vector<double> sums{0.0, 0.0};  // loss x cells, cells
  for (size_t start = 0; start < mine.size(); start += static_cast<size_t>(batch_size)) {
    std::span<const int64_t> batch(mine.data() + start, std::min<size_t>(static_cast<size_t>(batch_size), mine.size() - start));
    sums[0] += batch_loss(validation_inputs_->fetch(batch), batch) * static_cast<double>(batch.size());
    sums[1] += static_cast<double>(batch.size());
  }
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
