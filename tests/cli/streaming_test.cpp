// Out-of-core training and embedding from the command line: `pretrain ae --stream` and `pretrain
// exceiver --stream` learn (loss goes down) while holding no more cells than the chunk and shuffle
// buffer allow, `embed --stream` gives the in-memory embedding, two data-parallel ranks stream their
// own chunks, and what cannot be streamed is refused with a clear error.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <unistd.h>

#include "marrow/io/h5ad_reader.hpp"
#include "support.hpp"

namespace marrow {
namespace {

std::vector<nlohmann::json> metrics(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

// The "at most N training cells held at once" of a streamed run's last line (-1 when absent).
int held_cells(const std::string& output) {
  std::smatch held;
  if (!std::regex_search(output, held, std::regex("at most ([0-9]+) training cells held at once"))) return -1;
  return std::stoi(held[1]);
}

class Streaming : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = test::run_marrow(fmt::format("simulate --cells 3000 --genes 300 --seed 2 --out {}", dir / "sim.h5ad"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  // The embedding of sim.h5ad by `model`, streamed in chunks of 300 cells and from memory.
  std::pair<DenseMatrix, DenseMatrix> embed_both(const std::string& model) {
    auto a = test::run_marrow("embed -m " + model + " --data " + dir / "sim.h5ad" + " --stream --chunk-cells 300 -o " + dir / "a.h5ad");
    EXPECT_EQ(a.exit_code, 0) << a.output;
    auto b = test::run_marrow("embed -m " + model + " --data " + dir / "sim.h5ad" + " -o " + dir / "b.h5ad");
    EXPECT_EQ(b.exit_code, 0) << b.output;
    if (a.exit_code != 0 || b.exit_code != 0) return {};
    return {io::read_obsm(dir / "a.h5ad", "X_marrow"), io::read_obsm(dir / "b.h5ad", "X_marrow")};
  }
  test::TempDir dir;
  const std::string train = " --latent 16 --hidden 128 --batch-size 64 --patience 0 --validation-fraction 0.1 --seed 1";
};

TEST_F(Streaming, PretrainingStreamsTheFileWithBoundedMemoryAndLearns) {
  auto r = test::run_marrow("pretrain ae --data " + dir / "sim.h5ad" + train + " --epochs 4" +
                            " --stream --chunk-cells 256 --shuffle-buffer 512 --metrics " + dir / "m.jsonl" + " --out " + dir / "s.marrow");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto m = metrics(dir / "m.jsonl");
  ASSERT_EQ(m.size(), 4u);
  EXPECT_LT(m.back()["train_loss"].get<double>(), 0.9 * m.front()["train_loss"].get<double>());
  EXPECT_LT(m.back()["validation_loss"].get<double>(), m.front()["validation_loss"].get<double>());
  EXPECT_LE(held_cells(r.output), 512 + 256);
  EXPECT_GT(held_cells(r.output), 0) << r.output;
  // The preprocessing equals the one fitted in memory on the same training cells.
  auto whole = test::run_marrow("pretrain ae --data " + dir / "sim.h5ad" + train + " --epochs 1 --out " + dir / "m.marrow");
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  auto summary = [](const std::string& output) {
    std::smatch m;
    std::regex_search(output, m, std::regex("QC keeps [^\\n]*"));
    return m.str();
  };
  EXPECT_EQ(summary(r.output), summary(whole.output));
}

TEST_F(Streaming, AStreamedRunResumedFromItsCheckpointEqualsAnUninterruptedOne) {
  const std::string args = "pretrain ae --data " + dir / "sim.h5ad" + train + " --epochs 3 --stream --chunk-cells 256 --shuffle-buffer 512";
  auto whole = test::run_marrow(args + " --metrics " + dir / "a.jsonl" + " --out " + dir / "a.marrow");
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  auto first = test::run_marrow(args + " --stop-after 1 --metrics " + dir / "b.jsonl" + " --out " + dir / "b.marrow");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  ASSERT_FALSE(std::filesystem::exists(dir / "b.marrow"));
  auto rest = test::run_marrow(args + " --resume --metrics " + dir / "b.jsonl" + " --out " + dir / "b.marrow");
  ASSERT_EQ(rest.exit_code, 0) << rest.output;
  auto a = metrics(dir / "a.jsonl"), b = metrics(dir / "b.jsonl");
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (size_t e = 0; e < 3; ++e) {
    EXPECT_EQ(a[e]["train_loss"].get<double>(), b[e]["train_loss"].get<double>()) << "epoch " << e + 1;
    EXPECT_EQ(a[e]["validation_loss"].get<double>(), b[e]["validation_loss"].get<double>()) << "epoch " << e + 1;
  }
}

TEST_F(Streaming, StreamedEmbeddingEqualsTheInMemoryOne) {
  ASSERT_EQ(test::run_marrow("pretrain ae --data " + dir / "sim.h5ad" + train + " --epochs 1 --out " + dir / "m.marrow").exit_code, 0);
  auto [x, y] = embed_both(dir / "m.marrow");
  ASSERT_EQ(x.rows, 3000);
  // Equal up to float rounding: on some CPUs (OpenBLAS SkylakeX kernels) the same batch in another
  // buffer rounds differently in the last bits, so bitwise equality failed on an unchanged build.
  ASSERT_EQ(x.values.size(), y.values.size());
  for (size_t i = 0; i < x.values.size(); ++i) ASSERT_NEAR(x.values[i], y.values[i], 1e-5) << i;

  auto cells = test::run_marrow("embed -m " + dir / "m.marrow" + " --data " + dir / "sim.h5ad" +
                                " --stream --cells lineage=progenitor -o " + dir / "c.h5ad");
  EXPECT_EQ(cells.exit_code, 2);
  EXPECT_NE(cells.output.find("Select the cells in a separate file first"), std::string::npos) << cells.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "c.h5ad"));
}

TEST_F(Streaming, TheGeneModelPretrainsAndEmbedsFromAStream) {
  const std::string args = "pretrain exceiver --data " + dir / "sim.h5ad" +
                           " --dim 16 --latents 8 --heads 2 --batch-size 32 --patience 0 --validation-fraction 0.1 --seed 1 --epochs 3";
  auto r = test::run_marrow(args + " --stream --chunk-cells 256 --shuffle-buffer 512 --metrics " + dir / "x.jsonl" + " --out " + dir / "x.marrow");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto m = metrics(dir / "x.jsonl");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_LT(m.back()["train_loss"].get<double>(), m.front()["train_loss"].get<double>());
  EXPECT_LT(m.back()["validation_loss"].get<double>(), m.front()["validation_loss"].get<double>());
  EXPECT_GE(held_cells(r.output), 0) << r.output;  // the summary line is there
  EXPECT_LE(held_cells(r.output), 512 + 256);

  auto [x, y] = embed_both(dir / "x.marrow");
  ASSERT_EQ(x.rows, 3000);
  ASSERT_EQ(x.values.size(), y.values.size());
  for (size_t i = 0; i < x.values.size(); ++i) ASSERT_NEAR(x.values[i], y.values[i], 1e-5) << i;

  auto two = test::run_marrow("pretrain exceiver --data " + dir / "sim.h5ad" + " --data " + dir / "sim.h5ad" + " --stream --out " + dir / "y.marrow");
  EXPECT_EQ(two.exit_code, 2);
  EXPECT_NE(two.output.find("--stream reads one file"), std::string::npos) << two.output;
}

TEST_F(Streaming, WhatCannotBeStreamedIsRefused) {
  auto csc = test::run_marrow("pretrain ae --data " + test::fixture("csc_f64.h5ad") + " --stream --out " + dir / "x.marrow");
  EXPECT_EQ(csc.exit_code, 2);
  EXPECT_NE(csc.output.find("column-compressed (CSC)"), std::string::npos) << csc.output;
  auto tenx = test::run_marrow("pretrain ae --data " + test::fixture("tenx_v3.h5") + " --stream --out " + dir / "x.marrow");
  EXPECT_EQ(tenx.exit_code, 2);
  EXPECT_NE(tenx.output.find("--stream reads .h5ad files"), std::string::npos) << tenx.output;
  auto zero = test::run_marrow("pretrain ae --data " + dir / "sim.h5ad" + " --stream --chunk-cells 0 --out " + dir / "x.marrow");
  EXPECT_EQ(zero.exit_code, 2);
  auto alone = test::run_marrow("pretrain ae --data " + dir / "sim.h5ad" + " --shuffle-buffer 100 --out " + dir / "x.marrow");
  EXPECT_EQ(alone.exit_code, 2);
  EXPECT_NE(alone.output.find("--stream"), std::string::npos) << alone.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "x.marrow"));
}

TEST_F(Streaming, TwoRanksEachStreamTheirOwnChunks) {
  const int port = 21000 + static_cast<int>(getpid() % 20000);
  const std::string args = "pretrain ae --data " + dir / "sim.h5ad" + train + " --epochs 4 --stream --chunk-cells 200 --shuffle-buffer 400";
  std::string command = fmt::format(
      "cd {0} && (RANK=1 WORLD_SIZE=2 MASTER_PORT={1} {2} {3} --out two.marrow > rank1.log 2>&1 & "
      "RANK=0 WORLD_SIZE=2 MASTER_PORT={1} {2} {3} --metrics two.jsonl --out two.marrow > rank0.log 2>&1; echo $? > rank0.rc; wait)",
      dir.path().string(), port, MARROW_BINARY, args);
  ASSERT_EQ(std::system(command.c_str()), 0);
  ASSERT_EQ(test::read_text(dir / "rank0.rc"), "0\n") << test::read_text(dir / "rank0.log") << test::read_text(dir / "rank1.log");
  ASSERT_TRUE(std::filesystem::exists(dir / "two.marrow"));
  auto m = metrics(dir / "two.jsonl");
  ASSERT_EQ(m.size(), 4u);
  EXPECT_LT(m.back()["train_loss"].get<double>(), 0.9 * m.front()["train_loss"].get<double>());
  // 2,700 training cells in 15 chunks of 200 rows: each rank reads about half of them each epoch
  // (one process reads all 15).
  std::smatch read;
  std::string text = test::read_text(dir / "rank0.log");
  ASSERT_TRUE(std::regex_search(text, read, std::regex("per rank: ([0-9]+), ([0-9]+)\\)"))) << text;
  for (int r : {1, 2}) {
    EXPECT_GE(std::stoi(read[r]), 4 * 7) << "rank " << r - 1;
    EXPECT_LE(std::stoi(read[r]), 4 * 9) << "rank " << r - 1;
  }
}

}  // namespace
}  // namespace marrow
