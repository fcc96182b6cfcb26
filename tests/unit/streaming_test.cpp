// Out-of-core reading: the stream order (a permutation that bounds memory and keeps each rank on its
// own chunks), the preprocessing fitted from chunks (equal to the in-memory fit), and the streamed
// model inputs (equal to the in-memory ones).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "marrow/core/error.hpp"
#include "marrow/data/row_stream.hpp"
#include "marrow/io/h5ad_writer.hpp"
#include "marrow/preprocess/pipeline.hpp"
#include "marrow/sim/simulator.hpp"
#include "marrow/workflow/streamed_cells.hpp"
#include "support.hpp"

namespace marrow {
namespace {

std::vector<int64_t> every_other_row(int64_t n) {
  std::vector<int64_t> rows;
  for (int64_t r = 0; r < n; r += 2) rows.push_back(r);
  return rows;
}

TEST(RowStream, ChunksGroupPositionsByFileBlock) {
  std::vector<int64_t> file_rows{25, 3, 10, 11, 4, 40};
  RowChunks chunks = RowChunks::group(file_rows, 10);
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks.chunk_index, (std::vector<int64_t>{0, 1, 2, 4}));
  EXPECT_EQ(chunks.positions[0], (std::vector<int64_t>{1, 4}));  // rows 3, 4
  EXPECT_EQ(chunks.positions[1], (std::vector<int64_t>{2, 3}));  // rows 10, 11
  EXPECT_THROW(RowChunks::group(file_rows, 0), Error);
}

// Replays an order the way StreamedInputs serves it (a chunk is read when one of its planned cells
// is first asked for; a served cell is dropped) and returns the most cells held at once.
int64_t most_held(const RowChunks& chunks, const std::vector<int64_t>& mine, int64_t n) {
  std::vector<int64_t> chunk_of(n, -1);
  for (size_t k = 0; k < chunks.size(); ++k)
    for (int64_t p : chunks.positions[k]) chunk_of[p] = static_cast<int64_t>(k);
  std::set<int64_t> planned(mine.begin(), mine.end()), held;
  std::set<int64_t> read;
  int64_t most = 0;
  for (int64_t p : mine) {
    if (!held.count(p)) {
      EXPECT_FALSE(read.count(chunk_of[p])) << "chunk read twice in one epoch";
      read.insert(chunk_of[p]);
      for (int64_t q : chunks.positions[chunk_of[p]])
        if (planned.count(q)) held.insert(q);
    }
    most = std::max<int64_t>(most, static_cast<int64_t>(held.size()));
    held.erase(p);
    planned.erase(p);
  }
  return most;
}

TEST(RowStream, OneRankVisitsEveryCellOnceWithMemoryBoundedByChunkAndBuffer) {
  const int64_t n_file = 10000;
  std::vector<int64_t> file_rows = every_other_row(n_file);  // 5000 cells, 50 per chunk of 100 rows
  RowChunks chunks = RowChunks::group(file_rows, 100);
  StreamOptions options{100, 400};
  std::vector<int64_t> order = stream_order(chunks, options, 64, 1, 7);
  std::vector<int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) ASSERT_EQ(sorted[i], static_cast<int64_t>(i));
  EXPECT_EQ(order, stream_order(chunks, options, 64, 1, 7));   // seeded
  EXPECT_NE(order, stream_order(chunks, options, 64, 1, 8));   // and differs between epochs
  EXPECT_LE(most_held(chunks, order, 5000), 400 + 50);
  // Shuffled, not in file order: the first batch spans several chunks.
  std::set<int64_t> first_chunks;
  for (int i = 0; i < 64; ++i) first_chunks.insert(file_rows[order[i]] / 100);
  EXPECT_GT(first_chunks.size(), 3u);
}

TEST(RowStream, EachRankReadsItsOwnChunks) {
  std::vector<int64_t> file_rows = every_other_row(20000);
  RowChunks chunks = RowChunks::group(file_rows, 256);
  StreamOptions options{256, 1024};
  const int world = 3;
  const int64_t batch = 90;
  std::vector<int64_t> order = stream_order(chunks, options, batch, world, 11);
  ASSERT_EQ(order.size(), file_rows.size());
  std::vector<int> readers(chunks.size(), 0);
  std::vector<std::vector<int64_t>> mine(world);
  for (int r = 0; r < world; ++r) mine[r] = rank_positions(order, batch, r, world);
  std::vector<int64_t> chunk_of(file_rows.size());
  for (size_t k = 0; k < chunks.size(); ++k)
    for (int64_t p : chunks.positions[k]) chunk_of[p] = static_cast<int64_t>(k);
  for (int r = 0; r < world; ++r) {
    std::set<int64_t> read;
    for (int64_t p : mine[r]) read.insert(chunk_of[p]);
    // Its run of chunks: about a third of them, plus at most the two it shares at its ends.
    EXPECT_LE(static_cast<int64_t>(read.size()), static_cast<int64_t>(chunks.size()) / world + 2) << "rank " << r;
    for (int64_t k : read) ++readers[k];
    EXPECT_LE(most_held(chunks, mine[r], static_cast<int64_t>(file_rows.size())), 1024 / world + 128) << "rank " << r;
  }
  int shared = 0;
  for (size_t k = 0; k < chunks.size(); ++k) {
    EXPECT_GE(readers[k], 1);
    shared += readers[k] > 1;
  }
  EXPECT_LE(shared, world - 1);
}

// Simulated counts written to an .h5ad, for the chunked readers.
struct SimFile {
  test::TempDir dir;
  std::string path = dir / "sim.h5ad";
  AnnData data;
  SimFile() {
    sim::SimulationOptions options;
    options.cells = 700;
    options.genes = 300;
    options.seed = 5;
    data = sim::simulate(options);
    io::write_h5ad(path, data);
  }
};

void expect_same_preprocessor(const preprocess::Preprocessor& a, const preprocess::Preprocessor& b) {
  EXPECT_EQ(a.qc_genes().genes(), b.qc_genes().genes());
  EXPECT_EQ(a.output_genes(), b.output_genes());
  ASSERT_EQ(a.scaler().mean.size(), b.scaler().mean.size());
  for (size_t g = 0; g < a.scaler().mean.size(); ++g) {
    EXPECT_NEAR(a.scaler().mean[g], b.scaler().mean[g], 1e-9 * std::max(1.0, std::abs(b.scaler().mean[g])));
    EXPECT_NEAR(a.scaler().sd[g], b.scaler().sd[g], 1e-9 * std::max(1.0, b.scaler().sd[g]));
  }
}

TEST(StreamedCells, PreprocessingFittedFromChunksEqualsTheInMemoryFit) {
  SimFile sim;
  DataSpec spec;
  spec.path = sim.path;
  workflow::StreamedFile file = workflow::open_streamed(spec);
  ASSERT_EQ(file.rows.size(), 700u);
  std::vector<int64_t> train = every_other_row(700);
  workflow::StreamedCounts counts(file, train, 37);
  AnnData whole = sim.data.select_cells(train);
  for (auto flavor : {preprocess::HvgFlavor::None, preprocess::HvgFlavor::Seurat, preprocess::HvgFlavor::SeuratV3}) {
    preprocess::PreprocessOptions options;
    options.qc.min_cells = 5;
    options.qc.min_genes = 20;
    options.hvg = flavor;
    options.n_top_genes = 120;
    options.scale = true;
    std::vector<size_t> all(counts.chunks().size());
    for (size_t k = 0; k < all.size(); ++k) all[k] = k;
    auto streamed = preprocess::Preprocessor::fit(counts.blocks(all), options);
    auto in_memory = preprocess::Preprocessor::fit(whole, options);
    SCOPED_TRACE(enum_name(flavor));
    expect_same_preprocessor(streamed, in_memory);
    if (flavor != preprocess::HvgFlavor::None) EXPECT_EQ(streamed.output_genes().size(), 120u);

    // Two "ranks" each visiting half the chunks, their statistics summed, fit the same.
    std::vector<double> other;
    preprocess::CountBlocks half0 = counts.blocks(rank_chunks(all.size(), 0, 2));
    preprocess::CountBlocks half1 = counts.blocks(rank_chunks(all.size(), 1, 2));
    // Rank 1's sums are recorded first, then added to rank 0's (what the all-reduce does).
    std::vector<std::vector<double>> rank1_sums;
    half1.sum_over_ranks = [&](std::vector<double>& v) { rank1_sums.push_back(v); };
    preprocess::Preprocessor::fit(half1, options);
    size_t call = 0;
    half0.sum_over_ranks = [&](std::vector<double>& v) {
      ASSERT_LT(call, rank1_sums.size());
      for (size_t i = 0; i < v.size(); ++i) v[i] += rank1_sums[call][i];
      ++call;
    };
    expect_same_preprocessor(preprocess::Preprocessor::fit(half0, options), in_memory);
  }
}

TEST(StreamedCells, InputsServedInStreamOrderEqualTheInMemoryInputs) {
  SimFile sim;
  DataSpec spec;
  spec.path = sim.path;
  spec.cells = "lineage!=lymphoid";
  workflow::StreamedFile file = workflow::open_streamed(spec);
  ASSERT_LT(file.rows.size(), 700u);
  workflow::StreamedCounts counts(file, file.rows, 50);
  preprocess::PreprocessOptions options;
  options.scale = true;
  AnnData whole = sim.data.select_cells(file.rows);
  auto preprocessor = preprocess::Preprocessor::fit(whole, options);
  auto expected = preprocessor.model_input(whole);
  GeneAlignment alignment = preprocessor.qc_genes().align(file.var, {}, sim.path);
  workflow::StreamedInputs inputs(
      counts, [&](const CsrMatrix& block, std::span<const int64_t>) { return preprocessor.model_input(block, alignment); },
      static_cast<int64_t>(preprocessor.output_genes().size()));
  std::vector<int64_t> order = stream_order(counts.chunks(), StreamOptions{50, 120}, 32, 1, 3);
  inputs.plan(order);
  for (size_t start = 0; start < order.size(); start += 32) {
    std::span<const int64_t> batch(order.data() + start, std::min<size_t>(32, order.size() - start));
    auto got = inputs.fetch(batch);
    CsrMatrix want = expected.log_normalised.select_rows(batch);
    ASSERT_EQ(test::dense(got.log_normalised), test::dense(want));
    ASSERT_EQ(test::dense(got.counts), test::dense(expected.counts.select_rows(batch)));
    for (size_t i = 0; i < batch.size(); ++i) ASSERT_EQ(got.library_size[i], expected.library_size[batch[i]]);
  }
  EXPECT_EQ(inputs.resident(), 0);
  EXPECT_LE(inputs.peak_resident(), 120 + 50);
  EXPECT_EQ(inputs.chunks_read(), static_cast<int64_t>(counts.chunks().size()));
}

TEST(StreamedCells, FilesThatCannotBeStreamedAreRefusedClearly) {
  DataSpec spec;
  spec.path = test::fixture("csc_f64.h5ad");
  try {
    workflow::open_streamed(spec);
    FAIL() << "CSC accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("column-compressed (CSC)"), std::string::npos) << e.what();
  }
  spec.path = test::fixture("tenx_v3.h5");
  EXPECT_THROW(workflow::open_streamed(spec), Error);
  spec.path = test::fixture("csr_f32.h5ad");
  spec.labels = test::fixture("labels.tsv");
  EXPECT_THROW(workflow::open_streamed(spec), Error);
}

}  // namespace
}  // namespace marrow
